#!/usr/bin/env bash
# scripts/bench-ceiling.sh [nethttp|raw]
#
# The HTTP ceiling of this machine: scripts/ceiling answers every request
# with a fixed PUT-shaped response and does no other work; wrk loads it
# exactly as bench-wrk.sh loads a cluster (PUTs over 256 connections, then
# GETs from three wrk processes with 86 connections each). No key-value
# server that speaks HTTP through the same stack can go faster on the
# same cores. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
mode=${1:-nethttp}
tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/ceiling" ./scripts/ceiling
"$tmp/ceiling" -mode "$mode" >"$tmp/url" &
pid=$!
for _ in $(seq 1 50); do [ -s "$tmp/url" ] && break; sleep 0.1; done
url=$(head -1 "$tmp/url")
echo "== ceiling -mode $mode ($url), $(nproc) cores"
echo "-- PUT, wrk -t2 -c256 -d10s"
wrk -t2 -c256 -d10s -s scripts/bench/put.lua "$url" | grep -E "Latency|Requests/sec"
echo "-- GET, wrk -t1 -c86 -d10s three times at once"
wrk_get_three "$url" "$url" "$url"
