package raftfsm

import (
	"errors"
	"os"
	"syscall"
)

// statfs returns the bytes of dir's filesystem available to this
// process (f_bavail: root's reserved blocks are not counted).
func statfs(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * st.Bsize, nil
}

// allocate gives f size bytes of real blocks: fallocate where the
// filesystem supports it, else written bytes (a truncated, sparse file
// would reserve nothing).
func allocate(f *os.File, size int64) error {
	err := syscall.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		return writeFill(f, size)
	}
	return err
}

// allocatedBytes is the disk space a file really holds.
func allocatedBytes(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}
