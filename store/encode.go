package store

import (
	"encoding/binary"
	"io"
)

// encodeChunk is the size of the pieces an encoder writes.
const encodeChunk = 64 << 10

// encoder appends the snapshot format's primitives to one buffer and
// writes it out whenever it nears encodeChunk bytes, remembering the
// first error and the number of bytes written. Appending to a slice
// costs far less per varint than a call into a bufio.Writer; strings
// longer than half a chunk go to the writer directly.
type encoder struct {
	w   io.Writer
	buf []byte
	n   int64
	err error
}

func newEncoder(w io.Writer) *encoder {
	return &encoder{w: w, buf: make([]byte, 0, encodeChunk)}
}

// flush writes out the buffer (or, after an error, drops it).
func (e *encoder) flush() {
	if len(e.buf) > 0 && e.err == nil {
		m, err := e.w.Write(e.buf)
		e.n += int64(m)
		e.err = err
	}
	e.buf = e.buf[:0]
}

// spare flushes unless the buffer has room for a record's numbers. It is
// called between records: a record's varints then never make the buffer
// grow (its strings check for themselves in raw).
func (e *encoder) spare() {
	if len(e.buf) > cap(e.buf)-1024 {
		e.flush()
	}
}

func (e *encoder) raw(s string) {
	if len(e.buf)+len(s) > cap(e.buf) {
		e.flush()
		if len(s) > cap(e.buf)/2 {
			if e.err == nil {
				m, err := io.WriteString(e.w, s)
				e.n += int64(m)
				e.err = err
			}
			return
		}
	}
	e.buf = append(e.buf, s...)
}

// write is raw for bytes.
func (e *encoder) write(b []byte) {
	if len(e.buf)+len(b) > cap(e.buf) {
		e.flush()
		if len(b) > cap(e.buf)/2 {
			if e.err == nil {
				m, err := e.w.Write(b)
				e.n += int64(m)
				e.err = err
			}
			return
		}
	}
	e.buf = append(e.buf, b...)
}

func (e *encoder) uvarint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }

func (e *encoder) varint(v int64) { e.buf = binary.AppendVarint(e.buf, v) }

func (e *encoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.raw(s)
}

func (e *encoder) time(sec int64, nsec int) {
	e.varint(sec)
	e.uvarint(uint64(nsec))
}

func (e *encoder) event(ev *Event) {
	e.str(ev.Action)
	var flags uint64
	if ev.Refresh {
		flags |= 1
	}
	if ev.PrevNode != nil {
		flags |= 2
	}
	if ev.internal {
		flags |= 4
	}
	e.uvarint(flags)
	e.uvarint(ev.EtcdIndex)
	e.extern(ev.Node)
	if ev.PrevNode != nil {
		e.extern(ev.PrevNode)
	}
	e.spare()
}

func (e *encoder) extern(ne *NodeExtern) {
	e.str(ne.Key)
	var flags uint64
	if ne.Value != nil {
		flags |= 1
	}
	if ne.Dir {
		flags |= 2
	}
	if ne.Expiration != nil {
		flags |= 4
	}
	e.uvarint(flags)
	if ne.Value != nil {
		e.str(*ne.Value)
	}
	if ne.Expiration != nil {
		e.time(ne.Expiration.Unix(), ne.Expiration.Nanosecond())
	}
	e.varint(ne.TTL)
	e.uvarint(ne.ModifiedIndex)
	e.uvarint(ne.CreatedIndex)
}
