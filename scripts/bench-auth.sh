#!/usr/bin/env bash
# scripts/bench-auth.sh [etcd-classic|etcd ...]
#
# What v2 authentication costs a request (issue 16), etcd-classic beside
# etcd 3.4 (/usr/bin/etcd --enable-v2), one member each on loopback: wrk
# PUTs (scripts/bench/put.lua) and local GETs (scripts/bench/get.lua),
# 16 connections for DURATION seconds (default 10) each, first with auth
# off, then with auth on as user "u" (Basic credentials; its role may
# read and write /bench/*), then as the guest (no credentials; etcd's
# default guest role may do everything). Each figure: requests/s, the
# p50 latency and the member's CPU per request (from /proc). ROUNDS=n
# repeats auth off / user n times, alternating, before the guest. The user and root are created
# through the v2 auth API with etcdctl's requests (curl), as a user would.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

dur=${DURATION:-10}
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(etcd-classic etcd)
tmp=$(mktemp -d)
trap bench_stop EXIT
go build -o "$tmp/bench" ./scripts/bench

# load SCRIPT [HEADER...] runs one wrk load on the member and prints
# "rate p50 cpu_us": requests/s, the median latency, and the member's CPU
# (user + system, from /proc) per request in µs.
load() {
	local script=$1 out t0 t1
	shift
	t0=$(bench_ticks | awk '{print $2}')
	out=$(wrk -t1 -c16 -d"${dur}s" --latency "$@" -s "scripts/bench/$script" "$leader")
	t1=$(bench_ticks | awk '{print $2}')
	if echo "$out" | grep -q Non-2xx; then
		echo "wrk: $(echo "$out" | grep Non-2xx)" >&2
	fi
	echo "$out" | awk -v ticks=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" '
		/requests in/ {n = $1} /Requests\/sec/ {r = $2} $1 == "50%" {p = $2}
		END {printf "%.0f %s %.1f", r, p, ticks / hz * 1e6 / n}'
}

# run LABEL [HEADER] prints PUT and GET figures of one configuration.
run() {
	local label=$1 h=() put get
	[ -n "${2:-}" ] && h=(-H "$2")
	read -r pr pp pc <<<"$(load put.lua "${h[@]}")"
	read -r gr gp gc <<<"$(load get.lua "${h[@]}")"
	printf '   %-9s PUT %6s/s p50 %-8s %6s µs CPU   GET %6s/s p50 %-8s %5s µs CPU\n' "$label" "$pr" "$pp" "$pc" "$gr" "$gp" "$gc"
}

for which in "${servers[@]}"; do
	bench_server "$which" || exit 2
	# shellcheck disable=SC2086
	bench_single http $server_flags
	echo "== $which: $("$tmp/server" --version 2>/dev/null | head -1), 1 member, wrk -c16 ${dur}s, $(nproc) cores"
	"$tmp/bench" -endpoints "$leader" -clients 16 -n 1000 -keys 1000 -seq -op put >/dev/null
	j='Content-Type: application/json'
	curl -fsS -m 10 -X PUT -H "$j" "$leader/v2/auth/users/root" -d '{"user":"root","password":"rootpw"}' >/dev/null
	curl -fsS -m 10 -X PUT -H "$j" "$leader/v2/auth/roles/bench" \
		-d '{"role":"bench","permissions":{"kv":{"read":["/bench/*"],"write":["/bench/*"]}}}' >/dev/null
	curl -fsS -m 10 -X PUT -H "$j" "$leader/v2/auth/users/u" -d '{"user":"u","password":"pw","roles":["bench"]}' >/dev/null
	for _ in $(seq 1 "${ROUNDS:-1}"); do
		run "auth off"
		curl -fsS -m 10 -X PUT -u root:rootpw "$leader/v2/auth/enable" >/dev/null
		run "user" "Authorization: Basic $(printf 'u:pw' | base64)"
		curl -fsS -m 10 -X DELETE -u root:rootpw "$leader/v2/auth/enable" >/dev/null
	done
	curl -fsS -m 10 -X PUT -u root:rootpw "$leader/v2/auth/enable" >/dev/null
	run "guest"
	bench_stop_members
done
