# Sourced by scripts/deps.sh and the Makefile helpers: sets the static musl
# toolchain for one target architecture.
#   toolchain_setup ARCH   sets CC, AR, RANLIB, STRIP, TC_SYSTEM_PROCESSOR, TC_APT
# x86_64 uses Debian's musl-gcc wrapper; other targets are added here.

toolchain_setup() {
	case "$1" in
	x86_64)
		CC=musl-gcc
		AR=ar
		RANLIB=ranlib
		STRIP=strip
		TC_SYSTEM_PROCESSOR=x86_64
		TC_APT="musl-tools"
		;;
	*)
		echo "toolchain: unsupported ARCH '$1' (supported: x86_64)" >&2
		return 1
		;;
	esac
}
