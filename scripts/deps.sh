#!/usr/bin/env bash
# Build the static musl dependencies of outpost from Debian source packages.
#
#   scripts/deps.sh [ARCH]        ARCH: x86_64 (default)
#
# Versions and .dsc hashes are pinned in scripts/deps.lock; apt verifies the
# archive signatures and this script verifies each .dsc against the lock.
# Results are cached in ${XDG_CACHE_HOME:-$HOME/.cache}/outpost/deps, keyed by
# a hash of the lock, this script, the toolchain file, the board.env and the
# compiler, then copied to build/deps/ARCH/{include,lib}.  Nothing
# third-party is committed.
set -euo pipefail

ARCH=${1:-x86_64}
TOP=$(cd "$(dirname "$0")/.." && pwd)
LOCK=$TOP/scripts/deps.lock
OUT=$TOP/build/deps/$ARCH
CACHE_ROOT=${XDG_CACHE_HOME:-$HOME/.cache}/outpost/deps
JOBS=$(nproc)

# shellcheck source=toolchain.sh
. "$TOP/scripts/toolchain.sh"
toolchain_setup "$ARCH"

log() { printf 'deps: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

need_tools() {
	local missing=() t
	for t in $TC_APT cmake dpkg-dev protobuf-c-compiler make xz-utils; do
		dpkg-query -W -f='${Status}' "$t" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$t")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing host tools: ${missing[*]}"
	apt_update_once
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

APT_UPDATED=
apt_update_once() {
	[ -n "$APT_UPDATED" ] && return 0
	apt-get update -qq >/dev/null
	APT_UPDATED=1
}

# apt-get source needs deb-src entries: add them from the binary entries.
enable_deb_src() {
	if grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ ||
		grep -qs '^deb-src' /etc/apt/sources.list; then
		return 0
	fi
	log "enabling deb-src entries"
	sed -n '/^Types: deb$/,/^$/p' /etc/apt/sources.list.d/debian.sources |
		sed 's/^Types: deb$/Types: deb-src/' \
			>/etc/apt/sources.list.d/outpost-deb-src.sources
	APT_UPDATED=
	apt_update_once
}

lock_field() { awk -v n="$1" -v f="$2" '!/^#/ && $1 == n { print $f }' "$LOCK"; }

# fetch NAME DIR: download and unpack the pinned source into DIR/src-NAME.
fetch() {
	local name=$1 dir=$2 ver sum dsc got
	ver=$(lock_field "$name" 2)
	sum=$(lock_field "$name" 3)
	[ -n "$ver" ] && [ -n "$sum" ] || die "$name missing from $LOCK"
	mkdir -p "$dir/dl" && cd "$dir/dl"
	if ! ls "${name}_"*.dsc >/dev/null 2>&1; then
		apt-get source --download-only "$name=$ver" >/dev/null 2>&1 || {
			apt_update_once
			apt-get source --download-only "$name=$ver" >/dev/null ||
				die "cannot fetch source $name=$ver"
		}
	fi
	dsc=$(ls "${name}_"*.dsc)
	got=$(sha256sum "$dsc" | cut -d' ' -f1)
	[ "$got" = "$sum" ] || die "$dsc: sha256 $got does not match the lock ($sum)"
	rm -rf "$dir/src-$name"
	dpkg-source --no-check -x "$dsc" "$dir/src-$name" >/dev/null
	cd "$dir/src-$name"
}

CFLAGS_DEPS="-Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables -ffile-prefix-map=$CACHE_ROOT=."

cmake_build() {
	local prefix=$1
	shift
	cmake -S . -B _b -G 'Unix Makefiles' -DCMAKE_BUILD_TYPE=MinSizeRel \
		-DCMAKE_C_COMPILER="$CC" -DCMAKE_AR="$(command -v "$AR")" \
		-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR="$TC_SYSTEM_PROCESSOR" \
		-DCMAKE_C_FLAGS_MINSIZEREL="$CFLAGS_DEPS" -DCMAKE_INSTALL_PREFIX="$prefix" \
		-DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_POSITION_INDEPENDENT_CODE=OFF "$@" >/dev/null
	cmake --build _b -j "$JOBS" >/dev/null
	cmake --install _b >/dev/null
}

build_bearssl() {
	make -j "$JOBS" lib CC="$CC" AR="$AR" LD="$CC" \
		CFLAGS="$CFLAGS_DEPS -W -Wall" >/dev/null
	cp build/libbearssl.a "$1/lib/"
	cp inc/*.h "$1/include/"
}

build_nghttp2() {
	cmake_build "$1" -DENABLE_LIB_ONLY=ON -DENABLE_STATIC_LIB=ON \
		-DENABLE_SHARED_LIB=OFF -DENABLE_DOC=OFF -DENABLE_THREADS=OFF \
		-DENABLE_APP=OFF -DENABLE_HPACK_TOOLS=OFF -DENABLE_EXAMPLES=OFF
}

build_c_ares() {
	cmake_build "$1" -DCARES_STATIC=ON -DCARES_SHARED=OFF \
		-DCARES_BUILD_TOOLS=OFF -DCARES_BUILD_TESTS=OFF -DCARES_STATIC_PIC=OFF
}

build_pcre2() {
	cmake_build "$1" -DBUILD_SHARED_LIBS=OFF -DPCRE2_BUILD_PCRE2_8=ON \
		-DPCRE2_BUILD_PCRE2_16=OFF -DPCRE2_BUILD_PCRE2_32=OFF \
		-DPCRE2_SUPPORT_UNICODE=OFF -DPCRE2_SUPPORT_JIT=OFF \
		-DPCRE2_BUILD_PCRE2GREP=OFF -DPCRE2_BUILD_TESTS=OFF
}

# The protobuf-c runtime is one C file; protoc-c is a host tool from apt.
build_protobuf_c() {
	"$CC" $CFLAGS_DEPS -I. -c protobuf-c/protobuf-c.c -o protobuf-c.o
	"$AR" rcs "$1/lib/libprotobuf-c.a" protobuf-c.o
	mkdir -p "$1/include/protobuf-c"
	cp protobuf-c/protobuf-c.h "$1/include/protobuf-c/"
}

# zlib: gzip bodies decoded, redacted and re-encoded (http/redact_gzip.c).
build_zlib() {
	CC="$CC" AR="$AR" CFLAGS="$CFLAGS_DEPS" ./configure --static \
		--prefix="$1" >/dev/null
	make -j "$JOBS" libz.a >/dev/null
	cp libz.a "$1/lib/"
	cp zlib.h zconf.h "$1/include/"
}

# cmocka for the cross unit tests (run under qemu-user) and the static
# NET=lwip shim test (lwIP is musl-only); the host unit tests use Debian's
# libcmocka-dev.  musl's stdint.h has uintptr_t already.
build_cmocka() {
	cmake_build "$1" -DWITH_STATIC_LIB=ON -DWITH_EXAMPLES=OFF -DUNIT_TESTING=OFF \
		-DCMAKE_C_FLAGS=-D_UINTPTR_T_DEFINED
	mv "$1/lib/libcmocka-static.a" "$1/lib/libcmocka.a"
	rm -f "$1"/lib/libcmocka.so*
}

# --- lwIP (only for the NET=lwip build; see src/net/lwip/lwipopts.h) -----
# A static liblwip.a of the unix port: core (IPv4+IPv6), the sequential and
# socket APIs, ethernet, the pthread sys_arch and the tap netif, compiled
# against outpost's lwipopts.h (hashed into the cache key below).  Headers
# go to a separate tree, lwip/include, so the POSIX build never sees them.
# musl has no __SOCKADDR_COMMON_SIZE (used by the port's posix/sockets.h; set
# in lwipopts.h) and musl-gcc no kernel headers: the tap netif takes them
# from the host's linux-libc-dev after musl's own (-idirafter).
LWIP_OPTS=$TOP/src/net/lwip/lwipopts.h
build_lwip() {
	local f objs=() inc=$1/lwip/include
	mkdir -p _o "$inc"
	for f in src/core/*.c src/core/ipv4/*.c src/core/ipv6/*.c \
		src/api/{api_lib,api_msg,err,if_api,netbuf,sockets,tcpip}.c \
		src/netif/ethernet.c port/sys_arch.c port/netif/tapif.c; do
		"$CC" $CFLAGS_DEPS -I"$(dirname "$LWIP_OPTS")" -Isrc/include -Iport/include \
			-idirafter /usr/include -idirafter "/usr/include/$("$CC" -dumpmachine)" \
			-c "$f" -o "_o/${f//\//_}.o"
		objs+=("_o/${f//\//_}.o")
	done
	"$AR" rcs "$1/lib/liblwip.a" "${objs[@]}"
	cp -a src/include/. port/include/. "$inc/"
	rm -f "$inc/lwipopts.h"
}
# --- end lwIP ---------------------------------------------------------------

main() {
	local key dir stage name
	need_tools
	key=$( (cat "$LOCK" "$TOP/scripts/deps.sh" "$TOP/scripts/toolchain.sh" \
		"$BOARD_ENV" "$LWIP_OPTS"; echo "$ARCH"; "$CC" --version 2>/dev/null | head -1) | sha256sum | cut -c1-16)
	dir=$CACHE_ROOT/$ARCH-$key
	# Concurrent builds (several make runs at once) wait for each other.
	mkdir -p "$CACHE_ROOT"
	exec 9>"$CACHE_ROOT/.lock-$ARCH"
	flock 9
	if [ ! -f "$dir/done" ]; then
		enable_deb_src
		log "building $ARCH dependencies into $dir"
		rm -rf "$dir"
		stage=$dir/out
		mkdir -p "$stage/include" "$stage/lib"
		for name in bearssl nghttp2 protobuf-c c-ares pcre2 zlib lwip cmocka; do
			log "  $name $(lock_field "$name" 2)"
			fetch "$name" "$dir"
			mkdir -p "$stage/licenses"
			cp debian/copyright "$stage/licenses/$name"
			"build_${name//-/_}" "$stage"
		done
		rm -rf "$dir"/src-* "$stage/lib/pkgconfig" "$stage/lib/cmake" \
			"$stage/share" "$stage/bin" "$stage/cmake" "$stage/man"
		(cd "$dir/dl" && sha256sum ./*.dsc) >"$stage/SOURCES"
		touch "$dir/done"
	fi
	rm -rf "$OUT"
	mkdir -p "$(dirname "$OUT")"
	cp -a "$dir/out" "$OUT"
	log "$ARCH dependencies ready in build/deps/$ARCH"
}

main
