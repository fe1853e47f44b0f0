# Sourced by scripts/deps.sh and the Makefile helpers: sets the static musl
# toolchain for one target architecture.
#   toolchain_setup ARCH   sets CC, AR, RANLIB, STRIP, TC_SYSTEM_PROCESSOR, TC_APT,
#                          TC_QEMU (user-mode emulator for tests, empty on x86_64)
# x86_64 uses Debian's musl-gcc wrapper.  aarch64 and armhf use Debian's
# cross gcc with a musl sysroot from scripts/sysroot.sh (downloaded once and
# cached; CC is the sysroot's `cc` wrapper that adds its specs file).

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
	case "$1" in
	x86_64)
		CC=musl-gcc
		AR=ar
		RANLIB=ranlib
		STRIP=strip
		TC_SYSTEM_PROCESSOR=x86_64
		TC_APT="musl-tools"
		TC_QEMU=
		;;
	aarch64)
		TC_SYSTEM_PROCESSOR=aarch64
		TC_QEMU=qemu-aarch64-static
		toolchain_cross aarch64-linux-gnu aarch64
		;;
	armhf)
		TC_SYSTEM_PROCESSOR=arm
		TC_QEMU=qemu-arm-static
		toolchain_cross arm-linux-gnueabihf armhf
		;;
	*)
		echo "toolchain: unsupported ARCH '$1' (supported: x86_64 aarch64 armhf)" >&2
		return 1
		;;
	esac
}
