package store

import (
	"sort"
	"strings"
)

// HistoryCapacity is the default number of events the store remembers
// for watchers that ask for a waitIndex in the past (etcd keeps 1000);
// Config.HistorySize changes it.
const HistoryCapacity = 1000

// history is a ring of the most recent events, oldest first. Every
// mutation of the store that takes an index adds exactly one event
// (refreshes included), so the indexes never decrease, but they are not
// always consecutive: a failed write of the etcd 0.1 dialect takes an
// index and records nothing (and the expiry of a 0.1 key takes no index
// and is not recorded). scan therefore uses a binary search.
type history struct {
	events []*Event // ring buffer, len == capacity once full
	front  int      // position of the oldest event
	size   int
	cap    int
}

func newHistory(capacity int) *history {
	return &history{events: make([]*Event, capacity), cap: capacity}
}

func (h *history) at(i int) *Event { return h.events[(h.front+i)%h.cap] }

// startIndex is the index of the oldest remembered event, 0 when empty.
func (h *history) startIndex() uint64 {
	if h.size == 0 {
		return 0
	}
	return h.at(0).Index()
}

// lastIndex is the index of the newest remembered event, 0 when empty.
func (h *history) lastIndex() uint64 {
	if h.size == 0 {
		return 0
	}
	return h.at(h.size - 1).Index()
}

func (h *history) add(e *Event) {
	if h.size < h.cap {
		h.events[(h.front+h.size)%h.cap] = e
		h.size++
		return
	}
	h.events[h.front] = e
	h.front = (h.front + 1) % h.cap
}

// scan returns the first event at or after index that a watch on key would
// have received, nil if there is none yet, or error 401 when index is older
// than the history. The matching rules are etcd 3.4's: exact key; any key
// below key for recursive watches; and the delete or expiry of a directory
// whose path is a string prefix of key (no "/" boundary: a watch on /wdx
// matches the deletion of directory /wd — an etcd quirk kept on purpose).
// Hidden keys are not filtered here, unlike live notification. Events
// that allow (when not nil) refuses are skipped.
func (h *history) scan(key string, recursive bool, index uint64, allow func(*Event) bool) (*Event, *Error) {
	if index < h.startIndex() {
		cause := "the requested history has been cleared [" + uitoa(h.startIndex()) + "/" + uitoa(index) + "]"
		return nil, NewError(EcodeEventIndexCleared, cause, 0)
	}
	if h.size == 0 || index > h.lastIndex() {
		return nil, nil
	}
	prefix := key
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	first := sort.Search(h.size, func(i int) bool { return h.at(i).Index() >= index })
	for i := first; i < h.size; i++ {
		e := h.at(i)
		if e.Refresh || e.internal {
			continue
		}
		k := e.Node.Key
		ok := k == key || (recursive && strings.HasPrefix(k, prefix))
		if !ok && (e.Action == ActionDelete || e.Action == ActionExpire) &&
			e.PrevNode != nil && e.PrevNode.Dir && strings.HasPrefix(key, e.PrevNode.Key) {
			ok = true
		}
		if ok && (allow == nil || allow(e)) {
			return e, nil
		}
	}
	return nil, nil
}

// list returns the remembered events, oldest first.
func (h *history) list() []*Event {
	out := make([]*Event, h.size)
	for i := range out {
		out[i] = h.at(i)
	}
	return out
}
