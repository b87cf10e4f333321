#!/usr/bin/env bash
# scripts/bench-cluster.sh [etcd-classic|etcd] [clients] [requests]
#
# Starts a fresh 3-member cluster of etcd-classic (default) or of the real
# etcd (Debian's etcd-server, run with --enable-v2) on loopback, then runs
# the project's load tool (scripts/bench) against it: PUTs to the leader,
# PUTs spread over all members, and quorum=true GETs spread over all
# members. The figures in docs/benchmarks.md come from this script.
# With TLS=1 the client URLs are HTTPS (certificates from gen-certs.sh)
# and the load tool verifies them.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

which=${1:-etcd-classic}
clients=${2:-256}
n=${3:-100000}
tmp=$(mktemp -d)
trap bench_stop EXIT

go build -o "$tmp/bench" ./scripts/bench
bench_server "$which" || exit 2

scheme=http
tlsflags=""
benchtls=""
if [ "${TLS:-0}" = 1 ]; then
	scripts/gen-certs.sh "$tmp/certs" >/dev/null
	scheme=https
	tlsflags="--cert-file $tmp/certs/server.crt --key-file $tmp/certs/server.key"
	benchtls="-cacert $tmp/certs/ca.crt"
fi
# shellcheck disable=SC2086
bench_cluster "$scheme" $server_flags $tlsflags
all=$scheme://127.0.0.1:21379,$scheme://127.0.0.1:22379,$scheme://127.0.0.1:23379
echo "== $which ($scheme): $("$tmp/server" --version 2>/dev/null | head -1), $(nproc) cores, $(uname -r)"
echo "-- PUT to the leader ($leader)"
"$tmp/bench" $benchtls -endpoints "$leader" -clients "$clients" -n "$n" -op put
echo "-- PUT spread over the three members"
"$tmp/bench" $benchtls -endpoints "$all" -clients "$clients" -n "$n" -op put
echo "-- quorum=true GET spread over the three members"
"$tmp/bench" $benchtls -endpoints "$all" -clients "$clients" -n "$n" -op qget
