module github.com/etcd-classic/etcd-classic/compat/clientv2

go 1.26.8

require go.etcd.io/etcd/client/v2 v2.305.35

require (
	github.com/coreos/go-semver v0.3.0 // indirect
	github.com/json-iterator/go v1.1.11 // indirect
	github.com/modern-go/concurrent v0.0.0-20180306012644-bacd9c7ef1dd // indirect
	github.com/modern-go/reflect2 v1.0.1 // indirect
	go.etcd.io/etcd/api/v3 v3.5.35 // indirect
	go.etcd.io/etcd/client/pkg/v3 v3.5.35 // indirect
)

// The compat tests start their clusters with the main module's launcher
// (proctest), the one the root, examples and ops tests use; the replace
// directive takes it from this checkout, never from a registry.
require github.com/etcd-classic/etcd-classic v0.0.0-00010101000000-000000000000

replace github.com/etcd-classic/etcd-classic => ../..
