#!/usr/bin/env bash
# Build what the appliance update tests (#21) offer: version N+1 of the
# same source, and an N+1 that never gets ready.
#
#   scripts/next-update.sh NEXT_BIN BZIMAGE IMGDIR NEXT_VERSION
#
# NEXT_BIN is `make next-bin`'s binary (built as NEXT_VERSION with the
# test-only OUTPOST_TEST_NEVER_READY switch).  Writes into IMGDIR/next/:
# outpost-NEXT-x86_64.img and .update (a normal N+1), and never-ready/
# outpost-NEXT-x86_64.update, whose root carries /etc/outpost/test-never-ready
# (its worker exits 100 at once).  Both are signed like IMGDIR's image:
# SIGNING_KEY / SIGNING_CERT, or the development key of `make image`
# (DEV_KEY_DIR, default IMGDIR/../dev-signing).  Prints the two bundles.
set -euo pipefail

BIN=$1 KERNEL=$2 IMG=$(cd "$3" && pwd) NEXT=$4
TOP=$(cd "$(dirname "$0")/.." && pwd)
export DEV_KEY_DIR=${DEV_KEY_DIR:-$IMG/../dev-signing}
export IMAGE_VERSION=$NEXT
NAME=outpost-$NEXT-x86_64

"$BIN" version | grep -q "^outpost $NEXT " ||
	{ echo "next-update: $BIN is not version $NEXT" >&2; exit 1; }
"$TOP/scripts/image.sh" "$BIN" "$KERNEL" "$IMG/next" >/dev/null
"$TOP/scripts/update.sh" "$IMG/next/$NAME.parts" "$IMG/next"
IMAGE_TEST_NEVER_READY=1 "$TOP/scripts/image.sh" "$BIN" "$KERNEL" \
	"$IMG/next/never-ready" >/dev/null
"$TOP/scripts/update.sh" "$IMG/next/never-ready/$NAME.parts" "$IMG/next/never-ready"
