// Package etcdctl checks that etcdctl in v2 mode (ETCDCTL_API=2, Debian's
// etcd-client 3.4.23), unchanged, behaves against an etcd-classic member
// and a 3-member cluster exactly as it does against etcd 3.4.23 started
// with --enable-v2.
//
// The tests start a fresh cluster of the binary named by COMPAT_ETCD
// (flags from COMPAT_ETCD_ARGS go first), run a fixed script of etcdctl
// commands against it, and compare each command's exit status, stdout
// and stderr with testdata/*.golden. The golden files were recorded from
// etcd 3.4.23 itself:
//
//	COMPAT_ETCD=/usr/bin/etcd COMPAT_ETCD_ARGS=--enable-v2 go test ./etcdctl -update
//
// What differs between two runs of the same server is normalised away
// before comparing: ports and member IDs become labels (<client:m0>,
// <id:m1>), store indexes are written relative to the index before the
// first command (B+3), remaining TTLs are rounded up to tens, expiration
// times are masked, and lines whose order depends on member IDs or Go map
// order are sorted. Relative indexes are compared, so a server that
// spends indexes differently from etcd fails.
//
// Without COMPAT_ETCD the tests skip.
package etcdctl
