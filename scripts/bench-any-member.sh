#!/usr/bin/env bash
# scripts/bench-any-member.sh WORKLOAD
#
# Writes and locks through any member (issue 11), etcd-classic beside
# etcd 3.4 (/usr/bin/etcd --enable-v2): one command runs WORKLOAD against
# a fresh etcd-classic cluster, then against a fresh etcd cluster (ROUNDS
# times, alternating; default 1), and prints each server's figures (the
# median over the rounds) and their ratio. Workloads:
#
#   rotate  3 members, 1 client, each write to the next member in turn
#           (scripts/bench -clients 1 -rotate): writes/s, p50, p99
#   fwd     3 members, 1 client writing to the leader, then to a
#           follower: both p50s and follower/leader
#   lock    3 members, 16 clients spread over them taking and releasing a
#           TestAndSet lock (scripts/bench -op lock): acquisitions/s and
#           Jain's fairness index over the clients
#   wrk     3 members, wrk PUTs over 256 connections spread over them
#           (86/85/85): writes/s, and the CPU the three members used per
#           write (user + system from /proc, summed)
#   single  1 member, 1 client: writes/s, p50, p99
#   idle    3 members left idle for IDLE seconds (default 60): each
#           member's CPU in % of a core (the leader's, and the busiest
#           follower's)
#
# DURATION is each load's length in seconds (default 10). Every write is a
# PUT of an 8-byte value; members use the etcd 2.x defaults on loopback
# (client ports 2{1,2,3}379, below the ephemeral range). The load tool
# and wrk share the machine's cores with the members, as they do for etcd.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

workload=${1:-}
dur=${DURATION:-10}
idle=${IDLE:-60}
rounds=${ROUNDS:-1}
case "$workload" in
rotate | fwd | lock | wrk | single | idle) ;;
*)
	sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
if [ "$workload" = wrk ]; then
	command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
fi
tmp=$(mktemp -d)
trap bench_stop EXIT
go build -o "$tmp/bench" ./scripts/bench
all=http://127.0.0.1:21379,http://127.0.0.1:22379,http://127.0.0.1:23379

# record NAME VALUE keeps one figure of the server being measured.
record() {
	echo "$1 $2" >>"$tmp/results.$which"
	printf '   %-22s %s\n' "$1" "$2"
}

# load NAME ARGS... runs the load tool and records its summary as
# NAME.rate, NAME.p50_us, NAME.p99_us (and NAME.fairness).
load() {
	local name=$1 kv
	shift
	"$tmp/bench" "$@" >"$tmp/out" 2>&1 || {
		cat "$tmp/out" >&2
		return 1
	}
	for kv in $(grep '^result ' "$tmp/out" | cut -d' ' -f2-); do
		record "$name.${kv%%=*}" "${kv#*=}"
	done
}

# followers prints the client URLs of the three members other than $leader.
followers() {
	local u
	for u in ${all//,/ }; do
		[ "$u" = "$leader" ] || echo "$u"
	done
}

# cpu_since BEFORE-FILE prints "name ticks-used" for every member.
cpu_since() {
	bench_ticks | awk 'NR == FNR {b[$1] = $2; next} {print $1, $2 - b[$1]}' "$1" -
}

measure() {
	case "$workload" in
	rotate)
		# shellcheck disable=SC2086
		bench_cluster http $server_flags
		load writes -endpoints "$all" -clients 1 -rotate -duration "${dur}s" -op put
		;;
	fwd)
		# shellcheck disable=SC2086
		bench_cluster http $server_flags
		load leader -endpoints "$leader" -clients 1 -duration "${dur}s" -op put
		load follower -endpoints "$(followers | head -1)" -clients 1 -duration "${dur}s" -op put
		record follower_over_leader "$(awk '$1 == "leader.p50_us" {l = $2} $1 == "follower.p50_us" {f = $2} END {printf "%.2f", f / l}' "$tmp/results.$which")"
		;;
	lock)
		# shellcheck disable=SC2086
		bench_cluster http $server_flags
		load lock -endpoints "$all" -clients 16 -duration "${dur}s" -op lock
		;;
	wrk)
		# shellcheck disable=SC2086
		bench_cluster http $server_flags
		bench_ticks >"$tmp/ticks"
		local out
		out=$(wrk_put_three "$dur" http://127.0.0.1:21379 http://127.0.0.1:22379 http://127.0.0.1:23379)
		local writes=${out#writes=}
		writes=${writes%% *}
		local rate=${out#*rate=}
		record writes.rate "${rate%% *}"
		record writes.non2xx "${out##*non2xx=}"
		record cpu_us_per_write "$(cpu_since "$tmp/ticks" | awk -v n="$writes" -v hz="$(getconf CLK_TCK)" '{t += $2} END {printf "%.1f", t / hz * 1e6 / n}')"
		;;
	single)
		# shellcheck disable=SC2086
		bench_single http $server_flags
		load writes -endpoints "$leader" -clients 1 -duration "${dur}s" -op put
		;;
	idle)
		# shellcheck disable=SC2086
		bench_cluster http $server_flags
		sleep 5 # past the start-up's own work
		bench_ticks >"$tmp/ticks"
		sleep "$idle"
		local lname
		lname=m${leader:18:1} # http://127.0.0.1:2N379 → mN
		cpu_since "$tmp/ticks" | awk -v secs="$idle" -v hz="$(getconf CLK_TCK)" -v l="$lname" \
			'{p = $2 / hz / secs * 100; if ($1 == l) lead = p; else if (p > f) f = p} END {printf "%.2f %.2f\n", lead, f}' >"$tmp/idle"
		record leader_cpu_pct "$(cut -d' ' -f1 "$tmp/idle")"
		record follower_cpu_pct_max "$(cut -d' ' -f2 "$tmp/idle")"
		;;
	esac
	bench_stop_members
}

for round in $(seq 1 "$rounds"); do
	for which in etcd-classic etcd; do
		bench_server "$which" || exit 2
		echo "== round $round, $workload: $which ($("$tmp/server" --version 2>/dev/null | head -1)), $(nproc) cores, $(uname -r)"
		measure
	done
done

# The median of each figure over the rounds, and etcd-classic / etcd.
median() {
	awk -v k="$1" '$1 == k {print $2}' "$tmp/results.$2" | sort -g | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]; else print "-"}'
}
echo "== $workload: median of $rounds round(s)"
printf '%-24s %14s %14s %10s\n' figure etcd-classic etcd ratio
for k in $(cut -d' ' -f1 "$tmp/results.etcd-classic" | awk '!seen[$0]++'); do
	a=$(median "$k" etcd-classic)
	b=$(median "$k" etcd)
	printf '%-24s %14s %14s %10s\n' "$k" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN {if (b + 0 != 0) printf "%.2fx", a / b; else print "-"}')"
done
