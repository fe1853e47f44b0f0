#!/usr/bin/env bash
# Write outpost's FROM-scratch container image with plain tools (tar, gzip,
# sha256sum, printf): no daemon, no registry.
#
#   image/oci.sh image ARCH            one architecture:
#       build/oci/ARCH/                OCI image layout (index.json -> manifest)
#       build/oci/outpost-ARCH.tar     the same layout as one tar, which also
#                                      carries a docker-load manifest.json
#   image/oci.sh image ARCH edge       the outpost-edge image (README "Scaling
#       build/oci/edge-ARCH/           out"): /outpost-edge, the notices, /data
#       build/oci/outpost-edge-ARCH.tar for EDGE_DATA_DIR; no CA bundle (the
#                                      edge dials nothing), no Healthcheck (no
#                                      probe command: Kubernetes probes /readyz)
#   image/oci.sh multi ARCH...         build/oci/multi/ layout and
#                                      build/oci/outpost-multi.tar (OCI archive)
#                                      whose index.json names one image index
#                                      covering every ARCH given
#
# The image holds /outpost, the licence notices of everything linked into it
# (/licenses), Debian's Mozilla CA bundle (/etc/ssl/certs/ca-certificates.crt,
# OCI_CA=0 leaves it out) and an empty /data owned by the image USER for a
# DATA_DIR volume.  Every timestamp is SOURCE_DATE_EPOCH, tar entries are
# sorted with numeric owners, gzip -n: the same inputs give the same digests.
#
# Environment: O (build dir, default build), OCI_OUT (default $O/oci), VERSION, REVISION,
# SOURCE_DATE_EPOCH, OCI_SOURCE (annotation; default: git remote), OCI_CA,
# OCI_UID (default 65532).  Prints one summary line per image on stdout.
set -euo pipefail
export LC_ALL=C # byte order for globs, sort and find

TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
O=${O:-build}
OUT=${OCI_OUT:-$O/oci}
VERSION=${VERSION:-$(cat VERSION)}
REVISION=${REVISION:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
SDE=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
OCI_SOURCE=${OCI_SOURCE:-$(git remote get-url origin 2>/dev/null || echo unknown)}
OCI_CA=${OCI_CA:-1}
UID_=${OCI_UID:-65532}
CREATED=$(date -u -d "@$SDE" +%Y-%m-%dT%H:%M:%SZ)
# outpost, musl, BearSSL, nghttp2, c-ares: ISC/MIT; protobuf-c, PCRE2: BSD.
LICENSES="ISC AND MIT AND BSD-2-Clause AND BSD-3-Clause"
# PROG: outpost (the connector) or outpost-edge (image ARCH edge, below).
PROG=outpost
[ "${1:-}/${3:-}" != image/edge ] || { PROG=outpost-edge; OCI_CA=0; }
REF="$PROG:$VERSION"
[ "$OCI_CA" != 1 ] || LICENSES="$LICENSES AND MPL-2.0"

MT_INDEX=application/vnd.oci.image.index.v1+json
MT_MANIFEST=application/vnd.oci.image.manifest.v1+json
MT_CONFIG=application/vnd.oci.image.config.v1+json
MT_LAYER=application/vnd.oci.image.layer.v1.tar+gzip

die() { printf 'oci: error: %s\n' "$*" >&2; exit 1; }

# JSON strings are written with printf: refuse anything that would need escaping.
for v in "$VERSION" "$REVISION" "$OCI_SOURCE" "$UID_"; do
	[[ $v =~ ^[A-Za-z0-9._:/@+~=-]+$ ]] || die "unsafe value for JSON: '$v'"
done

# platform ARCH: "architecture os [variant]" in OCI terms.
platform() {
	case "$1" in
	x86_64) echo amd64 ;;
	aarch64) echo arm64 ;;
	armhf) echo arm v7 ;;
	*) die "unknown ARCH $1" ;;
	esac
}

# blob LAYOUT FILE: move FILE into LAYOUT's blob store; prints its digest.
blob() {
	local hex
	hex=$(sha256sum "$2" | cut -d' ' -f1)
	mkdir -p "$1/blobs/sha256"
	mv "$2" "$1/blobs/sha256/$hex"
	echo "sha256:$hex"
}

blob_size() { stat -c %s "$1/blobs/sha256/${2#sha256:}"; }

# The musl licence: the libc is linked into the binary too.
musl_copyright() {
	local cc
	cc=$(. scripts/toolchain.sh && toolchain_setup "$1" >/dev/null && echo "$CC")
	case "$cc" in
	*/bin/cc) echo "${cc%/bin/cc}/usr/share/doc/musl-dev/copyright" ;;
	*) echo /usr/share/doc/musl-dev/copyright ;;
	esac
}

# stage ARCH DIR: the image's file tree (modes set here, owners set by tar).
stage() {
	local arch=$1 root=$2 lic=$O/deps/$1/licenses f
	[ -x "$O/$arch/$PROG" ] || die "$O/$arch/$PROG missing (make ARCH=$arch)"
	[ -d "$lic" ] || die "$lic missing (scripts/deps.sh $arch)"
	rm -rf "$root"
	mkdir -p "$root/licenses" "$root/data"
	install -m 0755 "$O/$arch/$PROG" "$root/$PROG"
	# lwIP and cmocka are only linked into test builds, not into /$PROG.
	for f in "$lic"/*; do
		case ${f##*/} in lwip | cmocka) continue ;; esac
		install -m 0644 "$f" "$root/licenses/${f##*/}"
	done
	install -m 0644 "$(musl_copyright "$arch")" "$root/licenses/musl"
	[ ! -f LICENSE ] || install -m 0644 LICENSE "$root/licenses/outpost"
	if [ "$OCI_CA" = 1 ]; then
		mkdir -p "$root/etc/ssl/certs"
		# The bundle as update-ca-certificates builds it, but from the
		# package's files in a fixed order, so it is reproducible.
		cat /usr/share/ca-certificates/mozilla/*.crt \
			>"$root/etc/ssl/certs/ca-certificates.crt"
		chmod 0644 "$root/etc/ssl/certs/ca-certificates.crt"
		chmod 0755 "$root/etc" "$root/etc/ssl" "$root/etc/ssl/certs"
	fi
	chmod 0755 "$root" "$root/licenses"
	chmod 0770 "$root/data"
}

TAROPT=(--format=ustar --numeric-owner --mtime="@$SDE" --sort=name)

# layer ROOT TAR: /data belongs to the USER (group 0, for arbitrary-uid
# runtimes); everything else to root.  Entries stay in sorted order.
layer() {
	local root=$1 tar=$2 f top=()
	tar -C "$root" "${TAROPT[@]}" --owner="$UID_" --group=0 --no-recursion \
		-cf "$tar" data
	for f in "$root"/*; do
		[ "${f##*/}" = data ] || top+=("${f##*/}")
	done
	tar -C "$root" "${TAROPT[@]}" --owner=0 --group=0 -rf "$tar" "${top[@]}"
}

# config DIFFID ARCH: the image config (docker's Healthcheck included: the
# docker-load path reads it, OCI runtimes ignore it).
config() {
	local p variant
	read -r p variant <<<"$(platform "$2")"
	printf '{"architecture":"%s",%s"os":"linux","created":"%s",' \
		"$p" "${variant:+\"variant\":\"$variant\",}" "$CREATED"
	printf '"config":{"User":"%s","ExposedPorts":{%s},' "$UID_" "$(ports)"
	printf '"Entrypoint":["/%s"],"Cmd":["run"],' "$PROG"
	printf '"WorkingDir":"/","StopSignal":"SIGTERM",'
	if [ "$PROG" = outpost ]; then
		printf '"Healthcheck":{"Test":["CMD","/outpost","probe"],'
		printf '"Interval":10000000000,"Timeout":3000000000,'
		printf '"StartPeriod":30000000000,"Retries":3},'
	fi
	printf '"Labels":{%s}},' "$(annotations)"
	printf '"rootfs":{"type":"layers","diff_ids":["%s"]},' "$1"
	printf '"history":[{"created":"%s","created_by":"image/oci.sh"}]}' "$CREATED"
}

# The default ports: the connector's health port; the edge's tunnel port
# and front door (EDGE_LISTEN, EDGE_API_PORT).
ports() {
	case $PROG in
	outpost) printf '"8080/tcp":{}' ;;
	*) printf '"7080/tcp":{},"7443/tcp":{}' ;;
	esac
}

annotations() {
	printf '"org.opencontainers.image.title":"%s",' "$PROG"
	printf '"org.opencontainers.image.version":"%s",' "$VERSION"
	printf '"org.opencontainers.image.revision":"%s",' "$REVISION"
	printf '"org.opencontainers.image.source":"%s",' "$OCI_SOURCE"
	printf '"org.opencontainers.image.licenses":"%s",' "$LICENSES"
	printf '"org.opencontainers.image.created":"%s"' "$CREATED"
}

# image ARCH LAYOUT: write layer, config and manifest blobs; sets MAN
# (manifest digest), MAN_SIZE, CFG, LAY, and TOTAL (bytes of all blobs).
image() {
	local arch=$1 lay=$2 tmp=$2.tmp diffid
	rm -rf "$tmp" && mkdir -p "$tmp"
	stage "$arch" "$tmp/root"
	layer "$tmp/root" "$tmp/layer.tar"
	diffid=sha256:$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)
	gzip -9n <"$tmp/layer.tar" >"$tmp/layer.tar.gz"
	LAY=$(blob "$lay" "$tmp/layer.tar.gz")
	config "$diffid" "$arch" >"$tmp/config.json"
	CFG=$(blob "$lay" "$tmp/config.json")
	printf '{"schemaVersion":2,"mediaType":"%s",' "$MT_MANIFEST" >"$tmp/manifest.json"
	printf '"config":{"mediaType":"%s","digest":"%s","size":%d},' \
		"$MT_CONFIG" "$CFG" "$(blob_size "$lay" "$CFG")" >>"$tmp/manifest.json"
	printf '"layers":[{"mediaType":"%s","digest":"%s","size":%d}],' \
		"$MT_LAYER" "$LAY" "$(blob_size "$lay" "$LAY")" >>"$tmp/manifest.json"
	printf '"annotations":{%s}}' "$(annotations)" >>"$tmp/manifest.json"
	MAN=$(blob "$lay" "$tmp/manifest.json")
	MAN_SIZE=$(blob_size "$lay" "$MAN")
	TOTAL=$((MAN_SIZE + $(blob_size "$lay" "$CFG") + $(blob_size "$lay" "$LAY")))
	rm -rf "$tmp"
}

# descriptor MEDIATYPE DIGEST SIZE ARCH|"" REF|"": one index entry.
descriptor() {
	local p variant plat="" ann=""
	if [ -n "$4" ]; then
		read -r p variant <<<"$(platform "$4")"
		plat=$(printf ',"platform":{"architecture":"%s","os":"linux"%s}' \
			"$p" "${variant:+,\"variant\":\"$variant\"}")
	fi
	[ -z "$5" ] || ann=$(printf ',"annotations":{"org.opencontainers.image.ref.name":"%s"}' "$5")
	printf '{"mediaType":"%s","digest":"%s","size":%d%s%s}' "$1" "$2" "$3" "$plat" "$ann"
}

# finish LAYOUT ENTRIES: oci-layout and index.json.
finish() {
	printf '{"imageLayoutVersion":"1.0.0"}' >"$1/oci-layout"
	printf '{"schemaVersion":2,"mediaType":"%s","manifests":[%s]}' \
		"$MT_INDEX" "$2" >"$1/index.json"
}

# archive LAYOUT TAR: the layout as one reproducible tar.
archive() {
	(cd "$1" && LC_ALL=C find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort) |
		tar -C "$1" "${TAROPT[@]}" --owner=0 --group=0 --no-recursion \
			-cf "$2.tmp" -T -
	mv "$2.tmp" "$2"
}

kib() { echo $((($1 + 1023) / 1024)); }

one() {
	local arch=$1 lay=$OUT/$1 tar=$OUT/outpost-$1.tar
	[ "$PROG" = outpost ] || { lay=$OUT/edge-$1; tar=$OUT/$PROG-$1.tar; }
	rm -rf "$lay"
	image "$arch" "$lay"
	finish "$lay" "$(descriptor "$MT_MANIFEST" "$MAN" "$MAN_SIZE" "$arch" "$REF")"
	# docker load reads manifest.json; it accepts gzip layers and checks the
	# config's diff_ids against them.
	printf '[{"Config":"blobs/sha256/%s","RepoTags":["%s","%s:latest"],"Layers":["blobs/sha256/%s"]}]' \
		"${CFG#sha256:}" "$REF" "$PROG" "${LAY#sha256:}" >"$lay/manifest.json"
	archive "$lay" "$tar"
	printf 'oci: %s %s: %d bytes compressed (%d KiB; archive %d KiB), manifest %s\n' \
		"$REF" "$arch" "$TOTAL" "$(kib "$TOTAL")" "$(kib "$(stat -c %s "$tar")")" "$MAN"
}

multi() {
	local lay=$OUT/multi arch entries="" idx
	rm -rf "$lay"
	for arch in "$@"; do
		image "$arch" "$lay"
		entries+=${entries:+,}$(descriptor "$MT_MANIFEST" "$MAN" "$MAN_SIZE" "$arch" "")
		printf 'oci: %s %s: %d bytes compressed (%d KiB), manifest %s\n' \
			"$REF" "$arch" "$TOTAL" "$(kib "$TOTAL")" "$MAN"
	done
	printf '{"schemaVersion":2,"mediaType":"%s","manifests":[%s],"annotations":{%s}}' \
		"$MT_INDEX" "$entries" "$(annotations)" >"$lay/index.tmp"
	idx=$(blob "$lay" "$lay/index.tmp")
	finish "$lay" "$(descriptor "$MT_INDEX" "$idx" "$(blob_size "$lay" "$idx")" "" "$REF")"
	archive "$lay" "$OUT/outpost-multi.tar"
	printf 'oci: %s multi-arch (%s): index %s\n' "$REF" "$*" "$idx"
}

mkdir -p "$OUT"
case "${1:-}" in
image)
	[ -z "${3:-}" ] || [ "$3" = edge ] || die "image ARCH [edge]: unknown image '$3'"
	one "${2:?ARCH}"
	;;
multi)
	shift
	[ $# -gt 0 ] || die "multi needs at least one ARCH"
	multi "$@"
	;;
*) die "usage: oci.sh image ARCH [edge] | multi ARCH..." ;;
esac
