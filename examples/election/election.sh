#!/usr/bin/env bash
# election.sh — take part in a leader election kept in etcd-classic's v1
# keys API (the etcd 0.4 dialect, the default).
#
#   election.sh [-e endpoint] [-k key] [-n name] [-t ttl] [-f seconds]
#
# Candidates create the key with their name and a TTL (prevValue= only
# creates); the winner renews it every third of the TTL with
# prevValue=<name>; the others long-poll /v1/watch/<key> and campaign again
# when it changes. Prints "following <leader>", "elected <name>", "lost
# <name>". With -f the leader stops renewing after that many seconds and
# exits, as if it had crashed. Same algorithm as main.go in this folder.
set -u

endpoint=${ETCD_ENDPOINT:-http://127.0.0.1:4001}
key=/election/leader
name="$(hostname)-$$"
ttl=5
term=0
while getopts "e:k:n:t:f:" opt; do
	case $opt in
	e) endpoint=$OPTARG ;;
	k) key=$OPTARG ;;
	n) name=$OPTARG ;;
	t) ttl=$OPTARG ;;
	f) term=$OPTARG ;;
	*) echo "usage: $0 [-e endpoint] [-k key] [-n name] [-t ttl>=3] [-f seconds]" >&2; exit 2 ;;
	esac
done
[ "$ttl" -ge 3 ] || { echo "election: -t must be at least 3" >&2; exit 2; }
key="/${key#/}"
url="$endpoint/v1/keys$key"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

post() { curl -s -L -o "$out" -w '%{http_code}' "$url" --data-urlencode "prevValue=$1" --data-urlencode "value=$name" -d "ttl=$ttl"; }
field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" "$out"; }

following=""
while :; do
	code=$(post "")
	case $code in
	200) ;;
	412)
		next=$(($(field index) + 1))
		if [ "$(curl -s -L -o "$out" -w '%{http_code}' "$url")" = 200 ]; then
			leader=$(field value)
			if [ "$leader" != "$following" ]; then
				following=$leader
				echo "following $following"
			fi
		fi
		curl -s -L -o /dev/null "$endpoint/v1/watch$key" -d "index=$next"
		continue
		;;
	*) echo "election: $code $(cat "$out")" >&2; exit 1 ;;
	esac
	echo "elected $name"
	start=$SECONDS
	while :; do
		sleep $((ttl / 3))
		if [ "$term" -gt 0 ] && [ $((SECONDS - start)) -ge "$term" ]; then
			exit 0 # stop renewing: the key expires, someone else takes over
		fi
		code=$(post "$name")
		if [ "$code" != 200 ]; then
			echo "lost $name"
			break
		fi
	done
done
