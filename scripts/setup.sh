#!/usr/bin/env bash
# Install the Debian packages that building and testing outpost need.
# Idempotent and quick when everything is present; the Makefile runs it once
# per change of this file.  One line per area keeps merges easy.
set -euo pipefail

PKGS=(
	# build
	make gcc clang musl-tools cmake dpkg-dev xz-utils protobuf-c-compiler git
	# unit tests (host libraries of the same Debian versions as the static deps)
	libcmocka-dev libbearssl-dev libnghttp2-dev libc-ares-dev libpcre2-dev libprotobuf-c-dev zlib1g-dev
	# integration tests
	python3 python3-pytest python3-prometheus-client nginx-light openssl curl
	# tunnel tests: the grpc-js test controller (npm ci from its lockfile);
	# npm is added below only when no nodejs package already provides it
	nodejs
	# dialer tests (HTTP CONNECT proxy)
	squid
	# target policy tests (EGRESS_ALLOW): a test resolver on loopback
	dnsmasq-base
	# cross builds, container image and its tests
	gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf qemu-user-static runc podman skopeo uidmap iproute2
	qemu-system-arm qemu-efi-aarch64
	# appliance: kernel build, disk image, OVA, qemu boot tests
	linux-source-6.1 bc flex bison libelf-dev libssl-dev erofs-utils cryptsetup-bin sbsigntool systemd-boot-efi mtools dosfstools syslinux syslinux-common fdisk bmap-tools python3-vmdkstream faketime ca-certificates qemu-system-x86 qemu-utils ovmf e2fsprogs
	# benchmark (make bench)
	wrk
	# instructions per request (make bench-instr)
	valgrind
	# telemetry tests: a real Prometheus server scrapes /metrics (test_telemetry.py)
	prometheus
	# sessions tests and bench (test_sessions.py, make bench-sessions): sshd/ssh/scp, initdb/pg_ctl/psql/pgbench, socat
	openssh-server openssh-client postgresql socat
	# style
	clang-format
	# coverage (make coverage): llvm-profdata, llvm-cov
	llvm
	# packaging (make deb rpm packaging-test): lintian, rpmbuild, podman-compose (+ CNI dnsname), systemd-analyze
	lintian rpm podman-compose systemd golang-github-containernetworking-plugin-dnsname
)

command -v npm >/dev/null 2>&1 || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}" >&2
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
fi
