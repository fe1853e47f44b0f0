#!/bin/sh
# Generate a throw-away test PKI with the openssl CLI (never committed).
#
#   pki.sh OUTDIR [CLIENT_NAME...]      (default client name: "test")
#
# OUTDIR receives (PEM; *.key are private keys, mode 0600):
#   ca.pem ca.key              root CA (EC P-256)
#   inter.pem inter.key        intermediate CA signed by the root
#   server.pem server.key      server cert, EC P-256, SAN DNS:localhost,
#                              IP:127.0.0.1, IP:::1 (serverAuth)
#   server_rsa.pem/.key        the same with an RSA 2048 key
#   server_expired.pem/.key    expired in 2020 (same names, signed by ca)
#   server_wrongca.pem/.key    signed by other_ca (not trusted by ca.pem)
#   server_badname.pem/.key    valid, but only for DNS:wrong.test
#   server_chain.pem/.key      leaf signed by inter; file = leaf + inter
#   other_ca.pem other_ca.key  an unrelated root
#   for each CLIENT_NAME n (URI SAN spiffe://outpost.test/connector/n,
#   CN connector-n, clientAuth):
#     client-n.pem/.key         EC P-256, SEC1 key
#     client-n-rsa.pem/.key     RSA 2048, PKCS#1 key
#   and for the first client name only:
#     client-p384.pem/.key      EC P-384, PKCS#8 key
#     client-rsa8.pem/.key      RSA 2048, PKCS#8 key
#     client-chain.pem/.key     leaf signed by inter, file = leaf + inter
#     client-expired.pem/.key   expired; client-wrongca.pem/.key other CA
#   rsa1024.key                 too weak, for negative tests
set -eu

out=${1:?usage: pki.sh OUTDIR [CLIENT_NAME...]}
shift
[ $# -gt 0 ] || set -- test
mkdir -p "$out"
cd "$out"
umask 077

ec_key() { openssl ecparam -name "${2:-prime256v1}" -genkey -noout -out "$1" 2>/dev/null; }
p8_key() { openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:$2" -out "$1" 2>/dev/null; }
rsa_key() { openssl genrsa -traditional -out "$1" "${2:-2048}" 2>/dev/null; }
rsa8_key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }

# ext NAME KIND SAN: write an extension file for a leaf or a CA.
ext() {
	case $2 in
	ca) printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n' ;;
	server) printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$3" ;;
	client) printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\nsubjectAltName=%s\n' "$3" ;;
	esac >"$1.ext"
}

# sign NAME KEY SUBJECT KIND SAN ISSUER [DAYS]: a cert for KEY signed by ISSUER.
sign() {
	ext "$1" "$4" "${5:-}"
	openssl req -new -key "$2" -subj "$3" -out "$1.csr" 2>/dev/null
	openssl x509 -req -in "$1.csr" -CA "$6.pem" -CAkey "$6.key" \
		-CAcreateserial -days "${7:-30}" -sha256 -extfile "$1.ext" \
		-out "$1.pem" 2>/dev/null
	rm -f "$1.csr" "$1.ext"
}

# selfsigned NAME SUBJECT: a root CA.
selfsigned() {
	ec_key "$1.key"
	ext "$1" ca
	openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
	openssl x509 -req -in "$1.csr" -signkey "$1.key" -days 30 -sha256 \
		-extfile "$1.ext" -out "$1.pem" 2>/dev/null
	rm -f "$1.csr" "$1.ext"
}

# expired NAME KEY SUBJECT KIND SAN: signed by ca, valid only in 2020.
expired() {
	mkdir -p ca.db && : >ca.db/index.txt && echo 1000 >ca.db/serial
	cat >ca.db/ca.cnf <<-EOF
	[ca]
	default_ca = d
	[d]
	database = ca.db/index.txt
	serial = ca.db/serial
	new_certs_dir = ca.db
	default_md = sha256
	policy = p
	unique_subject = no
	[p]
	commonName = supplied
	EOF
	ext "$1" "$4" "$5"
	openssl req -new -key "$2" -subj "$3" -out "$1.csr" 2>/dev/null
	openssl ca -batch -config ca.db/ca.cnf -cert ca.pem -keyfile ca.key \
		-in "$1.csr" -out "$1.pem" -notext -extfile "$1.ext" \
		-startdate 20200101000000Z -enddate 20200201000000Z 2>/dev/null
	rm -rf ca.db "$1.csr" "$1.ext"
}

san_srv='DNS:localhost,IP:127.0.0.1,IP:::1'
selfsigned ca '/CN=outpost test root'
selfsigned other_ca '/CN=outpost unrelated root'
ec_key inter.key
sign inter inter.key '/CN=outpost test intermediate' ca '' ca

ec_key server.key
sign server server.key '/CN=localhost' server "$san_srv" ca
rsa_key server_rsa.key
sign server_rsa server_rsa.key '/CN=localhost' server "$san_srv" ca
ec_key server_expired.key
expired server_expired server_expired.key '/CN=localhost' server "$san_srv"
ec_key server_wrongca.key
sign server_wrongca server_wrongca.key '/CN=localhost' server "$san_srv" other_ca
ec_key server_chain.key
sign server_chain_leaf server_chain.key '/CN=localhost' server "$san_srv" inter
cat server_chain_leaf.pem inter.pem >server_chain.pem
rm -f server_chain_leaf.pem
ec_key server_badname.key
sign server_badname server_badname.key '/CN=wrong.test' server 'DNS:wrong.test' ca

first=$1
for n in "$@"; do
	uri="URI:spiffe://outpost.test/connector/$n"
	ec_key "client-$n.key"
	sign "client-$n" "client-$n.key" "/CN=connector-$n" client "$uri" ca
	rsa_key "client-$n-rsa.key"
	sign "client-$n-rsa" "client-$n-rsa.key" "/CN=connector-$n" client "$uri" ca
done
uri="URI:spiffe://outpost.test/connector/$first"
p8_key client-p384.key P-384
sign client-p384 client-p384.key "/CN=connector-$first" client "$uri" ca
rsa8_key client-rsa8.key
sign client-rsa8 client-rsa8.key "/CN=connector-$first" client "$uri" ca
ec_key client-chain.key
sign client-chain-leaf client-chain.key "/CN=connector-$first" client "$uri" inter
cat client-chain-leaf.pem inter.pem >client-chain.pem
rm -f client-chain-leaf.pem
ec_key client-expired.key
expired client-expired client-expired.key "/CN=connector-$first" client "$uri"
ec_key client-wrongca.key
sign client-wrongca client-wrongca.key "/CN=connector-$first" client "$uri" other_ca
rsa_key rsa1024.key 1024
rm -f ./*.srl
