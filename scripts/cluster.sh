#!/usr/bin/env bash
# scripts/cluster.sh start|stop|status|restart [N]
# scripts/cluster.sh kill I
#
# Runs a local cluster of N (default 3) etcd-classic members on loopback,
# bootstrapped with the etcd 2.x flags, with nothing but the binary.
#   member i (infra1, infra2, ...): client http://127.0.0.1:${i}2379, peer http://127.0.0.1:${i}2380
#   (12379/12380, 22379/22380, 32379/32380; 2379/2380 stay free for `go run .`)
#
#   start     start the members that are not running, wait for a healthy one
#   status    each member: up (and which one leads), down (its process died
#             or stopped answering) or stopped; then the member list
#   kill I    SIGKILL member I (try a leader kill; `start` brings it back)
#   stop      SIGTERM every member and wait for it to exit
#   restart   stop, then start
#
# Settings (environment):
#   BIN          the etcd-classic binary (default: ./etcd-classic, built with `go build` if absent)
#   DATA         member data, logs and pid files (default: ${TMPDIR:-/tmp}/etcd-classic-cluster)
#   CLIENT_PORTS client ports of members 1..N, space- or comma-separated
#                (default: 12379 22379 32379 ...); N defaults to their number
#   PEER_PORTS   peer ports of members 1..N (default: 12380 22380 32380 ...)
#   TOKEN        the initial cluster token (default: etcd-classic-local)
#   EXTRA        extra flags for every member (e.g. "--snapshot-count 1000")
set -euo pipefail

cmd=${1:-status}
BIN=${BIN:-./etcd-classic}
DATA=${DATA:-${TMPDIR:-/tmp}/etcd-classic-cluster}
TOKEN=${TOKEN:-etcd-classic-local}
EXTRA=${EXTRA:-}
CLIENT_PORTS=${CLIENT_PORTS:-}
PEER_PORTS=${PEER_PORTS:-}
read -r -a client_ports <<<"${CLIENT_PORTS//,/ }"
read -r -a peer_ports <<<"${PEER_PORTS//,/ }"

n=3
if [ "$cmd" != kill ] && [ -n "${2:-}" ]; then
	n=$2
elif [ ${#client_ports[@]} -gt 0 ]; then
	n=${#client_ports[@]}
fi
case "$n" in '' | *[!0-9]*) echo "N must be a number, not '$n'" >&2; exit 2 ;; esac

# client_port I / peer_port I: the ports of member I (1-based).
client_port() {
	if [ ${#client_ports[@]} -gt 0 ]; then
		[ "$1" -le ${#client_ports[@]} ] || { echo "CLIENT_PORTS names ${#client_ports[@]} ports, not $n" >&2; exit 2; }
		echo "${client_ports[$(($1 - 1))]}"
	else
		echo "${1}2379"
	fi
}
peer_port() {
	if [ ${#peer_ports[@]} -gt 0 ]; then
		[ "$1" -le ${#peer_ports[@]} ] || { echo "PEER_PORTS names ${#peer_ports[@]} ports, not $n" >&2; exit 2; }
		echo "${peer_ports[$(($1 - 1))]}"
	else
		echo "${1}2380"
	fi
}
client_url() { echo "http://127.0.0.1:$(client_port "$1")"; }
peer_url() { echo "http://127.0.0.1:$(peer_port "$1")"; }

initial_cluster() {
	local out="" i
	for i in $(seq 1 "$n"); do
		out+="${out:+,}infra$i=$(peer_url "$i")"
	done
	echo "$out"
}

# http_get URL: prints the body of a GET (empty if nothing answers within
# 3 s), with curl if present, else bash's /dev/tcp.
http_get() {
	local url=$1
	if command -v curl >/dev/null 2>&1; then
		curl -s -m 3 "$url" || true
		return
	fi
	local hostport=${url#http://}
	local path=/${hostport#*/}
	hostport=${hostport%%/*}
	(
		exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}" || exit 0
		printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hostport" >&3
		timeout 3 sed '1,/^\r$/d' <&3 || true
	) 2>/dev/null
}

# alive PID: the process exists and is not a zombie (a killed member whose
# parent, the shell that started it, is gone and nobody reaped it).
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null || true)
	case "$st" in Z*) return 1 ;; esac
	return 0
}

# pid_of I: the pid recorded for member I, if any.
pid_of() { [ -f "$DATA/infra$1.pid" ] && cat "$DATA/infra$1.pid"; }

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
	local ic i pid
	ic=$(initial_cluster)
	for i in $(seq 1 "$n"); do
		if pid=$(pid_of "$i") && alive "$pid"; then
			echo "infra$i already running (pid $pid)"
			continue
		fi
		# shellcheck disable=SC2086
		"$BIN" --name "infra$i" --data-dir "$DATA/infra$i.etcd" \
			--listen-client-urls "$(client_url "$i")" --advertise-client-urls "$(client_url "$i")" \
			--listen-peer-urls "$(peer_url "$i")" --initial-advertise-peer-urls "$(peer_url "$i")" \
			--initial-cluster-token "$TOKEN" --initial-cluster "$ic" --initial-cluster-state new \
			$EXTRA >>"$DATA/infra$i.log" 2>&1 &
		echo $! >"$DATA/infra$i.pid"
		echo "started infra$i (pid $!): client $(client_url "$i"), peer $(peer_url "$i"), log $DATA/infra$i.log"
	done
	for _ in $(seq 1 150); do
		for i in $(seq 1 "$n"); do
			if http_get "$(client_url "$i")/health" | grep -q '"true"'; then
				echo "cluster healthy"
				return 0
			fi
		done
		sleep 0.2
	done
	echo "cluster not healthy yet; see $DATA/*.log" >&2
	return 1
}

stop() {
	local i pid
	for i in $(seq 1 "$n"); do
		if pid=$(pid_of "$i"); then
			if alive "$pid" && kill "$pid" 2>/dev/null; then
				echo "stopping infra$i (pid $pid)"
				for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
			fi
			rm -f "$DATA/infra$i.pid"
		fi
	done
}

kill_member() {
	local i=${1:-} pid
	case "$i" in '' | *[!0-9]*) echo "usage: $0 kill I (the member number)" >&2; exit 2 ;; esac
	if ! pid=$(pid_of "$i") || ! alive "$pid"; then
		echo "infra$i is not running" >&2
		exit 1
	fi
	kill -KILL "$pid"
	echo "killed infra$i (pid $pid)"
}

status() {
	local i pid state self leader="" any=""
	for i in $(seq 1 "$n"); do
		if ! pid=$(pid_of "$i"); then
			state=stopped
		elif ! alive "$pid"; then
			state="down (pid $pid is gone)"
		else
			self=$(http_get "$(client_url "$i")/v2/stats/self")
			if [ -z "$self" ]; then
				state="down (pid $pid does not answer)"
			else
				state="up (pid $pid)"
				any=$i
				case "$self" in *'"state":"StateLeader"'*) state+=", leader"; leader=infra$i ;; esac
			fi
		fi
		echo "infra$i $(client_url "$i"): $state"
	done
	if [ -n "$any" ]; then
		echo "leader:  ${leader:-none}"
		echo "members: $(http_get "$(client_url "$any")/v2/members")"
	else
		echo "no member answers"
	fi
}

case "$cmd" in
start) start ;;
stop) stop ;;
restart) stop; start ;;
status) status ;;
kill) kill_member "${2:-}" ;;
*) echo "usage: $0 start|stop|status|restart [N] | kill I" >&2; exit 2 ;;
esac
