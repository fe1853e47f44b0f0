#!/bin/sh
# Development PKI for outpost-edge and a connector, with the openssl CLI.
#
#   dev-pki.sh DIR [NAME [TRUST_DOMAIN]]       (defaults: demo, outpost.local)
#   dev-pki.sh --sign-csr DIR CSR NAME OUT [TRUST_DOMAIN]
#
# The first form writes into DIR (created; keys mode 0600), reusing an
# existing CA so certificates issued earlier stay valid:
#   ca.pem ca.key                 the development CA (EC P-256, 30 days)
#   edge.pem edge.key             the edge's server certificate:
#                                 SAN IP:127.0.0.1, IP:::1, DNS:localhost
#   connector-NAME.pem/.key       a connector client certificate with the
#                                 URI SAN spiffe://TRUST_DOMAIN/connector/NAME
#                                 (the identity outpost-edge reads) and CN NAME
#
# The second form is the enrolment seam: it signs a connector's CSR (made
# with its own key, e.g. by `outpost csr` later) with the same CA and the
# same extensions, so the private key never leaves the connector.  The
# enrolment issue replaces it with the edge signing CSRs itself.
set -eu

days=30

ext_client() {
	printf 'basicConstraints=critical,CA:FALSE\n'
	printf 'keyUsage=critical,digitalSignature,keyEncipherment\n'
	printf 'extendedKeyUsage=clientAuth\n'
	printf 'subjectAltName=URI:spiffe://%s/connector/%s\n' "$2" "$1"
}

ext_server() {
	printf 'basicConstraints=critical,CA:FALSE\n'
	printf 'keyUsage=critical,digitalSignature,keyEncipherment\n'
	printf 'extendedKeyUsage=serverAuth\n'
	printf 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n'
}

ec_key() {
	openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null
	chmod 600 "$1"
}

# ca DIR: create the CA unless it exists.
ca() {
	[ -s "$1/ca.pem" ] && [ -s "$1/ca.key" ] && return 0
	ec_key "$1/ca.key"
	printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n' >"$1/ca.ext"
	openssl req -new -key "$1/ca.key" -subj "/CN=outpost development CA" \
		-out "$1/ca.csr" 2>/dev/null
	openssl x509 -req -in "$1/ca.csr" -signkey "$1/ca.key" -days "$days" \
		-sha256 -extfile "$1/ca.ext" -out "$1/ca.pem" 2>/dev/null
	rm -f "$1/ca.csr" "$1/ca.ext"
}

# sign DIR CSR EXTFILE OUT: issue a certificate from the CA.
sign() {
	openssl x509 -req -in "$2" -CA "$1/ca.pem" -CAkey "$1/ca.key" \
		-CAcreateserial -days "$days" -sha256 -extfile "$3" \
		-out "$4" 2>/dev/null
}

# leaf DIR BASENAME SUBJECT EXTFILE: key + CSR + certificate.
leaf() {
	ec_key "$1/$2.key"
	openssl req -new -key "$1/$2.key" -subj "$3" -out "$1/$2.csr" 2>/dev/null
	sign "$1" "$1/$2.csr" "$4" "$1/$2.pem"
	rm -f "$1/$2.csr" "$4"
}

valid_name() {
	case $1 in
	'' | . | .. | *[!A-Za-z0-9._-]*) echo "dev-pki: bad connector name: $1" >&2; exit 2 ;;
	esac
}

if [ "${1:-}" = --sign-csr ]; then
	dir=${2:?usage: dev-pki.sh --sign-csr DIR CSR NAME OUT [TRUST_DOMAIN]}
	csr=${3:?CSR}
	name=${4:?NAME}
	out=${5:?OUT}
	valid_name "$name"
	ca "$dir"
	ext_client "$name" "${6:-outpost.local}" >"$dir/sign.ext"
	sign "$dir" "$csr" "$dir/sign.ext" "$out"
	rm -f "$dir/sign.ext"
	exit 0
fi

dir=${1:?usage: dev-pki.sh DIR [NAME [TRUST_DOMAIN]]}
name=${2:-demo}
domain=${3:-outpost.local}
valid_name "$name"
mkdir -p "$dir"
ca "$dir"
ext_server >"$dir/edge.ext"
leaf "$dir" edge "/CN=outpost-edge" "$dir/edge.ext"
ext_client "$name" "$domain" >"$dir/client.ext"
leaf "$dir" "connector-$name" "/CN=$name" "$dir/client.ext"
rm -f "$dir/ca.srl"
echo "dev-pki: $dir: ca.pem, edge.pem, connector-$name.pem (spiffe://$domain/connector/$name)"
