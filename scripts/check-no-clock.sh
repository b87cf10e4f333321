#!/usr/bin/env bash
# The determinism guard (store/DESIGN.md): the store and the FSM's apply path
# never read the clock or use randomness. Time enters as data.
# Exits non-zero and lists the offending lines otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

pattern='time\.Now\(|time\.Since\(|time\.Until\(|time\.After\(|time\.Tick\(|time\.NewTimer\(|time\.NewTicker\(|math/rand|crypto/rand'
bad=0
# store/: every non-test file.
if grep -nE "$pattern" $(ls store/*.go | grep -v _test.go); then bad=1; fi
# raftfsm/: the files of the apply path.
for f in raftfsm/fsm.go raftfsm/command.go raftfsm/membership.go; do
	if grep -nE "$pattern" "$f"; then bad=1; fi
done
if [ "$bad" -ne 0 ]; then
	echo "check-no-clock: the deterministic code above reads the clock or randomness" >&2
	exit 1
fi
echo "check-no-clock: ok"
