#!/usr/bin/env bash
# watch.sh — print every change below a key prefix, one JSON answer a line,
# with etcd 0.1's prefix watch (a member started with --v1-dialect=0.1).
#
#   watch.sh [-e endpoint] [-p prefix] [-i index] [-n count]
#
# Each answer of POST /v1/watch/<prefix> index=N is the first change at or
# after N below the prefix, carrying its own index: asking again from
# index+1 misses nothing. Same loop as main.go in this folder.
set -u

endpoint=${ETCD_ENDPOINT:-http://127.0.0.1:4001}
prefix=/
index=0
count=0
while getopts "e:p:i:n:" opt; do
	case $opt in
	e) endpoint=$OPTARG ;;
	p) prefix=$OPTARG ;;
	i) index=$OPTARG ;;
	n) count=$OPTARG ;;
	*) echo "usage: $0 [-e endpoint] [-p prefix] [-i index] [-n count]" >&2; exit 2 ;;
	esac
done
prefix="/${prefix#/}"
seen=0
while [ "$count" -eq 0 ] || [ "$seen" -lt "$count" ]; do
	body=$(curl -s -L -f "$endpoint/v1/watch$prefix" -d "index=$index") || {
		echo "watch: $prefix: request failed" >&2
		exit 1
	}
	echo "$body"
	index=$(($(printf '%s' "$body" | sed -n 's/.*"index":\([0-9]*\).*/\1/p') + 1))
	seen=$((seen + 1))
done
