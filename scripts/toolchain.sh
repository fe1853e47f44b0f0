# Sourced by scripts/deps.sh and the Makefile helpers: sets the static musl
# toolchain for one target architecture.
#   toolchain_setup ARCH   sets CC, AR, RANLIB, STRIP, TC_SYSTEM_PROCESSOR, TC_APT,
#                          TC_QEMU (user-mode emulator for tests, empty on x86_64)
# The facts come from the target's board/<target>/board.env (scripts/board.sh):
# with no BOARD_GNU_TRIPLET (x86_64) Debian's musl-gcc wrapper; otherwise
# Debian's cross gcc-<triplet> with a musl sysroot from scripts/sysroot.sh
# (downloaded once and cached; CC is the sysroot's `cc` wrapper that adds its
# specs file).

# shellcheck source=board.sh
. "$(dirname "${BASH_SOURCE[0]}")/board.sh"

toolchain_cross() {
	local gnu=$1 sys
	TC_APT="gcc-$gnu qemu-user-static"
	command -v "$gnu-gcc" >/dev/null 2>&1 || {
		echo "toolchain: $gnu-gcc missing (run scripts/setup.sh)" >&2
		return 1
	}
	sys=$("$(dirname "${BASH_SOURCE[0]}")/sysroot.sh" "$2") || return 1
	CC=$sys/bin/cc
	AR=$gnu-ar
	RANLIB=$gnu-ranlib
	STRIP=$gnu-strip
}

toolchain_setup() {
	board_env "$1" || {
		echo "toolchain: unsupported ARCH '$1'" >&2
		return 1
	}
	TC_SYSTEM_PROCESSOR=$BOARD_CMAKE_PROCESSOR
	TC_QEMU=$BOARD_QEMU_USER
	if [ -n "$BOARD_GNU_TRIPLET" ]; then
		toolchain_cross "$BOARD_GNU_TRIPLET" "$1"
		return
	fi
	CC=musl-gcc
	AR=ar
	RANLIB=ranlib
	STRIP=strip
	TC_APT="musl-tools"
}
