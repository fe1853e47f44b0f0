#!/usr/bin/env bash
# Assemble a static musl sysroot for a cross target from Debian's target
# packages and print its path on stdout (logs go to stderr).
#
#   scripts/sysroot.sh ARCH       ARCH: aarch64 | armhf (a board with a
#                                 BOARD_GNU_TRIPLET in its board.env)
#
# The .deb files pinned in scripts/sysroot.lock (musl-dev and the kernel UAPI
# headers of the cross toolchain) are downloaded with apt using a private
# package-list directory inside the cache, so the host's apt state and its
# architecture list are never touched (no `dpkg --add-architecture`).  Each
# .deb is checked against the lock, unpacked, and a gcc specs file plus a
# `cc` wrapper around Debian's gcc-<triplet> are written next to it.
# The Debian architecture and the gcc and musl triplets come from the
# target's board/<target>/board.env (scripts/board.sh).
# Result: ${XDG_CACHE_HOME:-$HOME/.cache}/outpost/sysroot/ARCH-HASH, reused
# while the lock, the board.env and this script are unchanged.
set -euo pipefail

ARCH=${1:?usage: sysroot.sh aarch64|armhf}
TOP=$(cd "$(dirname "$0")/.." && pwd)
LOCK=$TOP/scripts/sysroot.lock
ROOT=${XDG_CACHE_HOME:-$HOME/.cache}/outpost/sysroot

log() { printf 'sysroot: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# shellcheck source=board.sh
. "$TOP/scripts/board.sh"
board_env "$ARCH" || die "unsupported ARCH '$ARCH'"
[ -n "${BOARD_GNU_TRIPLET:-}" ] ||
	die "ARCH '$ARCH' is native (no BOARD_GNU_TRIPLET in $BOARD_ENV): no sysroot"
DEBARCH=$BOARD_DEBARCH GNU=$BOARD_GNU_TRIPLET MUSL=$BOARD_MUSL_TRIPLET

lock_rows() { awk -v a="$DEBARCH" '!/^#/ && $1 == a { print $2, $3, $4 }' "$LOCK"; }

KEY=$( (lock_rows; cat "$BOARD_ENV" "$0") | sha256sum | cut -c1-16)
SYS=$ROOT/$ARCH-$KEY
if [ -f "$SYS/done" ]; then
	echo "$SYS"
	exit 0
fi

# apt with a private list directory that knows the target architecture.
APTDIR=$ROOT/apt
APTOPT=(-o "APT::Architecture=$DEBARCH" -o "APT::Architectures::=$DEBARCH"
	-o "Dir::State::Lists=$APTDIR/lists" -o "Dir::Cache::archives=$APTDIR/archives"
	-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
	-o APT::Sandbox::User=root)

# debfile PKG VER: the cached .deb for this architecture (or arch all), if any.
debfile() {
	local v=${2/:/%3a} f
	for f in "$APTDIR/debs/${1}_${v}_$DEBARCH.deb" "$APTDIR/debs/${1}_${v}_all.deb"; do
		[ -f "$f" ] && { echo "$f"; return 0; }
	done
	return 0
}

# fetch PKG VER SUM: download PKG=VER into $APTDIR/debs unless cached, check it.
fetch() {
	local pkg=$1 ver=$2 sum=$3 deb got
	deb=$(debfile "$pkg" "$ver")
	if [ -z "$deb" ]; then
		mkdir -p "$APTDIR/lists/partial" "$APTDIR/archives/partial" "$APTDIR/debs"
		if [ ! -f "$APTDIR/updated-$DEBARCH" ]; then
			log "updating private $DEBARCH package lists"
			# Some index files (e.g. security for a foreign arch) may fail.
			apt-get "${APTOPT[@]}" update >/dev/null 2>&1 || true
			touch "$APTDIR/updated-$DEBARCH"
		fi
		log "downloading $pkg=$ver ($DEBARCH)"
		(cd "$APTDIR/debs" && apt-get "${APTOPT[@]}" download "$pkg:$DEBARCH=$ver" \
			>/dev/null 2>&1 ||
			apt-get "${APTOPT[@]}" download "$pkg=$ver" >/dev/null 2>&1) ||
			die "cannot download $pkg=$ver for $DEBARCH"
		deb=$(debfile "$pkg" "$ver")
		[ -n "$deb" ] || die "apt downloaded no $pkg=$ver"
	fi
	got=$(sha256sum "$deb" | cut -d' ' -f1)
	[ "$got" = "$sum" ] || die "$deb: sha256 $got does not match the lock ($sum)"
	dpkg-deb -x "$deb" "$SYS.tmp"
}

# Debian's musl-gcc.specs, moved into the sysroot, plus the kernel headers
# after gcc's own include directory (as musl-cross-make installs them).
write_specs() {
	local specs=$SYS.tmp/usr/lib/$MUSL/musl-gcc.specs kinc=$SYS/usr/$GNU/include
	[ -f "$specs" ] || die "musl-dev has no $specs"
	sed -e "s|/usr/include/$MUSL|$SYS/usr/include/$MUSL|g" \
		-e "s|/usr/lib/$MUSL|$SYS/usr/lib/$MUSL|g" \
		-e "s|-isystem include%s|-isystem include%s -idirafter $kinc|" \
		"$specs" >"$SYS.tmp/musl-gcc.specs"
	mkdir -p "$SYS.tmp/bin"
	printf '#!/bin/sh\nexec %s "$@" -specs "%s"\n' "$GNU-gcc" \
		"$SYS/musl-gcc.specs" >"$SYS.tmp/bin/cc"
	chmod 755 "$SYS.tmp/bin/cc"
}

main() {
	local pkg ver sum
	mkdir -p "$ROOT"
	exec 9>"$ROOT/.lock-$ARCH"
	flock 9
	[ -f "$SYS/done" ] && { echo "$SYS"; return 0; }
	command -v "$GNU-gcc" >/dev/null || die "$GNU-gcc missing (apt install gcc-$GNU)"
	rm -rf "$SYS.tmp"
	mkdir -p "$SYS.tmp"
	while read -r pkg ver sum; do
		fetch "$pkg" "$ver" "$sum"
	done < <(lock_rows)
	write_specs
	rm -rf "$ROOT/$ARCH"-*[!p]  # sysroots of older locks; keeps a *.tmp
	mv "$SYS.tmp" "$SYS"
	touch "$SYS/done"
	log "$ARCH sysroot ready in $SYS"
	echo "$SYS"
}

main
