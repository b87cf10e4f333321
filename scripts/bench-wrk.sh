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

which=${1:-etcd-classic}
tmp=$(mktemp -d)
# Stop the members and wait until they are gone, so that a run started
# right after this one finds its ports free.
stop() {
	local pids
	pids=$(cat "$tmp"/*.pid 2>/dev/null || true)
	# shellcheck disable=SC2086
	[ -n "$pids" ] && kill $pids 2>/dev/null || true
	for p in $pids; do
		for _ in $(seq 1 100); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
	done
	rm -rf "$tmp"
}
trap stop EXIT
go build -o "$tmp/bench" ./scripts/bench
case "$which" in
etcd-classic) go build -o "$tmp/server" . ; extra="" ;;
etcd) cp "$(command -v etcd)" "$tmp/server"; extra="--enable-v2" ;;
*) echo "usage: $0 [etcd-classic|etcd]" >&2; exit 2 ;;
esac
# Ports below the ephemeral range (32768-60999), which wrk's own
# connections draw from.
ic="m1=http://127.0.0.1:21380,m2=http://127.0.0.1:22380,m3=http://127.0.0.1:23380"
for i in 1 2 3; do
	"$tmp/server" $extra --name "m$i" --data-dir "$tmp/m$i" \
		--listen-client-urls "http://127.0.0.1:2${i}379" --advertise-client-urls "http://127.0.0.1:2${i}379" \
		--listen-peer-urls "http://127.0.0.1:2${i}380" --initial-advertise-peer-urls "http://127.0.0.1:2${i}380" \
		--initial-cluster "$ic" --initial-cluster-state new >"$tmp/m$i.log" 2>&1 &
	echo $! >"$tmp/m$i.pid"
done
for _ in $(seq 1 100); do
	curl -s -m 2 http://127.0.0.1:21379/health | grep -q true && break
	sleep 0.2
done
curl -s -m 2 http://127.0.0.1:21379/health | grep -q true || {
	echo "the cluster did not become healthy; member logs:" >&2
	tail -n 5 "$tmp"/m*.log >&2
	exit 1
}
leader=$(curl -s http://127.0.0.1:21379/v2/members/leader | sed 's/.*"clientURLs":\["\([^"]*\)".*/\1/')
# The keys the quorum reads fetch.
"$tmp/bench" -endpoints "$leader" -clients 64 -n 2000 -keys 1000 -op put >/dev/null
echo "== $which: $("$tmp/server" --version 2>/dev/null | head -1), $(nproc) cores"
echo "-- PUT to the leader ($leader), wrk -t2 -c256 -d10s"
wrk -t2 -c256 -d10s -s scripts/bench/put.lua "$leader" | grep -E "Latency|Requests/sec"
echo "-- quorum=true GET, wrk -t1 -c86 -d10s on each member at once"
pids=""
for i in 1 2 3; do
	wrk -t1 -c86 -d10s -s scripts/bench/qget.lua "http://127.0.0.1:2${i}379" >"$tmp/q$i.txt" &
	pids="$pids $!"
done
# shellcheck disable=SC2086
wait $pids
grep -h "Requests/sec" "$tmp"/q*.txt | awk '{s += $2} END {printf "Requests/sec (sum of the three): %.0f\n", s}'
