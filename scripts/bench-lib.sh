# Shared by the bench-*.sh scripts (sourced, not run). The caller sets
# $tmp to a fresh directory and sources this file from the repository's
# root.
#
# Members listen on ports below Linux's ephemeral range (32768-60999),
# which the load generator's own connections draw from.

# bench_stop stops the members and waits until they are gone, so that a
# run started right after this one finds its ports free; it removes $tmp.
bench_stop() {
	local pids p
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

# bench_stop_members stops the members of $tmp (their pid files), waits
# until they are gone and removes their data, logs and pid files, so that
# another cluster can start on the same ports in the same run.
bench_stop_members() {
	bench_kill_members
	rm -rf "$tmp"/m[0-9] "$tmp"/m[0-9].log
}

# bench_kill_members stops the members of $tmp with SIGTERM and waits
# until they are gone; their data and logs stay (a restart follows).
bench_kill_members() {
	local f p
	for f in "$tmp"/m*.pid; do
		[ -e "$f" ] || continue
		p=$(cat "$f")
		kill "$p" 2>/dev/null || true
		for _ in $(seq 1 300); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		rm -f "$f"
	done
}

# bench_server etcd-classic|etcd builds or copies the server to
# $tmp/server and sets $server_flags (etcd needs --enable-v2). With
# SERVER_BIN set, etcd-classic is that binary instead of a build of the
# working tree (an older commit's build, for a before/after run).
bench_server() {
	case "$1" in
	etcd-classic)
		if [ -n "${SERVER_BIN:-}" ]; then
			cp "$SERVER_BIN" "$tmp/server" || return 1
		else
			go build -o "$tmp/server" . || return 1
		fi
		server_flags=""
		;;
	etcd) cp "$(command -v etcd)" "$tmp/server" || return 1; server_flags="--enable-v2" ;;
	*) echo "unknown server '$1': etcd-classic or etcd" >&2; return 2 ;;
	esac
}

# bench_launch SCHEME [FLAG...] starts the three members of bench_cluster
# (new logs in $tmp/m{1,2,3}.log) and returns at once, without waiting.
bench_launch() {
	local scheme=$1 i
	shift
	local ic="m1=http://127.0.0.1:21380,m2=http://127.0.0.1:22380,m3=http://127.0.0.1:23380"
	for i in 1 2 3; do
		"$tmp/server" "$@" --name "m$i" --data-dir "$tmp/m$i" \
			--listen-client-urls "$scheme://127.0.0.1:2${i}379" --advertise-client-urls "$scheme://127.0.0.1:2${i}379" \
			--listen-peer-urls "http://127.0.0.1:2${i}380" --initial-advertise-peer-urls "http://127.0.0.1:2${i}380" \
			--initial-cluster "$ic" --initial-cluster-state new >"$tmp/m$i.log" 2>&1 &
		echo $! >"$tmp/m$i.pid"
	done
}

# bench_cluster SCHEME [FLAG...] starts three members of $tmp/server on
# loopback (client URLs SCHEME://127.0.0.1:2{1,2,3}379, plain peer URLs
# on 2{1,2,3}380), waits until the cluster is healthy and sets $leader to
# the leader's client URL.
bench_cluster() {
	local scheme=$1
	bench_launch "$@"
	for _ in $(seq 1 100); do
		curl -sk -m 2 "$scheme://127.0.0.1:21379/health" | grep -q true && break
		sleep 0.2
	done
	curl -sk -m 2 "$scheme://127.0.0.1:21379/health" | grep -q true || {
		echo "the cluster did not become healthy; member logs:" >&2
		tail -n 5 "$tmp"/m*.log >&2
		return 1
	}
	leader=$(curl -sk "$scheme://127.0.0.1:21379/v2/members/leader" | sed 's/.*"clientURLs":\["\([^"]*\)".*/\1/')
}

# bench_single SCHEME [FLAG...] starts one member of $tmp/server (m1,
# client URL SCHEME://127.0.0.1:21379), waits until it is healthy and sets
# $leader to its client URL.
bench_single() {
	local scheme=$1
	shift
	"$tmp/server" "$@" --name m1 --data-dir "$tmp/m1" \
		--listen-client-urls "$scheme://127.0.0.1:21379" --advertise-client-urls "$scheme://127.0.0.1:21379" \
		--listen-peer-urls http://127.0.0.1:21380 --initial-advertise-peer-urls http://127.0.0.1:21380 \
		--initial-cluster m1=http://127.0.0.1:21380 --initial-cluster-state new >"$tmp/m1.log" 2>&1 &
	echo $! >"$tmp/m1.pid"
	for _ in $(seq 1 100); do
		curl -sk -m 2 "$scheme://127.0.0.1:21379/health" | grep -q true && break
		sleep 0.2
	done
	curl -sk -m 2 "$scheme://127.0.0.1:21379/health" | grep -q true || {
		echo "the member did not become healthy:" >&2
		tail -n 5 "$tmp/m1.log" >&2
		return 1
	}
	leader=$scheme://127.0.0.1:21379
}

# bench_ticks prints the CPU time (user + system, in clock ticks) each
# member of $tmp has used so far, one "name ticks" line per member.
bench_ticks() {
	local f
	for f in "$tmp"/m*.pid; do
		[ -e "$f" ] || continue
		echo "$(basename "$f" .pid) $(awk '{print $14 + $15}' "/proc/$(cat "$f")/stat")"
	done
}

# wrk_put_three SECONDS URL URL URL runs one wrk PUT load (scripts/bench/put.lua,
# 256 connections in all: 86, 85, 85) on each URL at once and prints the
# writes done and the writes per second (sums over the three).
wrk_put_three() {
	local secs=$1 pids="" i=0 u c
	shift
	for u in "$@"; do
		i=$((i + 1))
		c=85
		[ $i = 1 ] && c=86
		wrk -t1 -c$c -d"${secs}s" -s scripts/bench/put.lua "$u" >"$tmp/p$i.txt" &
		pids="$pids $!"
	done
	# shellcheck disable=SC2086
	wait $pids
	cat "$tmp"/p[123].txt | awk '/requests in/ {n += $1} /Requests\/sec/ {r += $2} /Non-2xx/ {bad += $NF} END {printf "writes=%d rate=%.1f non2xx=%d\n", n, r, bad}'
}

# wrk_get_three URL URL URL runs one wrk GET load (86 connections, 10 s,
# scripts/bench/qget.lua) on each URL at once and prints the sum.
wrk_get_three() {
	local pids="" i=0 u
	for u in "$@"; do
		i=$((i + 1))
		wrk -t1 -c86 -d10s -s scripts/bench/qget.lua "$u" >"$tmp/q$i.txt" &
		pids="$pids $!"
	done
	# shellcheck disable=SC2086
	wait $pids
	grep -h "Requests/sec" "$tmp"/q*.txt | awk '{s += $2} END {printf "Requests/sec (sum of the three): %.0f\n", s}'
}
