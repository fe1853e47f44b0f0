#!/usr/bin/env bash
# Build the appliance disk image, without root and without loop devices.
#
#   scripts/image.sh OUTPOST_BIN BZIMAGE OUTDIR [NAME]
#
# Writes OUTDIR/NAME.img (GPT: ESP, root, verity, config, data),
# OUTDIR/NAME.img.bmap and OUTDIR/NAME.ova; NAME defaults to
# outpost-$(cat VERSION)-x86_64.  Byte-reproducible for the same inputs
# and SOURCE_DATE_EPOCH: every UUID, serial, salt and timestamp is pinned.
#
# Signing: the UKI is signed with SIGNING_KEY / SIGNING_CERT (PEM files);
# when unset, with a generated key named outpost-DEVELOPMENT-ONLY kept in
# DEV_KEY_DIR (default: OUTDIR/../dev-signing) so that rebuilds reuse it.
# The same key signs the OVA manifest.
#
# Other boards (edge boxes): IMAGE_BOARD (board/<name>, default x86_64),
# whose board.env names the EFI stub, objcopy, removable-media file name
# and whether there is a syslinux/MBR boot path; IMAGE_STUB_ROOT is where
# the stub's path starts (a cross sysroot).  IMAGE_STUB, IMAGE_OBJCOPY,
# IMAGE_EFI_BOOT and IMAGE_BIOS override single facts.
set -euo pipefail

BIN=$1 KERNEL=$2 OUT=$(mkdir -p "$3" && cd "$3" && pwd)
TOP=$(cd "$(dirname "$0")/.." && pwd)
VERSION=$(cat "$TOP/VERSION")
NAME=${4:-outpost-$VERSION-x86_64}
BOARD=$TOP/board/${IMAGE_BOARD:-x86_64}
# The commit time when the Makefile did not export it; never 0, which
# e2fsprogs would read as "use the real clock".
EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$TOP" log -1 --format=%ct 2>/dev/null || echo 1)}
[ "$EPOCH" != 0 ] || EPOCH=1
W=$OUT/work-$NAME
export SOURCE_DATE_EPOCH=$EPOCH TZ=UTC LC_ALL=C

# Fixed identities: the disk, its partitions and filesystems never vary.
DISK_GUID=6f757470-6f73-4000-8000-000000000000
ESP_UUID=6f757470-6f73-4000-8000-000000000001
ROOT_UUID=6f757470-6f73-4000-8000-000000000002
VERITY_UUID=6f757470-6f73-4000-8000-000000000003
CONFIG_UUID=6f757470-6f73-4000-8000-000000000004
DATA_UUID=6f757470-6f73-4000-8000-000000000005
EROFS_UUID=6f757470-6f73-4000-8000-0000000000e0
DATA_FS_UUID=6f757470-6f73-4000-8000-0000000000d0
VERITY_SALT=6f7574706f7374206170706c69616e6365206469736b20696d61676520763100
ESP_SERIAL=0x4f555450 CONFIG_SERIAL=0x434f4e46

# Partition sizes in MiB (root and verity are sized from their contents).
ESP_MB=16 CONFIG_MB=8 DATA_MB=64

# shellcheck source=../board/x86_64/board.env
. "$BOARD/board.env"
STUB=${IMAGE_STUB:-${IMAGE_STUB_ROOT:-}$BOARD_EFI_STUB}
EFI_BOOT=${IMAGE_EFI_BOOT:-$BOARD_EFI_BOOT}
BIOS=${IMAGE_BIOS:-$BOARD_BIOS}
OBJCOPY=${IMAGE_OBJCOPY:-$BOARD_OBJCOPY}
GPTMBR=/usr/lib/syslinux/mbr/gptmbr.bin
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

log() { echo "image: $*" >&2; }
die() { log "$*"; exit 1; }
mib() { echo $((($(stat -c %s "$1") + 1048575) / 1048576)); }

stage_rootfs() {
	local r=$W/root
	rm -rf "$r" && mkdir -p "$r"
	cp -a "$TOP/rootfs/etc" "$r/etc"
	mkdir -p "$r/sbin" "$r/etc/ssl/certs" "$r/proc" "$r/sys" "$r/dev" \
		"$r/run" "$r/tmp" "$r/config" "$r/data"
	install -m 0755 "$BIN" "$r/sbin/init"
	install -m 0644 "$CA_BUNDLE" "$r/etc/ssl/certs/ca-certificates.crt"
	ln -sfn /run/resolv.conf "$r/etc/resolv.conf"
	chmod 0755 "$r" "$r/etc" && chmod 1777 "$r/tmp"
	find "$r" -exec touch -h -d "@$EPOCH" {} +
}

make_erofs() {
	mkfs.erofs --quiet -T "$EPOCH" -U "$EROFS_UUID" --all-root \
		"$W/root.erofs" "$W/root" >/dev/null
	# Whole 4 KiB blocks: the verity data device is counted in blocks.
	truncate -s $((($(stat -c %s "$W/root.erofs") + 4095) / 4096 * 4096)) \
		"$W/root.erofs"
}

# The hash tree on its own partition (no superblock: every parameter is on
# the kernel command line, inside the signed UKI).
make_verity() {
	rm -f "$W/root.verity"
	veritysetup format --no-superblock --salt="$VERITY_SALT" \
		--data-block-size=4096 --hash-block-size=4096 --hash=sha256 \
		"$W/root.erofs" "$W/root.verity" >"$W/verity.txt"
	ROOT_HASH=$(sed -n 's/^Root hash:[[:space:]]*//p' "$W/verity.txt")
	[ -n "$ROOT_HASH" ] || die "veritysetup printed no root hash"
}

make_cmdline() {
	local blocks=$(($(stat -c %s "$W/root.erofs") / 4096))
	local table="0 $((blocks * 8)) verity 1 PARTUUID=$ROOT_UUID"
	table+=" PARTUUID=$VERITY_UUID 4096 4096 $blocks 0 sha256 $ROOT_HASH"
	table+=" $VERITY_SALT"
	CMDLINE="$(tr -s ' \n' '  ' <"$BOARD/cmdline" | sed 's/ *$//')"
	CMDLINE+=" dm-mod.waitfor=PARTUUID=$ROOT_UUID,PARTUUID=$VERITY_UUID"
	CMDLINE+=" dm-mod.create=\"vroot,,,ro,$table\""
	printf '%s' "$CMDLINE" >"$W/cmdline.txt"
}

signing_key() {
	if [ -n "${SIGNING_KEY:-}" ] && [ -n "${SIGNING_CERT:-}" ]; then
		KEY=$SIGNING_KEY CERT=$SIGNING_CERT
		return
	fi
	local d=${DEV_KEY_DIR:-$OUT/../dev-signing}
	KEY=$d/outpost-DEVELOPMENT-ONLY.key CERT=$d/outpost-DEVELOPMENT-ONLY.crt
	if [ ! -f "$KEY" ] || [ ! -f "$CERT" ]; then
		log "no SIGNING_KEY/SIGNING_CERT: generating a DEVELOPMENT key in $d"
		mkdir -p "$d"
		openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
			-subj "/CN=outpost DEVELOPMENT ONLY - not for production/" \
			-keyout "$KEY" -out "$CERT" 2>/dev/null
	fi
}

# The PE header's TimeDateStamp (objcopy writes the current time there)
# and the checksum that covers it.
pe_pin_time() {
	/usr/bin/python3 - "$1" "$EPOCH" <<'EOF'
import struct, sys
p, t = sys.argv[1], int(sys.argv[2]) & 0xffffffff
b = bytearray(open(p, "rb").read())
pe = struct.unpack_from("<I", b, 0x3c)[0]
assert b[pe:pe + 4] == b"PE\0\0", "not a PE file"
struct.pack_into("<I", b, pe + 8, t)
# The optional header's CheckSum covered the old time: recompute it.
ck = pe + 24 + 64
struct.pack_into("<I", b, ck, 0)
b += b"\0" * (len(b) & 1)
s = 0
for (w,) in struct.iter_unpack("<H", b):
    s += w
    s = (s & 0xffff) + (s >> 16)
n = len(open(p, "rb").read())
struct.pack_into("<I", b, ck, ((s & 0xffff) + n) & 0xffffffff)
open(p, "wb").write(b[:n])
EOF
}

make_uki() {
	printf 'ID=outpost\nNAME=outpost\nVERSION_ID=%s\nPRETTY_NAME="outpost %s"\n' \
		"$VERSION" "$VERSION" >"$W/os-release"
	"$OBJCOPY" \
		--add-section .osrel="$W/os-release" --change-section-vma .osrel=0x20000 \
		--add-section .cmdline="$W/cmdline.txt" --change-section-vma .cmdline=0x30000 \
		--add-section .linux="$KERNEL" --change-section-vma .linux=0x2000000 \
		"$STUB" "$W/uki.unsigned.efi"
	pe_pin_time "$W/uki.unsigned.efi"
	# sbsign puts the signing time into the signature: freeze the clock.
	faketime -f "$(date -u -d "@$EPOCH" '+%Y-%m-%d %H:%M:%S')" \
		sbsign --key "$KEY" --cert "$CERT" --output "$W/uki.efi" \
		"$W/uki.unsigned.efi" 2>/dev/null
}

# mtools refuses nothing and asks nothing with these settings.
export MTOOLS_SKIP_CHECK=1 MTOOLS_NO_VFAT=0

fat_put() { # image, dest dir, files...
	local img=$1 dir=$2
	shift 2
	touch -d "@$EPOCH" "$@"
	mcopy -m -o -i "$img" "$@" "::$dir"
}

make_esp() {
	local img=$W/esp.img
	rm -f "$img"
	mkfs.fat -C --invariant -i "$ESP_SERIAL" -n OUTPOST-ESP -F 16 "$img" \
		$((ESP_MB * 1024)) >/dev/null
	mmd -i "$img" ::/EFI ::/EFI/BOOT ::/boot ::/syslinux
	cp "$W/uki.efi" "$W/$EFI_BOOT"
	fat_put "$img" /EFI/BOOT "$W/$EFI_BOOT"
	[ "$BIOS" = 1 ] || return 0
	# BIOS path: syslinux loads the same kernel with the same cmdline.
	cp "$KERNEL" "$W/bzImage"
	fat_put "$img" /boot "$W/bzImage"
	printf 'DEFAULT outpost\nPROMPT 0\nTIMEOUT 0\nLABEL outpost\n  LINUX /boot/bzImage\n  APPEND %s\n' \
		"$CMDLINE" >"$W/syslinux.cfg"
	fat_put "$img" /syslinux "$W/syslinux.cfg"
	syslinux --install --directory /syslinux "$img"
}

make_config() {
	local img=$W/config.img
	rm -f "$img"
	mkfs.fat -C --invariant -i "$CONFIG_SERIAL" -n OUTPOST-CFG "$img" \
		$((CONFIG_MB * 1024)) >/dev/null
	cp "$TOP/image/outpost.conf" "$W/outpost.conf"
	fat_put "$img" / "$W/outpost.conf"
}

make_data() {
	local img=$W/data.img
	rm -f "$img" && truncate -s "${DATA_MB}M" "$img" && mkdir -p "$W/data-skel"
	touch -d "@$EPOCH" "$W/data-skel"
	E2FSPROGS_FAKE_TIME=$EPOCH mkfs.ext4 -q -F -L outpost-data \
		-U "$DATA_FS_UUID" -E "root_owner=999:999,hash_seed=$DATA_FS_UUID,lazy_itable_init=0,lazy_journal_init=0" \
		-d "$W/data-skel" "$img" "${DATA_MB}M"
}

ESP_GUID=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
ROOT_GUID=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709
VERITY_GUID=2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5
BASIC_GUID=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7
LINUX_GUID=0FC63DAF-8483-4772-8E79-3D69D8477DE4

make_disk() {
	local img=$OUT/$NAME.img s=2048 root_mb verity_mb total
	root_mb=$(mib "$W/root.erofs") verity_mb=$(mib "$W/root.verity")
	total=$((1 + ESP_MB + root_mb + verity_mb + CONFIG_MB + DATA_MB + 1))
	rm -f "$img" && truncate -s "${total}M" "$img"
	{
		echo "label: gpt"
		echo "label-id: $DISK_GUID"
		echo "unit: sectors"
		echo "first-lba: 2048"
		part() { # size_mb type uuid name [attrs]
			echo "start=$s, size=$(($1 * 2048)), type=$2, uuid=$3, name=\"$4\"${5:+, attrs=\"$5\"}"
			s=$((s + $1 * 2048))
		}
		part $ESP_MB $ESP_GUID $ESP_UUID esp LegacyBIOSBootable
		part "$root_mb" $ROOT_GUID $ROOT_UUID outpost-root
		part "$verity_mb" $VERITY_GUID $VERITY_UUID outpost-verity
		part $CONFIG_MB $BASIC_GUID $CONFIG_UUID outpost-config
		part $DATA_MB $LINUX_GUID $DATA_UUID outpost-data
	} >"$W/layout.sfdisk"
	sfdisk -q --no-reread --no-tell-kernel "$img" <"$W/layout.sfdisk" >/dev/null
	[ "$BIOS" != 1 ] ||
		dd if="$GPTMBR" of="$img" bs=440 count=1 conv=notrunc status=none
	s=2048
	for p in esp.img:$ESP_MB root.erofs:$root_mb root.verity:$verity_mb \
		config.img:$CONFIG_MB data.img:$DATA_MB; do
		dd if="$W/${p%%:*}" of="$img" bs=512 seek=$s conv=notrunc,sparse \
			status=none
		s=$((s + ${p##*:} * 2048))
	done
}

main() {
	[ -x "$BIN" ] || die "no outpost binary at $BIN"
	[ -f "$KERNEL" ] || die "no kernel at $KERNEL"
	[ "$BIOS" = 1 ] || GPTMBR=$STUB # nothing more to check
	for f in "$STUB" "$GPTMBR" "$CA_BUNDLE"; do
		[ -f "$f" ] || die "missing $f (scripts/setup.sh)"
	done
	mkdir -p "$OUT" && rm -rf "$W" && mkdir -p "$W"
	signing_key
	stage_rootfs
	make_erofs
	make_verity
	make_cmdline
	make_uki
	make_esp
	make_config
	make_data
	make_disk
	rm -f "$OUT/$NAME.img.bmap"
	bmaptool -q create -o "$OUT/$NAME.img.bmap" "$OUT/$NAME.img"
	"$TOP/scripts/ova.sh" "$OUT/$NAME.img" "$OUT/$NAME.ova" "$VERSION" \
		"$KEY" "$CERT" "$W/ova"
	echo "$ROOT_HASH" >"$OUT/$NAME.roothash"
	[ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$W"
}

main
