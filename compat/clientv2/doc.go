// Package clientv2 is etcd-classic's compatibility suite for the official
// Go client of the v2 API, go.etcd.io/etcd/client/v2, used unchanged.
//
// It is a module of its own so that the server never depends on the
// client: `go test ./...` at the repository root does not enter it.
// The tests talk to a running cluster whose client URLs are given
// comma-separated in COMPAT_ENDPOINTS, and skip when it is unset:
//
//	go run ./cmd/compat-cluster -bin ../../etcd-classic -n 3 -- go test -count=1 .
//
// The same tests pass against etcd 3.4 started with --enable-v2, which is
// how their expectations were checked. The etcdctl subpackage compares
// etcdctl's v2 commands with golden outputs recorded from etcd 3.4, and
// scripts/compat.sh at the repository root runs everything.
package clientv2
