#!/usr/bin/env bash
# scripts/bench-backup.sh [etcd-classic|etcd]...   (default: both, in turn)
#
# Backup and restore side by side (docs/benchmarks.md, "Backup and
# restore"). For each server, on loopback:
#
#   1. three members; KEYS keys (default 100000) of
#      VALUE-byte values (default 256) written through the project's load
#      tool (scripts/bench -seq, 64 clients, spread over the three);
#   2. etcd-classic only (etcd has no online snapshot of its v2 store; its
#      v3 `etcdctl snapshot save` holds the v3 keyspace alone): an online
#      backup from a follower, `etcd-classic snapshot save`, its time and
#      size, and `snapshot status`;
#   3. member m2 stopped (SIGTERM): its data dir's size, and the offline
#      backup, `etcd-classic backup` or `ETCDCTL_API=2 etcdctl backup`,
#      its time and the backup dir's size;
#   4. the offline backup started alone with --force-new-cluster on new
#      ports: the time until it serves the last key written;
#   5. etcd-classic only: the online snapshot restored into three new
#      members (`snapshot restore` for each, timed together), then the
#      time from their start until all three serve the last key.
#
# Members listen on PORT_BASE+10*i+1 (client) and +2 (peer), i = 1..7
# (default PORT_BASE 21000: below the ephemeral range, beside bench-lib's
# ports so that another benchmark's cluster is not hit); the script stops
# if one is taken. The machine is shared by other work: times are
# indicative, sizes hardly depend on it.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

keys=${KEYS:-100000}
value=${VALUE:-256}
base=${PORT_BASE:-21000}
cport() { echo $((base + 10 * $1 + 1)); }
pport() { echo $((base + 10 * $1 + 2)); }
for i in 1 2 3 4 5 6 7; do
	for p in "$(cport "$i")" "$(pport "$i")"; do
		if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "port $p is taken: set PORT_BASE" >&2
			exit 2
		fi
	done
done
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(etcd-classic etcd)

tmp=$(mktemp -d)
trap bench_stop EXIT
go build -o "$tmp/bench" ./scripts/bench
go build -o "$tmp/etcd-classic" .

# since T0 prints the seconds elapsed since T0 (date +%s.%N).
since() { echo "$(date +%s.%N) $1" | awk '{printf "%.2f", $1 - $2}'; }

# size DIR-OR-FILE prints its size in MB (du, apparent bytes).
size() { du -sb "$1" | awk '{printf "%.1f MB", $1 / 1e6}'; }

# stop_member N stops member mN (SIGTERM) and waits until it is gone.
stop_member() {
	local p
	p=$(cat "$tmp/m$1.pid")
	kill "$p" 2>/dev/null || true
	for _ in $(seq 1 300); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	rm -f "$tmp/m$1.pid"
}

# stop_all stops every process whose pid file is in $tmp.
stop_all() {
	local f
	for f in "$tmp"/*.pid; do
		[ -e "$f" ] || continue
		kill "$(cat "$f")" 2>/dev/null || true
	done
	for f in "$tmp"/*.pid; do
		[ -e "$f" ] || continue
		for _ in $(seq 1 300); do
			kill -0 "$(cat "$f")" 2>/dev/null || break
			sleep 0.1
		done
		rm -f "$f"
	done
}

# wait_serving URL... waits until every URL serves the last key written.
wait_serving() {
	local u
	for u in "$@"; do
		for _ in $(seq 1 6000); do
			[ "$(curl -s -m 1 -o /dev/null -w '%{http_code}' "$u/v2/keys/bench/$((keys - 1))")" = 200 ] && break
			sleep 0.02
		done
	done
}

# start NAME DATA-DIR CLIENT-PORT PEER-PORT INITIAL-CLUSTER [FLAG...] starts
# one member of $tmp/server in the background.
start() {
	local name=$1 dir=$2 cp=$3 pp=$4 ic=$5
	shift 5
	# shellcheck disable=SC2086
	"$tmp/server" $server_flags "$@" --name "$name" --data-dir "$dir" \
		--listen-client-urls "http://127.0.0.1:$cp" --advertise-client-urls "http://127.0.0.1:$cp" \
		--listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
		--initial-cluster "$ic" >"$tmp/$name.log" 2>&1 &
	echo $! >"$tmp/$name.pid"
}

# url I is member I's client URL.
url() { echo "http://127.0.0.1:$(cport "$1")"; }

for which in "${servers[@]}"; do
	stop_all
	rm -rf "$tmp"/m[123] "$tmp"/r[567] "$tmp"/backup "$tmp"/*.log "$tmp"/snap.db
	bench_server "$which" || exit 2
	echo "== $which: $("$tmp/server" --version 2>/dev/null | head -1), $keys keys x $value-byte values, $(nproc) cores, $(uname -r)"
	ic="m1=http://127.0.0.1:$(pport 1),m2=http://127.0.0.1:$(pport 2),m3=http://127.0.0.1:$(pport 3)"
	for i in 1 2 3; do
		start "m$i" "$tmp/m$i" "$(cport "$i")" "$(pport "$i")" "$ic" --initial-cluster-state new
	done
	for _ in $(seq 1 300); do
		curl -s -m 2 "$(url 1)/health" | grep -q true && break
		sleep 0.2
	done
	"$tmp/bench" -endpoints "$(url 1),$(url 2),$(url 3)" \
		-clients 64 -n "$keys" -keys "$keys" -seq -val-size "$value" -op put | grep elapsed
	wait_serving "$(url 1)" "$(url 2)" "$(url 3)"

	if [ "$which" = etcd-classic ]; then
		follower=$(url 2)
		curl -s "$(url 2)/v2/stats/self" | grep -q StateLeader && follower=$(url 3)
		t0=$(date +%s.%N)
		"$tmp/etcd-classic" snapshot save "$tmp/snap.db" --endpoints "$follower" >/dev/null 2>"$tmp/save.err" || {
			cat "$tmp/save.err" >&2
			exit 1
		}
		echo "online backup (snapshot save from a follower): $(since "$t0") s, $(size "$tmp/snap.db")"
		t0=$(date +%s.%N)
		st=$("$tmp/etcd-classic" snapshot status "$tmp/snap.db")
		echo "snapshot status: $(since "$t0") s: $st"
	fi

	stop_member 2
	echo "member data dir (m2, stopped): $(size "$tmp/m2")"
	t0=$(date +%s.%N)
	if [ "$which" = etcd-classic ]; then
		"$tmp/etcd-classic" backup --data-dir "$tmp/m2" --backup-dir "$tmp/backup" >/dev/null
	else
		ETCDCTL_API=2 etcdctl backup --data-dir "$tmp/m2" --backup-dir "$tmp/backup" >/dev/null 2>&1
	fi
	echo "offline backup: $(since "$t0") s, $(size "$tmp/backup")"
	stop_all
	t0=$(date +%s.%N)
	start b1 "$tmp/backup" "$(cport 4)" "$(pport 4)" "b1=http://127.0.0.1:$(pport 4)" --force-new-cluster
	wait_serving "$(url 4)"
	echo "offline backup started with --force-new-cluster: serving after $(since "$t0") s"
	stop_all

	if [ "$which" = etcd-classic ]; then
		ic="r5=http://127.0.0.1:$(pport 5),r6=http://127.0.0.1:$(pport 6),r7=http://127.0.0.1:$(pport 7)"
		t0=$(date +%s.%N)
		for i in 5 6 7; do
			"$tmp/etcd-classic" snapshot restore "$tmp/snap.db" --name "r$i" --initial-cluster "$ic" \
				--initial-advertise-peer-urls "http://127.0.0.1:$(pport "$i")" --data-dir "$tmp/r$i" >/dev/null
		done
		echo "restore of the online backup into three data dirs: $(since "$t0") s, $(size "$tmp/r5") each"
		t0=$(date +%s.%N)
		for i in 5 6 7; do
			start "r$i" "$tmp/r$i" "$(cport "$i")" "$(pport "$i")" "$ic"
		done
		wait_serving "$(url 5)" "$(url 6)" "$(url 7)"
		echo "restored cluster: all three serving after $(since "$t0") s"
		stop_all
	fi
done
