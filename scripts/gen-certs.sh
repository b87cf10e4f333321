#!/usr/bin/env bash
# gen-certs.sh: mint a throwaway PKI for developing and testing etcd-classic
# with TLS. Not for production use: keys are unencrypted, and nothing but
# 127.0.0.1 and localhost (plus GEN_CERTS_SANS) is in the certificates.
#
# Usage: scripts/gen-certs.sh [-f] [OUTDIR]
#
# Creates in OUTDIR (default ${TMPDIR:-/tmp}/etcd-classic-certs, outside the
# source tree: private keys do not belong in it):
#   ca.crt, ca.key                    the CA signing everything below
#   server.crt, server.key            SANs 127.0.0.1, localhost; serverAuth, clientAuth
#   client.crt, client.key            clientAuth
#   peer1..3.crt, peer1..3.key        SANs 127.0.0.1, localhost; serverAuth, clientAuth
#   other-ca.crt, other-ca.key        an unrelated CA, for negative tests
#   other-client.crt, other-client.key  clientAuth, signed by other-ca
#
# Existing files are not overwritten unless -f is given. Everything is made
# in a temporary directory and verified with `openssl verify` before being
# moved into OUTDIR, so a failed run leaves OUTDIR untouched.
#
# Environment:
#   GEN_CERTS_DAYS  validity of the leaf certificates in days (default 365)
#   GEN_CERTS_SANS  extra subject alternative names for server and peer
#                   certificates, OpenSSL syntax, e.g. "DNS:node1,IP:10.0.0.1"
#
# Requires bash and openssl (1.1.1 or later) only.
set -euo pipefail

prog=${0##*/}

usage() {
	cat <<EOF
Usage: $prog [-f] [OUTDIR]

Generate a test CA with server, client and peer certificates (and an
unrelated CA with a client certificate) in OUTDIR (default
${TMPDIR:-/tmp}/etcd-classic-certs).

  -f   overwrite existing files
  -h   show this help
EOF
}

die() {
	echo "$prog: $*" >&2
	exit 1
}

force=0
while getopts ':fh' opt; do
	case $opt in
	f) force=1 ;;
	h)
		usage
		exit 0
		;;
	*)
		usage >&2
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))
if [ $# -gt 1 ]; then
	usage >&2
	exit 2
fi
outdir=${1:-${TMPDIR:-/tmp}/etcd-classic-certs}
leaf_days=${GEN_CERTS_DAYS:-365}
ca_days=3650
extra_sans=${GEN_CERTS_SANS:-}

case $leaf_days in
'' | *[!0-9]*) die "GEN_CERTS_DAYS must be a positive number of days, got '$leaf_days'" ;;
esac
[ "$((10#$leaf_days))" -gt 0 ] || die "GEN_CERTS_DAYS must be a positive number of days, got '$leaf_days'"
command -v openssl >/dev/null 2>&1 || die "openssl not found in PATH"

names=(ca server client peer1 peer2 peer3 other-ca other-client)

existing=()
for name in "${names[@]}"; do
	for ext in crt key; do
		if [ -e "$outdir/$name.$ext" ]; then
			existing+=("$outdir/$name.$ext")
		fi
	done
done
if [ ${#existing[@]} -gt 0 ] && [ "$force" -eq 0 ]; then
	echo "$prog: refusing to overwrite existing files (use -f to overwrite):" >&2
	printf '  %s\n' "${existing[@]}" >&2
	exit 1
fi

umask 077
work=$(mktemp -d "${TMPDIR:-/tmp}/gen-certs.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/out"

# quietly runs a command, showing its stderr only when it fails.
quietly() {
	if ! "$@" 2>"$work/stderr"; then
		cat "$work/stderr" >&2
		return 1
	fi
}

# serial prints a random positive 128-bit serial number for -set_serial.
serial() {
	echo "0x$(openssl rand -hex 16)"
}

# new_key writes an unencrypted ECDSA P-256 key (PKCS #8) to $1.
new_key() {
	quietly openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" ||
		die "cannot generate key $1"
}

# req_config writes an openssl req configuration with subject CN=$2 to $1,
# so that the system openssl.cnf plays no part.
req_config() {
	cat >"$1" <<EOF
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca

[dn]
O = etcd-classic
CN = $2

[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
}

# make_ca NAME CN: a self-signed CA in NAME.crt / NAME.key.
make_ca() {
	local name=$1 cn=$2
	req_config "$work/$name.cnf" "$cn"
	new_key "$work/out/$name.key"
	quietly openssl req -new -x509 -sha256 -config "$work/$name.cnf" \
		-key "$work/out/$name.key" -days "$ca_days" -set_serial "$(serial)" \
		-out "$work/out/$name.crt" ||
		die "cannot create CA $name"
}

# make_leaf NAME CN CA KIND: a certificate signed by CA. KIND is "server"
# (serverAuth and clientAuth, SANs 127.0.0.1 and localhost) or "client"
# (clientAuth only, no SANs).
make_leaf() {
	local name=$1 cn=$2 ca=$3 kind=$4 eku sans=""
	case $kind in
	server)
		eku="serverAuth, clientAuth"
		sans="subjectAltName = IP:127.0.0.1, DNS:localhost${extra_sans:+, $extra_sans}"
		;;
	client) eku="clientAuth" ;;
	*) die "internal error: unknown certificate kind $kind" ;;
	esac
	req_config "$work/$name.cnf" "$cn"
	cat >"$work/$name.ext" <<EOF
[v3_leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = $eku
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
$sans
EOF
	new_key "$work/out/$name.key"
	quietly openssl req -new -sha256 -config "$work/$name.cnf" \
		-key "$work/out/$name.key" -out "$work/$name.csr" ||
		die "cannot create certificate request for $name"
	quietly openssl x509 -req -sha256 -in "$work/$name.csr" \
		-CA "$work/out/$ca.crt" -CAkey "$work/out/$ca.key" -set_serial "$(serial)" \
		-days "$leaf_days" -extfile "$work/$name.ext" -extensions v3_leaf \
		-out "$work/out/$name.crt" ||
		die "cannot sign certificate $name"
}

make_ca ca "etcd-classic test CA"
make_leaf server server ca server
make_leaf client client ca client
for i in 1 2 3; do
	make_leaf "peer$i" "peer$i" ca server
done
make_ca other-ca "etcd-classic other test CA"
make_leaf other-client other-client other-ca client

# Check the chains before handing anything out.
openssl verify -CAfile "$work/out/ca.crt" \
	"$work/out/server.crt" "$work/out/client.crt" \
	"$work/out/peer1.crt" "$work/out/peer2.crt" "$work/out/peer3.crt" >/dev/null ||
	die "generated certificates do not verify against ca.crt"
openssl verify -CAfile "$work/out/other-ca.crt" "$work/out/other-client.crt" >/dev/null ||
	die "other-client.crt does not verify against other-ca.crt"
if openssl verify -CAfile "$work/out/ca.crt" "$work/out/other-client.crt" >/dev/null 2>&1; then
	die "other-client.crt unexpectedly verifies against ca.crt"
fi

chmod 0644 "$work"/out/*.crt
chmod 0600 "$work"/out/*.key
mkdir -p "$outdir"
for name in "${names[@]}"; do
	mv -f "$work/out/$name.crt" "$work/out/$name.key" "$outdir/"
done

describe() {
	local name=$1 what=$2
	printf '  %-18s %-18s %s\n' "$name.crt" "$name.key" "$what"
}
echo "$prog: made in $outdir:"
describe ca "CA"
describe server "server+client auth, SANs 127.0.0.1 localhost${extra_sans:+ $extra_sans}, signed by ca"
describe client "client auth, signed by ca"
for i in 1 2 3; do
	describe "peer$i" "server+client auth, SANs 127.0.0.1 localhost${extra_sans:+ $extra_sans}, signed by ca"
done
describe other-ca "unrelated CA (negative tests)"
describe other-client "client auth, signed by other-ca (negative tests)"
