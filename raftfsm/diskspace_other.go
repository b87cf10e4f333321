//go:build !linux

package raftfsm

import (
	"errors"
	"os"
)

// statfs is not implemented here: the guard then admits every write and
// keeps only the reserve file.
func statfs(string) (int64, error) {
	return 0, errors.New("free space unknown on this platform")
}

// allocate writes size bytes into f.
func allocate(f *os.File, size int64) error { return writeFill(f, size) }

// allocatedBytes is the file's size (blocks are not known here).
func allocatedBytes(fi os.FileInfo) int64 { return fi.Size() }
