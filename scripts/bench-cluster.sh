#!/usr/bin/env bash
# scripts/bench-cluster.sh [etcd-classic|etcd] [clients] [requests]
#
# Starts a fresh 3-member cluster of etcd-classic (default) or of the real
# etcd (Debian's etcd-server, run with --enable-v2) on loopback, then runs
# the project's load tool (scripts/bench) against it: PUTs to the leader,
# PUTs spread over all members, and quorum=true GETs spread over all
# members. The figures in docs/benchmarks.md come from this script.
# With TLS=1 the client URLs are HTTPS (certificates from gen-certs.sh)
# and the load tool verifies them.
set -euo pipefail
cd "$(dirname "$0")/.."

which=${1:-etcd-classic}
clients=${2:-256}
n=${3:-100000}
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
*) echo "usage: $0 [etcd-classic|etcd] [clients] [requests]" >&2; exit 2 ;;
esac

scheme=http
tlsflags=""
benchtls=""
if [ "${TLS:-0}" = 1 ]; then
	scripts/gen-certs.sh "$tmp/certs" >/dev/null
	scheme=https
	tlsflags="--cert-file $tmp/certs/server.crt --key-file $tmp/certs/server.key"
	benchtls="-cacert $tmp/certs/ca.crt"
fi
# Ports below the ephemeral range (32768-60999), which the load
# tool's own connections draw from.
ic="m1=http://127.0.0.1:21380,m2=http://127.0.0.1:22380,m3=http://127.0.0.1:23380"
for i in 1 2 3; do
	# shellcheck disable=SC2086
	"$tmp/server" $extra $tlsflags --name "m$i" --data-dir "$tmp/m$i" \
		--listen-client-urls "$scheme://127.0.0.1:2${i}379" --advertise-client-urls "$scheme://127.0.0.1:2${i}379" \
		--listen-peer-urls "http://127.0.0.1:2${i}380" --initial-advertise-peer-urls "http://127.0.0.1:2${i}380" \
		--initial-cluster "$ic" --initial-cluster-state new >"$tmp/m$i.log" 2>&1 &
	echo $! >"$tmp/m$i.pid"
done
for _ in $(seq 1 100); do
	curl -sk -m 2 "$scheme://127.0.0.1:21379/health" | grep -q true && break
	sleep 0.2
done
curl -sk -m 2 "$scheme://127.0.0.1:21379/health" | grep -q true || {
	echo "the cluster did not become healthy; member logs:" >&2
	tail -n 5 "$tmp"/m*.log >&2
	exit 1
}
leader=$(curl -sk "$scheme://127.0.0.1:21379/v2/members/leader" | sed 's/.*"clientURLs":\["\([^"]*\)".*/\1/')
all=$scheme://127.0.0.1:21379,$scheme://127.0.0.1:22379,$scheme://127.0.0.1:23379
echo "== $which ($scheme): $("$tmp/server" --version 2>/dev/null | head -1), $(nproc) cores, $(uname -r)"
echo "-- PUT to the leader ($leader)"
"$tmp/bench" $benchtls -endpoints "$leader" -clients "$clients" -n "$n" -op put
echo "-- PUT spread over the three members"
"$tmp/bench" $benchtls -endpoints "$all" -clients "$clients" -n "$n" -op put
echo "-- quorum=true GET spread over the three members"
"$tmp/bench" $benchtls -endpoints "$all" -clients "$clients" -n "$n" -op qget
