# shellcheck shell=bash
# Sourced by scripts/toolchain.sh, scripts/sysroot.sh and scripts/kernel.sh:
# the per-target facts of board/<target>/board.env, found as the Makefile
# and tests/boardenv.py find them.
#   board_env NAME   sources board/NAME/board.env, else the (first, sorted)
#                    board.env whose BOARD_ARCH is NAME; sets BOARD_* and
#                    BOARD_ENV (the file's path).  Returns 1 when none fits.

board_env() {
	local top f
	top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	BOARD_ENV=
	if [ -f "$top/board/$1/board.env" ]; then
		BOARD_ENV=$top/board/$1/board.env
	else
		for f in "$top"/board/*/board.env; do
			if grep -qx "BOARD_ARCH=$1" "$f"; then
				BOARD_ENV=$f
				break
			fi
		done
	fi
	if [ -z "$BOARD_ENV" ]; then
		echo "board: no board/*/board.env for '$1'" >&2
		return 1
	fi
	# shellcheck source=../board/x86_64/board.env
	. "$BOARD_ENV"
}
