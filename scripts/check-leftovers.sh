#!/usr/bin/env bash
# scripts/check-leftovers.sh before|after STATEFILE
#
# CI's check that the tests clean up after themselves:
#   before STATEFILE  records the server processes that run now and the
#                     entries of the temporary directory
#   after STATEFILE   lists every server process and every temporary
#                     entry that appeared since, and exits 1 if there is any
#
# A server process is one whose name is in LEFTOVER_NAMES (default:
# etcd-classic etcd etcdctl foreman goreman); zombies (killed processes
# nobody reaped) hold nothing and are not counted. The temporary directory
# is $TMPDIR (default /tmp); entries matching LEFTOVER_IGNORE (a grep -E
# pattern, default: Go's own build directories) are not counted.
set -euo pipefail

mode=${1:-}
state=${2:-}
if [ -z "$mode" ] || [ -z "$state" ]; then
	echo "usage: $0 before|after STATEFILE" >&2
	exit 2
fi
tmp=${TMPDIR:-/tmp}
names=${LEFTOVER_NAMES:-etcd-classic etcd etcdctl foreman goreman}
ignore=${LEFTOVER_IGNORE:-^(go-build|gopath|go-link|cgo)}

# procs: "pid name" of every live (not zombie) process with one of names.
procs() {
	local pid stat comm n
	ps -eo pid=,stat=,comm= | while read -r pid stat comm; do
		case "$stat" in Z*) continue ;; esac
		for n in $names; do
			if [ "$comm" = "$n" ]; then
				echo "$pid $comm"
			fi
		done
	done | sort
}

# entries: the names in the temporary directory, minus the ignored ones.
entries() {
	# The state file itself may live there.
	find "$tmp" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null |
		grep -Ev "$ignore" | grep -vxF "$(basename "$state")" | sort || true
}

case "$mode" in
before)
	{
		echo "# processes"
		procs
		echo "# entries"
		entries
	} >"$state"
	;;
after)
	[ -f "$state" ] || { echo "$0: no state file $state (run '$0 before' first)" >&2; exit 2; }
	before_procs=$(sed -n '/^# processes$/,/^# entries$/p' "$state" | grep -v '^#' || true)
	before_entries=$(sed -n '/^# entries$/,$p' "$state" | grep -v '^#' || true)
	new_procs=$(comm -13 <(echo "$before_procs" | sort) <(procs) | grep . || true)
	new_entries=$(comm -13 <(echo "$before_entries" | sort) <(entries) | grep . || true)
	bad=0
	if [ -n "$new_procs" ]; then
		echo "server processes left running by the tests:"
		echo "$new_procs" | while read -r pid comm; do
			echo "  $pid $comm: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
		done
		bad=1
	fi
	if [ -n "$new_entries" ]; then
		echo "left in $tmp by the tests:"
		echo "$new_entries" | sed 's/^/  /'
		bad=1
	fi
	if [ "$bad" = 0 ]; then
		echo "no server process and no temporary file outlived the tests"
	fi
	exit "$bad"
	;;
*)
	echo "usage: $0 before|after STATEFILE" >&2
	exit 2
	;;
esac
