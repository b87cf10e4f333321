#!/usr/bin/env bash
# lock.sh — run a command while holding a TestAndSet lock kept in
# etcd-classic's v1 keys API (the etcd 0.4 dialect, the default).
#
#   lock.sh [-e endpoint] [-k key] [-n name] [-t ttl] -- command [args...]
#   lock.sh -k /locks/backup -- tar czf /tmp/db.tgz /var/db
#
# The key holds "unlocked" when the lock is free, else the holder's name.
# Take it: create the key "unlocked" if absent (prevValue= only creates),
# then swap "unlocked" for our name (prevValue=unlocked) with a TTL. While
# the command runs, renew the TTL every third of it. Waiters long-poll
# /v1/watch/<key> from the index of their failed attempt. Release: swap
# our name back for "unlocked". Same algorithm as main.go in this folder.
set -u

endpoint=${ETCD_ENDPOINT:-http://127.0.0.1:4001}
key=/locks/demo
name="$(hostname)-$$"
ttl=10
while getopts "e:k:n:t:" opt; do
	case $opt in
	e) endpoint=$OPTARG ;;
	k) key=$OPTARG ;;
	n) name=$OPTARG ;;
	t) ttl=$OPTARG ;;
	*) echo "usage: $0 [-e endpoint] [-k key] [-n name] [-t ttl] -- command [args...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -eq 0 ] || [ "$ttl" -lt 3 ]; then
	echo "usage: $0 [-e endpoint] [-k key] [-n name] [-t ttl>=3] -- command [args...]" >&2
	exit 2
fi
key="/${key#/}"
url="$endpoint/v1/keys$key"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# post FIELD=VALUE...: POST a form to the key; prints the HTTP status, the
# body is left in $out.
post() {
	local args=()
	for kv in "$@"; do args+=(--data-urlencode "$kv"); done
	curl -s -L -o "$out" -w '%{http_code}' "$url" "${args[@]}"
}

index_of() { sed -n 's/.*"index":\([0-9]*\).*/\1/p' "$out"; }

while :; do
	code=$(post "prevValue=" "value=unlocked")
	case $code in
	200 | 412) ;;
	*) echo "lock: create $key: $code $(cat "$out")" >&2; exit 1 ;;
	esac
	code=$(post "prevValue=unlocked" "value=$name" "ttl=$ttl")
	case $code in
	200) break ;;
	412)
		# Held: wait for the next change of the key, then try again.
		next=$(($(index_of) + 1))
		curl -s -L -o /dev/null "$endpoint/v1/watch$key" -d "index=$next"
		;;
	404) ;; # expired between the two requests
	*) echo "lock: take $key: $code $(cat "$out")" >&2; exit 1 ;;
	esac
done
echo "lock: $key held by $name"

"$@" &
cmd=$!
(
	# Renew every third of the TTL; stop the command if the lock is lost.
	renew_out=$(mktemp)
	trap 'kill "$pause" 2>/dev/null; rm -f "$renew_out"; exit 0' TERM
	while :; do
		sleep $((ttl / 3)) &
		pause=$!
		wait "$pause"
		code=$(curl -s -L -o "$renew_out" -w '%{http_code}' "$url" \
			--data-urlencode "prevValue=$name" --data-urlencode "value=$name" -d "ttl=$ttl")
		if [ "$code" != 200 ]; then
			echo "lock: $key lost: $code $(cat "$renew_out")" >&2
			kill "$cmd" 2>/dev/null
			break
		fi
	done
	rm -f "$renew_out"
) &
renewer=$!
wait "$cmd"
rc=$?
kill "$renewer" 2>/dev/null
wait "$renewer" 2>/dev/null
code=$(post "prevValue=$name" "value=unlocked")
[ "$code" = 200 ] || echo "lock: release $key: $code $(cat "$out")" >&2
exit $rc
