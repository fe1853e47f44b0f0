#!/usr/bin/env bash
# Build the appliance disk image, without root and without loop devices.
#
#   scripts/image.sh OUTPOST_BIN BZIMAGE OUTDIR [NAME]
#
# Writes OUTDIR/NAME.img (GPT: esp, root-a, verity-a, root-b, verity-b,
# outpost-config, outpost-data; slot a filled, slot b zeroes),
# OUTDIR/NAME.img.bmap, OUTDIR/NAME.ova and OUTDIR/NAME.parts/ (what an
# update bundle carries: root.erofs, root.verity, uki-a.efi, uki-b.efi,
# version, arch); NAME defaults to outpost-$(cat VERSION)-x86_64.
# Byte-reproducible for the same inputs and SOURCE_DATE_EPOCH: every UUID,
# serial, salt and timestamp is pinned.
#
# Boot: the ESP's removable-media file is systemd-boot, which picks among
# EFI/Linux/outpost-<version>-<slot>[+tries].efi (boot counting); each
# slot's UKI names that slot (outpost.slot=) and its verity partitions on
# its command line.  The BIOS path (syslinux) boots /boot/linux-<slot> with
# the same command line, label <slot> in /syslinux/syslinux.cfg (only a in
# a new image; an update adds its slot's, taken from its UKI).
#
# Signing: systemd-boot and the UKIs are signed with SIGNING_KEY / SIGNING_CERT (PEM files);
# when unset, with a generated key named outpost-DEVELOPMENT-ONLY kept in
# DEV_KEY_DIR (default: OUTDIR/../dev-signing) so that rebuilds reuse it.
# The same key signs the OVA manifest, and its certificate is the rootfs's
# /etc/outpost/update-signing.crt (what update bundles must be signed by).
#
# Update tests (#21, make next-update): IMAGE_VERSION names another version
# than VERSION (the binary must report the same); IMAGE_TEST_NEVER_READY=1
# puts /etc/outpost/test-never-ready on the root, which only a test build
# (OUTPOST_TEST_NEVER_READY) reads: its worker exits 100 at once.
#
# Other boards (edge boxes): IMAGE_BOARD (board/<name>, default x86_64),
# whose board.env names the EFI stub, objcopy, removable-media file name
# and whether there is a syslinux/MBR boot path; IMAGE_STUB_ROOT is where
# the stub's path starts (a cross sysroot).  IMAGE_STUB, IMAGE_OBJCOPY,
# IMAGE_LOADER, IMAGE_EFI_BOOT and IMAGE_BIOS override single facts.
set -euo pipefail

BIN=$1 KERNEL=$2 OUT=$(mkdir -p "$3" && cd "$3" && pwd)
TOP=$(cd "$(dirname "$0")/.." && pwd)
VERSION=${IMAGE_VERSION:-$(cat "$TOP/VERSION")}
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
ROOT_A_UUID=6f757470-6f73-4000-8000-000000000002
VERITY_A_UUID=6f757470-6f73-4000-8000-000000000003
ROOT_B_UUID=6f757470-6f73-4000-8000-000000000006
VERITY_B_UUID=6f757470-6f73-4000-8000-000000000007
CONFIG_UUID=6f757470-6f73-4000-8000-000000000004
DATA_UUID=6f757470-6f73-4000-8000-000000000005
EROFS_UUID=6f757470-6f73-4000-8000-0000000000e0
DATA_FS_UUID=6f757470-6f73-4000-8000-0000000000d0
VERITY_SALT=6f7574706f7374206170706c69616e6365206469736b20696d61676520763100
ESP_SERIAL=0x4f555450 CONFIG_SERIAL=0x434f4e46

# Partition sizes in MiB.  A slot is fixed: an update's root must fit
# ROOT_MB (the erofs is ~2 MiB today); the hash tree of a full 64 MiB
# root is 520 KiB.  The ESP holds systemd-boot, up to three UKIs (two
# slots and an update's while it is written) and the two BIOS kernels.
ESP_MB=32 ROOT_MB=64 VERITY_MB=1 CONFIG_MB=8 DATA_MB=64

# shellcheck source=../board/x86_64/board.env
. "$BOARD/board.env"
STUB=${IMAGE_STUB:-${IMAGE_STUB_ROOT:-}$BOARD_EFI_STUB}
LOADER=${IMAGE_LOADER:-${IMAGE_STUB_ROOT:-}$BOARD_EFI_LOADER}
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
	install -D -m 0644 "$CERT" "$r/etc/outpost/update-signing.crt"
	ln -sfn /run/resolv.conf "$r/etc/resolv.conf"
	[ "${IMAGE_TEST_NEVER_READY:-0}" != 1 ] || : >"$r/etc/outpost/test-never-ready"
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

# The root image must fit its slot, the hash tree its partition.
check_fit() {
	[ "$(mib "$W/root.erofs")" -le $ROOT_MB ] ||
		die "root.erofs is $(mib "$W/root.erofs") MiB, the slot ROOT_MB=$ROOT_MB"
	[ "$(mib "$W/root.verity")" -le $VERITY_MB ] ||
		die "root.verity is $(mib "$W/root.verity") MiB, VERITY_MB=$VERITY_MB"
}

# cmdline-SLOT.txt: the board's line, the slot, and the verity table on
# that slot's partitions.
make_cmdline() { # slot
	local blocks=$(($(stat -c %s "$W/root.erofs") / 4096)) root verity
	root=$(slot_uuid ROOT "$1") verity=$(slot_uuid VERITY "$1")
	local table="0 $((blocks * 8)) verity 1 PARTUUID=$root"
	table+=" PARTUUID=$verity 4096 4096 $blocks 0 sha256 $ROOT_HASH"
	table+=" $VERITY_SALT"
	local cmdline
	cmdline="$(tr -s ' \n' '  ' <"$BOARD/cmdline" | sed 's/ *$//')"
	cmdline+=" outpost.slot=$1"
	cmdline+=" dm-mod.waitfor=PARTUUID=$root,PARTUUID=$verity"
	cmdline+=" dm-mod.create=\"vroot,,,ro,$table\""
	printf '%s' "$cmdline" >"$W/cmdline-$1.txt"
}

slot_uuid() { # ROOT|VERITY, slot
	local v=${1}_${2^^}_UUID
	echo "${!v}"
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

# Secure Boot signature of a PE file; sbsign puts the signing time into
# the signature: freeze the clock.
sign_pe() { # in, out
	faketime -f "$(date -u -d "@$EPOCH" '+%Y-%m-%d %H:%M:%S')" \
		sbsign --key "$KEY" --cert "$CERT" --output "$2" "$1" 2>/dev/null
}

# uki-SLOT.efi: systemd's stub + os-release + cmdline-SLOT + the kernel.
# systemd-boot orders UKIs by the os-release ID and VERSION_ID (newest
# first), entries without tries left last.
make_uki() { # slot
	printf 'ID=outpost\nNAME=outpost\nVERSION_ID=%s\nPRETTY_NAME="outpost %s (slot %s)"\n' \
		"$VERSION" "$VERSION" "$1" >"$W/os-release-$1"
	"$OBJCOPY" \
		--add-section .osrel="$W/os-release-$1" --change-section-vma .osrel=0x20000 \
		--add-section .cmdline="$W/cmdline-$1.txt" --change-section-vma .cmdline=0x30000 \
		--add-section .linux="$KERNEL" --change-section-vma .linux=0x2000000 \
		"$STUB" "$W/uki-$1.unsigned.efi"
	pe_pin_time "$W/uki-$1.unsigned.efi"
	sign_pe "$W/uki-$1.unsigned.efi" "$W/uki-$1.efi"
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
	mmd -i "$img" ::/EFI ::/EFI/BOOT ::/EFI/Linux ::/loader ::/boot ::/syslinux
	sign_pe "$LOADER" "$W/$EFI_BOOT"
	fat_put "$img" /EFI/BOOT "$W/$EFI_BOOT"
	# No menu, no editor, nothing but our UKIs; the newest entry with
	# tries left wins (no "default": a trial outranks the running slot).
	printf 'timeout 0\neditor no\nauto-entries no\nauto-firmware no\n' \
		>"$W/loader.conf"
	fat_put "$img" /loader "$W/loader.conf"
	cp "$W/uki-a.efi" "$W/outpost-$VERSION-a.efi"
	fat_put "$img" /EFI/Linux "$W/outpost-$VERSION-a.efi"
	[ "$BIOS" = 1 ] || return 0
	# BIOS path: syslinux loads the same kernel with slot a's cmdline.
	# Label b comes with an update (init writes this file then, in the
	# same format: src/init/bios.c, the "# outpost <version>" line too);
	# init keeps the tries in /syslinux/outpost-tries and arms each with
	# syslinux's boot-once (the ADV at the end of ldlinux.sys).
	cp "$KERNEL" "$W/linux-a"
	fat_put "$img" /boot "$W/linux-a"
	printf 'DEFAULT a\nPROMPT 0\nTIMEOUT 0\nLABEL a\n  # outpost %s\n  LINUX /boot/linux-a\n  APPEND %s\n' \
		"$VERSION" "$(cat "$W/cmdline-a.txt")" >"$W/syslinux.cfg"
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
	local img=$OUT/$NAME.img s=2048 total
	total=$((1 + ESP_MB + 2 * (ROOT_MB + VERITY_MB) + CONFIG_MB + DATA_MB + 1))
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
		part $ROOT_MB $ROOT_GUID $ROOT_A_UUID root-a
		part $VERITY_MB $VERITY_GUID $VERITY_A_UUID verity-a
		part $ROOT_MB $ROOT_GUID $ROOT_B_UUID root-b
		part $VERITY_MB $VERITY_GUID $VERITY_B_UUID verity-b
		part $CONFIG_MB $BASIC_GUID $CONFIG_UUID outpost-config
		part $DATA_MB $LINUX_GUID $DATA_UUID outpost-data
	} >"$W/layout.sfdisk"
	sfdisk -q --no-reread --no-tell-kernel "$img" <"$W/layout.sfdisk" >/dev/null
	[ "$BIOS" != 1 ] ||
		dd if="$GPTMBR" of="$img" bs=440 count=1 conv=notrunc status=none
	s=2048
	# Slot b (-) stays zeroes: a hole in the sparse file, not in the bmap.
	for p in esp.img:$ESP_MB root.erofs:$ROOT_MB root.verity:$VERITY_MB \
		-:$ROOT_MB -:$VERITY_MB config.img:$CONFIG_MB data.img:$DATA_MB; do
		[ "${p%%:*}" = - ] ||
			dd if="$W/${p%%:*}" of="$img" bs=512 seek=$s \
				conv=notrunc,sparse status=none
		s=$((s + ${p##*:} * 2048))
	done
}

# What scripts/update.sh bundles (docs/updates.md).
make_parts() {
	local p=$OUT/$NAME.parts
	rm -rf "$p" && mkdir -p "$p"
	cp "$W/root.erofs" "$W/root.verity" "$W/uki-a.efi" "$W/uki-b.efi" "$p/"
	echo "$VERSION" >"$p/version"
	echo "$BOARD_ARCH" >"$p/arch"
	touch -d "@$EPOCH" "$p"/*
}

main() {
	[ -x "$BIN" ] || die "no outpost binary at $BIN"
	[ -f "$KERNEL" ] || die "no kernel at $KERNEL"
	[ "$BIOS" = 1 ] || GPTMBR=$STUB # nothing more to check
	for f in "$STUB" "$LOADER" "$GPTMBR" "$CA_BUNDLE"; do
		[ -f "$f" ] || die "missing $f (scripts/setup.sh)"
	done
	mkdir -p "$OUT" && rm -rf "$W" && mkdir -p "$W"
	signing_key
	stage_rootfs
	make_erofs
	make_verity
	check_fit
	for slot in a b; do
		make_cmdline $slot
		make_uki $slot
	done
	make_esp
	make_config
	make_data
	make_disk
	rm -f "$OUT/$NAME.img.bmap"
	bmaptool -q create -o "$OUT/$NAME.img.bmap" "$OUT/$NAME.img"
	"$TOP/scripts/ova.sh" "$OUT/$NAME.img" "$OUT/$NAME.ova" "$VERSION" \
		"$KEY" "$CERT" "$W/ova"
	echo "$ROOT_HASH" >"$OUT/$NAME.roothash"
	make_parts
	[ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$W"
}

main
