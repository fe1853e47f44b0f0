#!/usr/bin/env bash
# Build the appliance kernel: Debian's linux-source-6.1, tinyconfig plus
# board/<arch>/kernel.fragment, no modules, no initramfs.
#
#   scripts/kernel.sh [BOARD]    prints the path of the cached bzImage
#                                BOARD: x86_64 (default) | aarch64-virt (or
#                                its BOARD_ARCH, aarch64)
#
# The result is cached outside the tree, in
# ${XDG_CACHE_HOME:-$HOME/.cache}/outpost/kernel/<key>/, keyed by a hash of
# the source package version, the fragment, the board.env (BOARD_KERNEL_ARCH,
# BOARD_KERNEL_IMAGE, BOARD_GNU_TRIPLET for CROSS_COMPILE) and this script,
# so CI rebuilds it only when one of those changes.  After olddefconfig every =y/=n line of
# the fragment is checked against the final .config; a symbol that Kconfig
# dropped (unmet dependency) fails the build loudly.
set -euo pipefail

ARCH=${1:-x86_64}
TOP=$(cd "$(dirname "$0")/.." && pwd)
PKG=linux-source-6.1
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/outpost/kernel
JOBS=${KERNEL_JOBS:-2}

# shellcheck source=board.sh
. "$TOP/scripts/board.sh"
board_env "$ARCH" || { echo "kernel: unsupported board '$ARCH'" >&2; exit 1; }
KARCH=${BOARD_KERNEL_ARCH:-} IMAGE=${BOARD_KERNEL_IMAGE:-}
CROSS=${BOARD_GNU_TRIPLET:+$BOARD_GNU_TRIPLET-}
if [ -z "$KARCH" ] || [ -z "$IMAGE" ]; then
	echo "kernel: $BOARD_ENV names no BOARD_KERNEL_ARCH/BOARD_KERNEL_IMAGE" >&2
	exit 1
fi
BOARD=$(basename "$(dirname "$BOARD_ENV")") # aarch64 names aarch64-virt
FRAG=$(dirname "$BOARD_ENV")/kernel.fragment
[ -f "$FRAG" ] || { echo "kernel: missing $FRAG" >&2; exit 1; }

VER=$(dpkg-query -W -f='${Version}' "$PKG" 2>/dev/null) ||
	{ echo "kernel: $PKG is not installed (scripts/setup.sh)" >&2; exit 1; }
KEY=$( { echo "$PKG $VER $BOARD"; cat "$FRAG" "$BOARD_ENV" "$0"; } | sha256sum | cut -c1-16)
OUT=$CACHE/$KEY

cached() {
	if [ -f "$OUT/bzImage" ]; then
		echo "$OUT/bzImage"
		exit 0
	fi
}
cached
# One build per key at a time (parallel make jobs, CI steps, several
# checkouts sharing the cache): wait for the other, then use its result.
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock-$KEY"
flock 9
cached

log() { echo "kernel: $*" >&2; }

# The source tree is shared by every key of one package version.
extract_source() {
	local src=$CACHE/src-$VER
	# Builds of other keys (boards) share the tree: extract it once.
	exec 8>"$CACHE/.lock-src-$VER"
	flock 8
	if [ ! -f "$src/.done" ]; then
		log "extracting $PKG $VER"
		rm -rf "$src" && mkdir -p "$src"
		tar -xJf /usr/src/$PKG.tar.xz -C "$src" --strip-components=1
		touch "$src/.done"
	fi
	exec 8>&-
	SRC=$src
}

# Every "CONFIG_X=y" or "CONFIG_X=n" of the fragment must hold in .config.
check_config() {
	local cfg=$1 bad=0 sym val
	while IFS='=' read -r sym val; do
		case "$sym" in CONFIG_*) ;; *) continue ;; esac
		if [ "$val" = n ]; then
			grep -qx "$sym=[ym]" "$cfg" || continue
		else
			grep -qx "$sym=$val" "$cfg" && continue
		fi
		log "fragment asks $sym=$val but .config has: $(grep -E "^(# )?$sym[= ]" "$cfg" || echo nothing)"
		bad=1
	done < <(grep -E '^CONFIG_' "$FRAG")
	[ $bad = 0 ] || { log "Kconfig dropped symbols (missing dependencies?)"; exit 1; }
}

configure() {
	local b=$1
	make -s -C "$SRC" O="$b" ARCH=$KARCH CROSS_COMPILE=${CROSS:-} tinyconfig >/dev/null
	"$SRC/scripts/kconfig/merge_config.sh" -m -O "$b" "$b/.config" "$FRAG" >/dev/null
	make -s -C "$SRC" O="$b" ARCH=$KARCH CROSS_COMPILE=${CROSS:-} olddefconfig >/dev/null
	check_config "$b/.config"
}

extract_source
BUILD=$CACHE/build-$KEY
rm -rf "$BUILD" && mkdir -p "$BUILD"
configure "$BUILD"
[ "${KERNEL_CONFIG_ONLY:-0}" = 1 ] && { log "config ok: $BUILD/.config"; exit 0; }

log "building $KEY with -j$JOBS (10-15 min on 2 cores)"
t0=$(date +%s)
# Reproducible kernel build: pinned build identity and timestamp.
export KBUILD_BUILD_USER=outpost KBUILD_BUILD_HOST=outpost
export KBUILD_BUILD_TIMESTAMP="@0"
nice -n 10 make -s -C "$SRC" O="$BUILD" ARCH=$KARCH CROSS_COMPILE=${CROSS:-} -j"$JOBS" "${IMAGE##*/}" >"$BUILD/build.log" 2>&1 ||
	{ tail -40 "$BUILD/build.log" >&2; log "build failed"; exit 1; }
mkdir -p "$OUT.tmp"
cp "$BUILD/$IMAGE" "$OUT.tmp/bzImage"
cp "$BUILD/.config" "$OUT.tmp/config"
echo "$PKG $VER" >"$OUT.tmp/SOURCE"
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT" && rm -rf "$BUILD"
log "bzImage $(stat -c %s "$OUT/bzImage") bytes in $(($(date +%s) - t0)) s"
echo "$OUT/bzImage"
