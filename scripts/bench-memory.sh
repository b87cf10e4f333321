#!/usr/bin/env bash
# scripts/bench-memory.sh [etcd-classic|etcd]...   (default: both, in turn)
#
# Memory side by side (docs/benchmarks.md, "Memory"). For each server:
#
#   1. one member: load KEYS keys (default 100000) with VALUE-byte values
#      (default 256) through the project's load tool (scripts/bench -seq,
#      64 clients), wait SETTLE seconds (default 15), record VmRSS and
#      VmHWM from /proc; then list everything (GET /v2/keys/?recursive=true)
#      and record RSS before, the peak during (VmHWM reset through
#      /proc/PID/clear_refs) and after, with the answer's size, and the
#      same for GET /v1/keys/bench (etcd-classic only); then stop
#      the member (SIGTERM), start it again, time until it serves the last
#      key written, wait SETTLE seconds and record RSS again; then hold
#      WATCHES (default 10000) idle v2 long-polls (one connection each)
#      and record RSS with them;
#   2. three members: the same load spread over the three, RSS of each;
#      then all three stopped and started again, the time until every one
#      serves the last key, and RSS of each after SETTLE seconds.
#
# PARTS (default "one three") picks the parts; PARTS=restart3 loads three
# members, then stops and starts them RESTARTS times (default 3) and
# prints each time to serving and the median, without the RSS settles.
# LOGDIR, when set, keeps each restart's member logs there
# (<server>-r<k>-m<i>.log) for a breakdown of the phases.
#
# The machine is shared by other work: RSS hardly depends on it, the
# load's duration and the restart times do. Run as root (clear_refs).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

keys=${KEYS:-100000}
watches=${WATCHES:-10000}
value=${VALUE:-256}
settle=${SETTLE:-15}
parts=${PARTS:-one three}
restarts=${RESTARTS:-3}
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(etcd-classic etcd)

# The idle watches take one descriptor each, in the load tool and in the
# member: raise the soft limit as far as allowed.
ulimit -n "$(ulimit -Hn)"
tmp=$(mktemp -d)
trap bench_stop EXIT
go build -o "$tmp/bench" ./scripts/bench

# rss PID prints "RSS HWM" in MiB.
rss() {
	awk '/^VmRSS/ {r = $2} /^VmHWM/ {h = $2} END {printf "%.0f %.0f\n", r / 1024, h / 1024}' "/proc/$1/status"
}

# stop_members stops every member and waits until they are gone (data kept).
stop_members() { bench_kill_members; }

# start_single starts member m1 alone (client port 21379).
start_single() {
	# shellcheck disable=SC2086
	"$tmp/server" $server_flags $single_flags --name m1 --data-dir "$tmp/m1" \
		--listen-client-urls http://127.0.0.1:21379 --advertise-client-urls http://127.0.0.1:21379 \
		--listen-peer-urls http://127.0.0.1:21380 --initial-advertise-peer-urls http://127.0.0.1:21380 \
		--initial-cluster m1=http://127.0.0.1:21380 --initial-cluster-state new >>"$tmp/m1.log" 2>&1 &
	echo $! >"$tmp/m1.pid"
}

# wait_serving URL... waits until every URL answers the last key written
# with 200 (a plain GET: what a restarted member serves locally) and prints
# the seconds elapsed since $t0.
wait_serving() {
	local u
	for u in "$@"; do
		for _ in $(seq 1 6000); do
			[ "$(curl -s -m 1 -o /dev/null -w '%{http_code}' "$u/v2/keys/bench/$((keys - 1))")" = 200 ] && break
			sleep 0.02
		done
	done
	echo "$(date +%s.%N) $t0" | awk '{printf "%.2f\n", $1 - $2}'
}

load() {
	"$tmp/bench" -endpoints "$1" -clients 64 -n "$keys" -keys "$keys" -seq -val-size "$value" -op put | grep elapsed
}

# one_member is part "one" (see the top).
one_member() {
	echo "-- one member"
	start_single
	for _ in $(seq 1 100); do
		curl -s -m 1 http://127.0.0.1:21379/health | grep -q true && break
		sleep 0.1
	done
	pid=$(cat "$tmp/m1.pid")
	echo "idle: RSS/HWM MiB $(rss "$pid")"
	load http://127.0.0.1:21379
	sleep "$settle"
	echo "after load: RSS/HWM MiB $(rss "$pid")"
	before=$(rss "$pid" | cut -d' ' -f1)
	echo 5 >"/proc/$pid/clear_refs"
	curl -s -m 60 -o "$tmp/list.json" "http://127.0.0.1:21379/v2/keys/?recursive=true"
	size=$(stat -c %s "$tmp/list.json")
	read -r after peak < <(rss "$pid")
	echo "listing: answer $((size / 1048576)) MiB ($size bytes); RSS before $before, peak during $peak, after $after MiB"
	# The same directory through /v1 (one level; etcd 3.4 has no /v1).
	before=$after
	echo 5 >"/proc/$pid/clear_refs"
	code=$(curl -s -m 60 -o "$tmp/list1.json" -w '%{http_code}' "http://127.0.0.1:21379/v1/keys/bench")
	if [ "$code" = 200 ]; then
		size=$(stat -c %s "$tmp/list1.json")
		read -r after peak < <(rss "$pid")
		echo "v1 listing: answer $((size / 1048576)) MiB ($size bytes); RSS before $before, peak during $peak, after $after MiB"
	fi
	stop_members
	t0=$(date +%s.%N)
	start_single
	echo "restart: serving after $(wait_serving http://127.0.0.1:21379) s"
	sleep "$settle"
	pid=$(cat "$tmp/m1.pid")
	echo "after restart: RSS/HWM MiB $(rss "$pid")"
	before=$(rss "$pid" | cut -d' ' -f1)
	"$tmp/bench" -endpoints http://127.0.0.1:21379 -op watch -n "$watches" -hold "$((settle + 10))s" >"$tmp/watch.out" 2>&1 &
	wpid=$!
	for _ in $(seq 1 600); do
		grep -q "watches=" "$tmp/watch.out" && break
		kill -0 "$wpid" 2>/dev/null || break
		sleep 0.1
	done
	sleep 5
	with=$(rss "$pid" | cut -d' ' -f1)
	echo "idle watches: $(head -1 "$tmp/watch.out"); RSS before $before, with them $with MiB, $(((with - before) * 1024 / watches)) KiB each"
	wait "$wpid" || true
	stop_members
	rm -rf "$tmp/m1" "$tmp/m1.log"
}

# three_members is part "three" (see the top).
three_members() {
	echo "-- three members"
	# shellcheck disable=SC2086
	bench_cluster http $server_flags
	all=http://127.0.0.1:21379,http://127.0.0.1:22379,http://127.0.0.1:23379
	load "$all"
	sleep "$settle"
	for i in 1 2 3; do echo "after load: m$i RSS/HWM MiB $(rss "$(cat "$tmp/m$i.pid")")"; done
	stop_members
	t0=$(date +%s.%N)
	# shellcheck disable=SC2086
	bench_launch http $server_flags
	echo "restart: all three serving after $(wait_serving http://127.0.0.1:21379 http://127.0.0.1:22379 http://127.0.0.1:23379) s"
	sleep "$settle"
	for i in 1 2 3; do echo "after restart: m$i RSS/HWM MiB $(rss "$(cat "$tmp/m$i.pid")")"; done
	stop_members
}

# three_restarts is part "restart3" (see the top).
three_restarts() {
	local k times="" t
	echo "-- three members, $restarts restarts"
	[ -z "${LOGDIR:-}" ] || mkdir -p "$LOGDIR"
	# shellcheck disable=SC2086
	bench_cluster http $server_flags
	load http://127.0.0.1:21379,http://127.0.0.1:22379,http://127.0.0.1:23379
	for k in $(seq 1 "$restarts"); do
		stop_members
		t0=$(date +%s.%N)
		# Launch only: wait_serving alone decides when all three serve.
		# shellcheck disable=SC2086
		bench_launch http $server_flags
		t=$(wait_serving http://127.0.0.1:21379 http://127.0.0.1:22379 http://127.0.0.1:23379)
		echo "restart $k: all three serving after $t s"
		times="$times $t"
		if [ -n "${LOGDIR:-}" ]; then
			for i in 1 2 3; do cp "$tmp/m$i.log" "$LOGDIR/$which-r$k-m$i.log"; done
		fi
	done
	echo "restart: median $(echo "$times" | tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}') s of$times"
	stop_members
}

for which in "${servers[@]}"; do
	rm -rf "$tmp"/m[123] "$tmp"/m*.log
	bench_server "$which" || exit 2
	single_flags=""
	# etcd-classic caps client connections at 4096 per URL by default.
	[ "$which" = etcd-classic ] && single_flags="--max-client-conns 0"
	echo "== $which: $("$tmp/server" --version 2>/dev/null | head -1), $keys keys x $value-byte values, $(nproc) cores, $(uname -r)"

	case " $parts " in *" one "*) one_member ;; esac
	case " $parts " in *" three "*) three_members ;; esac
	case " $parts " in *" restart3 "*) three_restarts ;; esac
done
