#!/usr/bin/env bash
# Build a signed update bundle (issue #21; format in docs/updates.md).
#
#   scripts/update.sh PARTSDIR OUTDIR
#
# PARTSDIR holds what scripts/image.sh leaves in $OUT/$NAME.parts/:
# root.erofs, root.verity, uki-a.efi, uki-b.efi, version, arch.  Writes
# OUTDIR/outpost-<version>-<arch>.update and prints its path.  The manifest
# is signed (RSA PKCS#1 v1.5, SHA-256) with SIGNING_KEY / SIGNING_CERT, or
# the development key of scripts/image.sh (DEV_KEY_DIR, default
# OUTDIR/../dev-signing) when unset.  UPDATE_MIN_VERSION (default 0) is the
# oldest running version the bundle applies to.  Deterministic: the same
# inputs and key give the same bytes.
set -euo pipefail

PARTS=$1 OUT=$(mkdir -p "$2" && cd "$2" && pwd)
log() { echo "update: $*" >&2; }
die() { log "$*"; exit 100; }

VERSION_RE='^(0|[1-9][0-9]{0,8})(\.(0|[1-9][0-9]{0,8})){0,3}$'
VERSION=$(cat "$PARTS/version") ARCH=$(cat "$PARTS/arch")
MIN=${UPDATE_MIN_VERSION:-0}
[[ $VERSION =~ $VERSION_RE ]] || die "version '$VERSION' is not a dotted number"
[[ $MIN =~ $VERSION_RE ]] || die "UPDATE_MIN_VERSION '$MIN' is not a dotted number"
[[ $ARCH =~ ^[a-z0-9_-]{1,15}$ ]] || die "arch '$ARCH' is not a name"

if [ -n "${SIGNING_KEY:-}" ] && [ -n "${SIGNING_CERT:-}" ]; then
	KEY=$SIGNING_KEY
else
	KEY=${DEV_KEY_DIR:-$OUT/../dev-signing}/outpost-DEVELOPMENT-ONLY.key
	[ -f "$KEY" ] || die "no SIGNING_KEY/SIGNING_CERT and no development key $KEY (make image makes it)"
fi

# Parts start at 4096 (past the largest header: magic, 2048 bytes of
# manifest, a 1024-byte signature), each on a 4096-byte boundary.
DATA=4096
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
{
	echo "outpost-update 1"
	echo "version $VERSION"
	echo "arch $ARCH"
	echo "min-version $MIN"
} >"$W/manifest"
off=$DATA
: >"$W/layout"
for p in root:root.erofs verity:root.verity uki-a:uki-a.efi uki-b:uki-b.efi; do
	name=${p%%:*} file=$PARTS/${p#*:}
	[ -f "$file" ] || die "missing part $file"
	size=$(stat -c %s "$file")
	sum=$(sha256sum <"$file" | cut -d' ' -f1)
	echo "part $name $off $size $sum" >>"$W/manifest"
	echo "$off $file" >>"$W/layout"
	off=$(((off + size + 4095) / 4096 * 4096))
done
openssl dgst -sha256 -sign "$KEY" -out "$W/sig" "$W/manifest"

be32() { printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)))"; }
dst=$OUT/outpost-$VERSION-$ARCH.update
{
	printf 'OUTPUPD1'
	be32 "$(stat -c %s "$W/manifest")"
	cat "$W/manifest"
	be32 "$(stat -c %s "$W/sig")"
	cat "$W/sig"
} >"$W/bundle"
[ "$(stat -c %s "$W/bundle")" -le "$DATA" ] || die "header over $DATA bytes"
while read -r o f; do
	dd if="$f" of="$W/bundle" bs=4096 seek=$((o / 4096)) conv=notrunc status=none
done <"$W/layout"
mv "$W/bundle" "$dst.tmp" && mv "$dst.tmp" "$dst"
echo "$dst"
