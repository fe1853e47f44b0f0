#!/usr/bin/env bash
# Native packages of the static binary: a .deb (dpkg-deb) and an .rpm
# (rpmbuild), the same content in each:
#
#   /usr/bin/outpost                     the binary
#   <unitdir>/outpost.service            deploy/systemd/outpost.service
#   /etc/outpost/outpost.conf            conffile: commented defaults (settings table)
#   /etc/outpost/tls/                    where the unit's LoadCredential= looks
#   /usr/share/man/man8/outpost.8.gz     generated from the settings table and the commands
#   copyright                            DEP-5, with the notices of the linked libraries
#
# usage: scripts/pkg.sh deb|rpm ARCH BINARY RUNBINARY OUTDIR
#   BINARY     the stripped binary for ARCH (what is shipped)
#   RUNBINARY  a command that runs it on this host (the same file, or its qemu wrapper)
# Environment: VERSION, SOURCE_DATE_EPOCH (timestamps; reproducible output).
set -euo pipefail

die() { echo "pkg: $*" >&2; exit 1; }
[ $# -eq 5 ] || die "usage: pkg.sh deb|rpm ARCH BINARY RUNBINARY OUTDIR"
KIND=$1 ARCH=$2 BIN=$3 RUN=$4 OUT=$(realpath -m "$5")
TOP=$(cd "$(dirname "$0")/.." && pwd)
: "${VERSION:?}" "${SOURCE_DATE_EPOCH:?}"
DATE=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
SUMMARY="outbound-only connector with mTLS tunnels to an edge controller"

case $KIND/$ARCH in
deb/x86_64) PARCH=amd64 ;; deb/aarch64) PARCH=arm64 ;; deb/armhf) PARCH=armhf ;;
rpm/x86_64) PARCH=x86_64 ;; rpm/aarch64) PARCH=aarch64 ;; rpm/armhf) PARCH=armv7hl ;;
*) die "no $KIND for ARCH $ARCH" ;;
esac

# The installed tree, common to both formats; $1 = root, $2 = unit dir, $3 = licence dir.
stage() {
	local r=$1
	install -D -m 0755 "$BIN" "$r/usr/bin/outpost"
	install -D -m 0644 "$TOP/deploy/systemd/outpost.service" "$r$2/outpost.service"
	install -d -m 0755 "$r/etc/outpost"
	install -d -m 0755 "$r/etc/outpost/tls"
	"$TOP/scripts/pkg-settings.py" conf >"$r/etc/outpost/outpost.conf"
	chmod 0644 "$r/etc/outpost/outpost.conf"
	install -d -m 0755 "$r/usr/share/man/man8" "$r$3"
	"$TOP/scripts/pkg-settings.py" man "$RUN" "$VERSION" "$DATE" | gzip -9n >"$r/usr/share/man/man8/outpost.8.gz"
	"$TOP/scripts/pkg-copyright.py" "$RUN" "$TOP/LICENSE" >"$r$3/copyright"
	chmod 0644 "$r/usr/share/man/man8/outpost.8.gz" "$r$3/copyright"
}

# Built-Using: the Debian source packages linked into the binary.
built_using() {
	"$RUN" version | sed -n '/^Debian sources:/,$p' | tail -n +2 |
		awk '{printf "%s%s (= %s)", (NR == 1 ? "" : ", "), $1, $2}'
}

clamp() { find "$1" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +; }

deb() {
	local w=$OUT/deb-$ARCH r
	rm -rf "$w" && r=$w/root && mkdir -p "$r/DEBIAN"
	stage "$r" /lib/systemd/system /usr/share/doc/outpost
	printf 'outpost (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- outpost authors <outpost@example.org>  %s\n' \
		"$VERSION" "$VERSION" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")" |
		gzip -9n >"$r/usr/share/doc/outpost/changelog.gz"
	chmod 0644 "$r/usr/share/doc/outpost/changelog.gz"
	# A static binary is the product (one file, no runtime dependencies);
	# Built-Using names the Debian sources linked into it.
	install -D -m 0644 /dev/stdin "$r/usr/share/lintian/overrides/outpost" <<-EOF
	outpost: statically-linked-binary [usr/bin/outpost]
	EOF
	echo /etc/outpost/outpost.conf >"$r/DEBIAN/conffiles"
	cat >"$r/DEBIAN/control" <<-EOF
	Package: outpost
	Version: $VERSION
	Architecture: $PARCH
	Maintainer: outpost authors <outpost@example.org>
	Installed-Size: $(du -sk --exclude=DEBIAN "$r" | cut -f1)
	Built-Using: $(built_using)
	Section: net
	Priority: optional
	Description: $SUMMARY
	 outpost dials out to an edge controller, keeps mutually authenticated
	 HTTP/2 tunnels open and executes on the private network the requests the
	 edge sends.  Nothing listens except a health port.  One static binary,
	 run as a sandboxed systemd service (Type=notify, DynamicUser).
	EOF
	(cd "$r" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
		xargs -0 md5sum >DEBIAN/md5sums)
	chmod 0644 "$r/DEBIAN/control" "$r/DEBIAN/conffiles" "$r/DEBIAN/md5sums"
	clamp "$r"
	dpkg-deb --root-owner-group -Zxz --build "$r" "$OUT/outpost_${VERSION}_$PARCH.deb" >/dev/null
	echo "$OUT/outpost_${VERSION}_$PARCH.deb"
}

rpm_() {
	local w=$OUT/rpm-$ARCH r
	rm -rf "$w" && r=$w/root && mkdir -p "$r" "$w/top"
	stage "$r" /usr/lib/systemd/system /usr/share/licenses/outpost
	clamp "$r"
	cat >"$w/outpost.spec" <<-EOF
	Name: outpost
	Version: $VERSION
	Release: 1
	Summary: $SUMMARY
	License: ISC and MIT and BSD
	%global debug_package %{nil}
	%global __os_install_post %{nil}
	%global _build_id_links none
	%global source_date_epoch_from_changelog 0
	%global use_source_date_epoch_as_buildtime 1
	%global clamp_mtime_to_source_date_epoch 1

	%description
	outpost dials out to an edge controller, keeps mutually authenticated
	HTTP/2 tunnels open and executes on the private network the requests the
	edge sends.  Nothing listens except a health port.  One static binary,
	run as a sandboxed systemd service (Type=notify, DynamicUser).

	%install
	cp -a $r/. %{buildroot}/

	%files
	%attr(0755,root,root) /usr/bin/outpost
	%attr(0644,root,root) /usr/lib/systemd/system/outpost.service
	%dir %attr(0755,root,root) /etc/outpost
	%dir %attr(0755,root,root) /etc/outpost/tls
	%config(noreplace) %attr(0644,root,root) /etc/outpost/outpost.conf
	%attr(0644,root,root) /usr/share/man/man8/outpost.8.gz
	%license %attr(0644,root,root) /usr/share/licenses/outpost/copyright
	EOF
	rpmbuild -bb --quiet --define "_topdir $w/top" --define "_buildhost outpost" \
		--target "$PARCH-linux" "$w/outpost.spec" >/dev/null
	cp "$w/top/RPMS/$PARCH/outpost-$VERSION-1.$PARCH.rpm" "$OUT/"
	echo "$OUT/outpost-$VERSION-1.$PARCH.rpm"
}

mkdir -p "$OUT"
case $KIND in deb) deb ;; rpm) rpm_ ;; *) die "unknown kind $KIND" ;; esac
