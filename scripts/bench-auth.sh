#!/usr/bin/env bash
# scripts/bench-auth.sh [etcd-classic|etcd ...]
#
# What v2 authentication costs a request (issue 16), etcd-classic beside
# etcd 3.4 (/usr/bin/etcd --enable-v2), one member each on loopback: wrk
# PUTs (scripts/bench/put.lua) and local GETs (scripts/bench/get.lua),
# 16 connections for DURATION seconds (default 10) each, first with auth
# off, then with auth on as user "u" (Basic credentials; its role may
# read and write /bench/*), then as the guest (no credentials; etcd's
# default guest role may do everything). The user and root are created
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

# run LABEL [HEADER] prints PUT and GET rates and p50s of one configuration.
run() {
	local label=$1 h=() put get
	[ -n "${2:-}" ] && h=(-H "$2")
	put=$(wrk -t1 -c16 -d"${dur}s" --latency "${h[@]}" -s scripts/bench/put.lua "$leader")
	get=$(wrk -t1 -c16 -d"${dur}s" --latency "${h[@]}" -s scripts/bench/get.lua "$leader")
	printf '   %-9s PUT %8.0f/s p50 %-8s GET %8.0f/s p50 %-8s %s\n' "$label" \
		"$(echo "$put" | awk '/Requests\/sec/ {print $2}')" "$(echo "$put" | awk '$1 == "50%" {print $2}')" \
		"$(echo "$get" | awk '/Requests\/sec/ {print $2}')" "$(echo "$get" | awk '$1 == "50%" {print $2}')" \
		"$( (echo "$put"; echo "$get") | awk '/Non-2xx/ {n += $NF} END {if (n) print "non-2xx: " n}')"
}

for which in "${servers[@]}"; do
	bench_server "$which" || exit 2
	# shellcheck disable=SC2086
	bench_single http $server_flags
	echo "== $which: $("$tmp/server" --version 2>/dev/null | head -1), 1 member, wrk -c16 ${dur}s, $(nproc) cores"
	"$tmp/bench" -endpoints "$leader" -clients 16 -n 1000 -keys 1000 -seq -op put >/dev/null
	run "auth off"
	j='Content-Type: application/json'
	curl -fsS -m 10 -X PUT -H "$j" "$leader/v2/auth/users/root" -d '{"user":"root","password":"rootpw"}' >/dev/null
	curl -fsS -m 10 -X PUT -H "$j" "$leader/v2/auth/roles/bench" \
		-d '{"role":"bench","permissions":{"kv":{"read":["/bench/*"],"write":["/bench/*"]}}}' >/dev/null
	curl -fsS -m 10 -X PUT -H "$j" "$leader/v2/auth/users/u" -d '{"user":"u","password":"pw","roles":["bench"]}' >/dev/null
	curl -fsS -m 10 -X PUT -u root:rootpw "$leader/v2/auth/enable" >/dev/null
	run "user" "Authorization: Basic $(printf 'u:pw' | base64)"
	run "guest"
	bench_stop_members
done
