#!/usr/bin/env bash
# scripts/cluster.sh start|stop|status|restart [N]
#
# Runs a local cluster of N (default 3) etcd-classic members on loopback,
# bootstrapped with the etcd 2.x flags, with nothing but the binary:
#   member i: client http://127.0.0.1:${BASE}i79, peer http://127.0.0.1:${BASE}i80
#   (defaults: infra1 2379/2380 is avoided; infra1=12379/12380, infra2=22379/22380, ...)
# Settings (environment):
#   BIN   the etcd-classic binary (default: ./etcd-classic, built with `go build` if absent)
#   DATA  where member data, logs and pids go (default: ./cluster-data)
#   TOKEN the initial cluster token (default: etcd-classic-local)
#   EXTRA extra flags for every member (e.g. "--snapshot-count 1000")
set -euo pipefail

cmd=${1:-status}
n=${2:-3}
BIN=${BIN:-./etcd-classic}
DATA=${DATA:-./cluster-data}
TOKEN=${TOKEN:-etcd-classic-local}
EXTRA=${EXTRA:-}

client_url() { echo "http://127.0.0.1:${1}2379"; }
peer_url() { echo "http://127.0.0.1:${1}2380"; }

initial_cluster() {
	local out="" i
	for i in $(seq 1 "$n"); do
		out+="${out:+,}infra$i=$(peer_url "$i")"
	done
	echo "$out"
}

# http_get URL: prints the body of a GET, with curl if present, else bash's /dev/tcp.
http_get() {
	local url=$1
	if command -v curl >/dev/null 2>&1; then
		curl -s -m 3 "$url" || true
		return
	fi
	local hostport=${url#http://}
	local path=/${hostport#*/}
	hostport=${hostport%%/*}
	exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}" || return 0
	printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hostport" >&3
	sed '1,/^\r$/d' <&3 || true
	exec 3<&-
}

ensure_bin() {
	if [ ! -x "$BIN" ]; then
		if [ "$BIN" = ./etcd-classic ] && command -v go >/dev/null 2>&1; then
			echo "building $BIN"
			go build -o "$BIN" .
		else
			echo "no etcd-classic binary at $BIN (set BIN=...)" >&2
			exit 1
		fi
	fi
}

start() {
	ensure_bin
	mkdir -p "$DATA"
	local ic i
	ic=$(initial_cluster)
	for i in $(seq 1 "$n"); do
		if [ -f "$DATA/infra$i.pid" ] && kill -0 "$(cat "$DATA/infra$i.pid")" 2>/dev/null; then
			echo "infra$i already running (pid $(cat "$DATA/infra$i.pid"))"
			continue
		fi
		# shellcheck disable=SC2086
		"$BIN" --name "infra$i" --data-dir "$DATA/infra$i.etcd" \
			--listen-client-urls "$(client_url "$i")" --advertise-client-urls "$(client_url "$i")" \
			--listen-peer-urls "$(peer_url "$i")" --initial-advertise-peer-urls "$(peer_url "$i")" \
			--initial-cluster-token "$TOKEN" --initial-cluster "$ic" --initial-cluster-state new \
			$EXTRA >"$DATA/infra$i.log" 2>&1 &
		echo $! >"$DATA/infra$i.pid"
		echo "started infra$i (pid $!): client $(client_url "$i"), peer $(peer_url "$i"), log $DATA/infra$i.log"
	done
	for _ in $(seq 1 100); do
		if http_get "$(client_url 1)/health" | grep -q '"true"'; then
			echo "cluster healthy"
			return 0
		fi
		sleep 0.2
	done
	echo "cluster not healthy yet; see $DATA/*.log" >&2
	return 1
}

stop() {
	local i pid
	for i in $(seq 1 "$n"); do
		if [ -f "$DATA/infra$i.pid" ]; then
			pid=$(cat "$DATA/infra$i.pid")
			if kill "$pid" 2>/dev/null; then
				echo "stopping infra$i (pid $pid)"
				for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			fi
			rm -f "$DATA/infra$i.pid"
		fi
	done
}

status() {
	local i pid state
	for i in $(seq 1 "$n"); do
		state=stopped
		if [ -f "$DATA/infra$i.pid" ] && pid=$(cat "$DATA/infra$i.pid") && kill -0 "$pid" 2>/dev/null; then
			state="running (pid $pid) health=$(http_get "$(client_url "$i")/health")"
		fi
		echo "infra$i $(client_url "$i"): $state"
	done
	echo "members: $(http_get "$(client_url 1)/v2/members")"
	echo "leader:  $(http_get "$(client_url 1)/v2/members/leader")"
}

case "$cmd" in
start) start ;;
stop) stop ;;
restart) stop; start ;;
status) status ;;
*) echo "usage: $0 start|stop|status|restart [N]" >&2; exit 2 ;;
esac
