#!/usr/bin/env bash
# scripts/compat.sh — the compat target: the real v2 clients,
# unchanged, against a freshly built etcd-classic. See docs/compat.md.
#
#   1. etcdctl in v2 mode (Debian etcd-client): every v2 command against
#      1 and 3 members, compared with golden outputs recorded from etcd
#      3.4 (compat/clientv2/etcdctl).
#   2. python-etcd 0.4.5's own integration suite (Debian python3-etcd),
#      which starts the server as `etcd` from PATH.
#   3. go.etcd.io/etcd/client/v2 (compat/clientv2, a module of its own)
#      against 1 and 3 members.
#
# Prints each suite's result and, last, exactly "N passed, M failed";
# exits 0 only when nothing failed. A suite that cannot run counts as a
# failure. `go test ./...` at the repository root does not run any of
# this.
#
# Environment:
#   COMPAT_SUITES       which suites (default "etcdctl python-etcd clientv2")
#   COMPAT_SERVER       server binary instead of a fresh build (e.g.
#                       /usr/bin/etcd, to check the suites against etcd 3.4)
#   COMPAT_SERVER_ARGS  flags put first on every server command line
#                       (etcd 3.4 needs --enable-v2)
#   COMPAT_KEEP=1       keep the work directory (logs, JSON results)
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
suites=${COMPAT_SUITES:-etcdctl python-etcd clientv2}
PY=/usr/bin/python3 # Debian's python, where python3-etcd lives (not a pyenv one)

work=$(mktemp -d /tmp/compat.XXXXXX)
cleanup() {
	if [ "${COMPAT_KEEP:-0}" = 1 ]; then
		echo "compat: work directory kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

total_pass=0
total_fail=0
summary=()

# tally NAME PASSED FAILED [NOTE]: adds a suite's result to the totals.
tally() {
	total_pass=$((total_pass + $2))
	total_fail=$((total_fail + $3))
	summary+=("$1: $2 passed, $3 failed${4:+ ($4)}")
	echo "$1: $2 passed, $3 failed${4:+ ($4)}"
}

echo "== compat: packages"
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
want_pkgs=(etcd-client python3-etcd python3-nose python3-pytest python3-openssl)
if [ "$(id -u)" = 0 ] && ! command -v ip >/dev/null 2>&1; then
	want_pkgs+=(iproute2) # `ip link set lo up` inside the suite's network namespace
fi
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
	for p in "${want_pkgs[@]}"; do pkg_installed "$p" || missing+=("$p"); done
fi
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "installing: ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -q --no-install-recommends "${missing[@]}" >"$work/apt.log" 2>&1 ||
			{ apt-get update -q >>"$work/apt.log" 2>&1 &&
				apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$work/apt.log" 2>&1; } ||
			{ echo "apt-get failed:"; tail -20 "$work/apt.log"; }
	else
		echo "missing packages (need root and apt-get to install): ${missing[*]}"
	fi
fi

echo "== compat: server"
if [ -n "${COMPAT_SERVER:-}" ]; then
	server=$COMPAT_SERVER
else
	server=$work/etcd-classic
	if ! go build -o "$server" .; then
		echo "build failed"
		tally "build" 0 1
		echo "${total_pass} passed, ${total_fail} failed"
		exit 1
	fi
fi
server_args=${COMPAT_SERVER_ARGS:-}
echo "server: $server $server_args"

# count_go JSON: leaf test results of a `go test -json` run, as
# "passed failed skipped"; prints the output of failed tests to stderr.
count_go() {
	"$PY" - "$1" <<'EOF'
import json, sys
results, output, pkg_fail = {}, {}, False
for line in open(sys.argv[1], errors="replace"):
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    t, a = ev.get("Test"), ev.get("Action")
    if t is None:
        pkg_fail |= a == "fail"
        if a == "output" and "FAIL" in ev.get("Output", ""):
            output.setdefault("", []).append(ev["Output"])
        continue
    if a == "output":
        output.setdefault(t, []).append(ev["Output"])
    elif a in ("pass", "fail", "skip"):
        results[t] = a
leaves = [t for t in results if not any(o.startswith(t + "/") for o in results)]
passed = sum(results[t] == "pass" for t in leaves)
failed = [t for t in leaves if results[t] == "fail"]
skipped = sum(results[t] == "skip" for t in leaves)
for t in failed:
    sys.stderr.write("--- FAIL %s\n%s" % (t, "".join(output.get(t, []))))
if pkg_fail and not failed:
    # the package failed outside any test (build error, panic, timeout)
    sys.stderr.write("".join(output.get("", [])))
    failed = ["(package)"]
print(passed, len(failed), skipped)
EOF
}

# go_suite NAME JSON: tallies one `go test -json` result file.
go_suite() {
	local counts p f s log
	log="$work/$(printf '%s' "$1" | tr -c 'A-Za-z0-9' '_').failures"
	if ! counts=$(count_go "$2" 2>"$log"); then
		cat "$log" "$2"
		tally "$1" 0 1 "results unreadable"
		return
	fi
	read -r p f s <<<"$counts"
	if [ "$f" -gt 0 ]; then sed 's/^/    /' "$log"; fi
	if [ "$((p + f))" = 0 ]; then
		sed 's/^/    /' "$2" | tail -60
		tally "$1" 0 1 "no test ran"
	else
		tally "$1" "$p" "$f" "$s skipped"
	fi
}

suite_etcdctl() {
	local ver
	ver=$(ETCDCTL_API=2 etcdctl --version 2>/dev/null | sed -n 1p)
	echo "== compat: etcdctl v2 (${ver:-etcdctl missing}), 1 and 3 members"
	if ! command -v etcdctl >/dev/null 2>&1; then
		tally "etcdctl v2" 0 1 "etcdctl not installed"
		return
	fi
	(cd compat/clientv2 && COMPAT_ETCD=$server COMPAT_ETCD_ARGS=$server_args \
		COMPAT_ETCDCTL=$(command -v etcdctl) go test -count=1 -json -timeout 5m ./etcdctl) >"$work/etcdctl.json" 2>&1
	go_suite "etcdctl v2" "$work/etcdctl.json"
}

suite_clientv2() {
	echo "== compat: go.etcd.io/etcd/client/v2 ($(grep 'go.etcd.io/etcd/client/v2 ' compat/clientv2/go.mod | awk '{print $NF}'))"
	if ! (cd compat/clientv2 && go build -o "$work/compat-cluster" ./cmd/compat-cluster); then
		tally "client/v2" 0 1 "compat-cluster did not build"
		return
	fi
	local n
	for n in 1 3; do
		(cd compat/clientv2 && "$work/compat-cluster" -bin "$server" -args="$server_args" -n "$n" -dir "$(mktemp -d "$work/cv2-$n.XXXX")" -- \
			go test -count=1 -json -timeout 5m .) >"$work/clientv2-$n.json" 2>&1
		go_suite "client/v2, $n member(s)" "$work/clientv2-$n.json"
	done
}

suite_python() {
	local ver
	ver=$(dpkg-query -W -f='${Version}' python3-etcd 2>/dev/null)
	echo "== compat: python-etcd integration suite (python3-etcd ${ver:-missing})"
	if ! "$PY" -c 'import etcd.tests.integration, nose, pytest, OpenSSL' 2>"$work/pyimport.log"; then
		cat "$work/pyimport.log"
		tally "python-etcd" 0 1 "python3-etcd, -nose, -pytest or -openssl missing"
		return
	fi
	local d=$work/pyetcd
	mkdir -p "$d/bin" "$d/tmp" "$d/run"
	# The suite runs the first executable named `etcd` in PATH. (The
	# variables are not named ETCD_*: etcd 3.4 reads those as flags.)
	cat >"$d/bin/etcd" <<'EOF'
#!/bin/sh
# shellcheck disable=SC2086
exec "$COMPAT_PYETCD_SERVER" $COMPAT_PYETCD_ARGS "$@"
EOF
	chmod +x "$d/bin/etcd"
	# The suite's test CA signs with SHA-1, which OpenSSL 3 refuses at
	# its default security level; lower it for the Python client only.
	cat >"$d/openssl.cnf" <<'EOF'
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
CipherString = DEFAULT:@SECLEVEL=0
EOF
	local cmd=("$PY" -m pytest -q -rfE --tb=short -p no:cacheprovider -W ignore::DeprecationWarning
		--junitxml="$d/results.xml" --pyargs etcd.tests.integration)
	local isolate=0
	# The suite's ports are fixed (clients 6001-6004, peers 8001-8003): run
	# it in a private network namespace when we can.
	if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 &&
		unshare -n true 2>/dev/null; then
		isolate=1
	fi
	echo "network namespace: $([ $isolate = 1 ] && echo yes || echo 'no (ports 6001-6004, 8001-8003 must be free)')"
	(
		cd "$d/run" || exit 1
		export PATH="$d/bin:$PATH" TMPDIR="$d/tmp" OPENSSL_CONF="$d/openssl.cnf"
		export COMPAT_PYETCD_SERVER=$server COMPAT_PYETCD_ARGS=$server_args
		if [ $isolate = 1 ]; then
			unshare -n bash -c 'ip link set lo up && exec "$@"' _ "${cmd[@]}"
		else
			"${cmd[@]}"
		fi
	) >"$d/pytest.log" 2>&1
	local counts
	if ! counts=$("$PY" - "$d/results.xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
k = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - k, f, k)
EOF
	); then
		tail -40 "$d/pytest.log"
		tally "python-etcd" 0 1 "no results"
		return
	fi
	local p f s
	read -r p f s <<<"$counts"
	if [ "$f" -gt 0 ]; then sed 's/^/    /' "$d/pytest.log"; else grep -E '^[0-9]+ passed|^=+ .* in ' "$d/pytest.log" | tail -1; fi
	if [ "$((p + f))" = 0 ]; then
		tally "python-etcd" 0 1 "no test ran"
	else
		tally "python-etcd" "$p" "$f" "$s skipped"
	fi
}

for s in $suites; do
	case $s in
	etcdctl) suite_etcdctl ;;
	python-etcd) suite_python ;;
	clientv2) suite_clientv2 ;;
	*)
		echo "unknown suite $s"
		tally "$s" 0 1 "unknown suite"
		;;
	esac
done

echo "== compat summary"
printf '%s\n' "${summary[@]}"
echo "${total_pass} passed, ${total_fail} failed"
[ "$total_fail" = 0 ]
