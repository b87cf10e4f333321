#!/usr/bin/env bash
# scripts/bench-wrk.sh [etcd-classic|etcd]
#
# The same 3-member cluster as bench-cluster.sh, driven by wrk (Debian's
# wrk, a C load generator that costs the shared cores far less than a Go
# HTTP client): PUTs to the leader with 256 connections, then quorum=true
# GETs on every member (86 connections each). See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

which=${1:-etcd-classic}
tmp=$(mktemp -d)
trap bench_stop EXIT
go build -o "$tmp/bench" ./scripts/bench
bench_server "$which" || exit 2
# shellcheck disable=SC2086
bench_cluster http $server_flags
# The keys the quorum reads fetch.
"$tmp/bench" -endpoints "$leader" -clients 64 -n 2000 -keys 1000 -op put >/dev/null
echo "== $which: $("$tmp/server" --version 2>/dev/null | head -1), $(nproc) cores"
echo "-- PUT to the leader ($leader), wrk -t2 -c256 -d10s"
wrk -t2 -c256 -d10s -s scripts/bench/put.lua "$leader" | grep -E "Latency|Requests/sec"
echo "-- quorum=true GET, wrk -t1 -c86 -d10s on each member at once"
wrk_get_three http://127.0.0.1:21379 http://127.0.0.1:22379 http://127.0.0.1:23379
