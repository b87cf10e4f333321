#!/usr/bin/env bash
# scripts/chaos.sh [flags of scripts/chaos]
#
# The chaos benchmark: builds etcd-classic and the harness (scripts/chaos),
# then runs each of the six faults — the leader killed with SIGKILL and
# restarted, a follower killed, the leader paused with SIGSTOP past the
# election timeout, the leader partitioned into a minority, a follower
# isolated, every member killed and restarted — on 3 and on 5 members,
# while clients spread over all members read (quorum=true) and write. One
# line per run: operations answered, operations per second, writes with an
# unknown outcome, writes acknowledged, acknowledged writes lost (must be
# 0), writes applied twice (must be 0), read-your-writes violations (must
# be 0), the longest time without any answer, the linearizability check's
# time and its verdict (must be yes). Exits 1 if any run found something.
#
# Flags go to the harness, e.g. -members 3 -scenarios kill-leader -fault 5s
# (go run ./scripts/chaos -h lists them). docs/benchmarks.md has a run.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/etcd-classic" .
go build -o "$tmp/chaos" ./scripts/chaos
"$tmp/chaos" -bin "$tmp/etcd-classic" "$@"
