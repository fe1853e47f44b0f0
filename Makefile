# outpost — one non-recursive GNU Makefile.
#
#   make                 build/$(ARCH)/outpost and outpost-edge (static musl), stripped copies
#   make test            unit (ASan+UBSan), integration, fuzz smoke, size, reproducibility
#   make run             local edge + connector + demo upstream, end to end
#   make O=dir V=1 ARCH=x86_64
#
# Local overrides go in config.mak (not tracked).

-include config.mak

ARCH	?= x86_64
O	?= build
V	?= 0
B	:= $(O)/$(ARCH)
H	:= $(O)/host
F	:= $(O)/fuzz
DEPS	:= $(O)/deps/$(ARCH)

ifeq ($(V),0)
Q	:= @
say	= @printf '  %-7s %s\n' $(1) $(2);
else
Q	:=
say	=
endif

SHELL		:= /bin/bash
PYTHON		?= /usr/bin/python3
VERSION		:= $(shell cat VERSION)
REVISION	:= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
export SOURCE_DATE_EPOCH := $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

# Per-target facts: board/<target>/board.env (the board of that name, else
# the one whose BOARD_ARCH is $(ARCH)); scripts and tests read the same file.
BOARD_ENV := $(firstword $(wildcard board/$(ARCH)/board.env) $(foreach f,$(sort \
	$(wildcard board/*/board.env)),$(if $(filter BOARD_ARCH=$(ARCH),$(file <$(f))),$(f))))
ifeq ($(BOARD_ENV),)
$(error ARCH=$(ARCH): no board/*/board.env says BOARD_ARCH=$(ARCH))
endif
include $(BOARD_ENV)

# The toolchain (scripts/toolchain.sh, which may fetch a cross sysroot) is
# asked for only when a recipe first uses CC or STRIP, never while the
# Makefile is read: `make clean ARCH=aarch64` fetches nothing.
TC	= $(shell . scripts/toolchain.sh && toolchain_setup $(ARCH) && echo $$$(1))
CC	= $(eval CC := $(call TC,CC))$(CC)
STRIP	= $(eval STRIP := $(call TC,STRIP))$(STRIP)
HOSTCC	?= gcc
FUZZCC	?= clang

WARN	:= -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wpointer-arith -Wformat=2 -Wvla \
	   -Wundef -Wno-unused-parameter
DEFS	:= -D_GNU_SOURCE -DOUTPOST_VERSION='"$(VERSION)"' \
	   -DOUTPOST_REVISION='"$(REVISION)"' $(TEST_DEFS)
INC	= -Isrc -I$(1)/gen
COMMON	:= -std=c11 $(WARN) $(DEFS) -MMD -MP -ffile-prefix-map=$(CURDIR)/=
CFLAGS	:= $(COMMON) $(call INC,$(B)) -isystem $(DEPS)/include -Os -DNDEBUG \
	   -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables \
	   -ffile-prefix-map=$(B)/= -fno-ident
LDFLAGS	:= -static -Wl,--gc-sections -Wl,--build-id=none -Wl,-O1
LDLIBS	:= -L$(DEPS)/lib -lnghttp2 -lcares -lpcre2-8 -lprotobuf-c -lbearssl -lz
HOSTCFLAGS := $(COMMON) $(call INC,$(H)) -g -O1 -fno-omit-frame-pointer \
	   -fsanitize=address,undefined -fno-sanitize-recover=all
HOSTLIBS := -lnghttp2 -lcares -lpcre2-8 -lprotobuf-c -lbearssl -lz -lcmocka
FUZZCFLAGS := $(COMMON) $(call INC,$(F)) -g -O1 -fsanitize=fuzzer-no-link,address,undefined \
	   -fno-sanitize-recover=all \
	   -DOUTPOST_FUZZ

# Every module under src/ except the binaries' main files and the edge.
# LWIP_ONLY: sources of the NET=lwip variant alone (see the lwIP block).
LWIP_ONLY := src/net/net_lwip.c src/net/net_lwip_if.c tests/unit/test_net_lwip.c tests/unit/wrapfd_lwip.c
MODS	:= lib rx net cfg http tls h2 grpc otel connector init trace update
CORE	:= $(filter-out $(LWIP_ONLY),$(sort $(foreach m,$(MODS),$(wildcard src/$(m)/*.c))))
EDGE	:= $(sort $(wildcard src/edge/*.c))
PROTOS	:= $(shell find src/proto -name '*.proto' 2>/dev/null | sort)
# Generated as $(1)/gen/proto/<package path>/<name>.pb-c.[ch], included as
# "proto/connector/v1/connector.pb-c.h" (-I$(1)/gen): the path says generated.
PBC	= $(patsubst src/proto/%.proto,$(1)/gen/proto/%.pb-c.c,$(PROTOS))

obj	= $(patsubst %.c,$(1)/obj/%.o,$(2))

all: $(B)/outpost $(B)/outpost-edge

# --- static binaries --------------------------------------------------------

# Dependency licence notices and versions embedded for `outpost version`.
LICDEPS	:= bearssl c-ares nghttp2 pcre2 protobuf-c zlib
$(B)/gen/licenses.c: scripts/embed-licenses.sh $(DEPS)/SOURCES
	@mkdir -p $(@D)
	$(call say,GEN,$@)scripts/embed-licenses.sh $(DEPS) $(LICDEPS) > $@

$(B)/outpost.unstripped: $(call obj,$(B),src/cmd/outpost.c $(B)/gen/licenses.c) $(B)/libcore.a
	$(call say,LD,$@)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/outpost-edge.unstripped: $(call obj,$(B),src/cmd/outpost-edge.c $(EDGE)) $(B)/libcore.a
	$(call say,LD,$@)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/%: $(B)/%.unstripped
	$(call say,STRIP,$@)$(STRIP) -o $@ $<

# deps.sh writes build/deps/ARCH; an O= build elsewhere takes a copy.
$(DEPS)/SOURCES: scripts/deps.lock scripts/deps.sh scripts/toolchain.sh scripts/board.sh $(BOARD_ENV)
	$(call say,DEPS,$(ARCH))scripts/deps.sh $(ARCH)
	$(Q)[ build/deps/$(ARCH) -ef $(DEPS) ] || { rm -rf $(DEPS) && mkdir -p $(@D) && \
		cp -a build/deps/$(ARCH)/. $(DEPS)/; }

# Objects that embed OUTPOST_REVISION are rebuilt when HEAD moves, so one
# binary never reports two revisions (the image labels name the same one).
# The stamp is rewritten only when the revision differs: its age is what
# the objects compare against.
REVSTAMP := $(O)/.revision
$(REVSTAMP): FORCE
	@mkdir -p $(@D) && [ "$$(cat $@ 2>/dev/null)" = "$(REVISION)" ] || echo "$(REVISION)" >$@
$(foreach d,$(B) $(H) $(F),$(call obj,$(d),$(shell grep -rl OUTPOST_REVISION src))): $(REVSTAMP)
FORCE:

# One template for every build variant (static $(B), host/ASan $(H), fuzz
# $(F); repro is the static variant under another O=):
#   $(1) directory, $(2) compiler variable, $(3) flags variable, $(4) label,
#   $(5) what its libcore.a holds, $(6) order-only prerequisite of objects.
# Generated protobuf-c code (never committed) goes to $(1)/gen/proto/;
# objects depend on its headers.  OBJS lists every object for -include.
SRCS	= $(CORE) $(EDGE) $(wildcard src/cmd/*.c tests/unit/*.c tests/fuzz/*.c) \
	  $(call PBC,$(1)) $(1)/gen/licenses.c
define variant
$(1)/obj/%.o: %.c | $(6)
	@mkdir -p $$(@D)
	$$(call say,$(4),$$@)$$($(2)) $$($(3)) -c -o $$@ $$<
$(1)/libcore.a: $(call obj,$(1),$(5) $(call PBC,$(1)))
	$$(call say,AR,$$@)rm -f $$@ && ar rcsD $$@ $$^
$(1)/gen/proto/%.pb-c.c $(1)/gen/proto/%.pb-c.h: src/proto/%.proto
	@mkdir -p $$(@D)
	$$(call say,PROTOC,$$<)protoc-c --proto_path=src --c_out=$(1)/gen $$<
$(call obj,$(1),$(CORE) $(EDGE) src/cmd/outpost.c src/cmd/outpost-edge.c): \
	$(patsubst %.c,%.h,$(call PBC,$(1)))
OBJS	+= $(call obj,$(1),$(call SRCS,$(1)))
endef
OBJS	:=
$(eval $(call variant,$(B),CC,CFLAGS,CC,$(CORE),$(DEPS)/SOURCES))
$(eval $(call variant,$(H),HOSTCC,HOSTCFLAGS,HOSTCC,$(CORE),))
$(eval $(call variant,$(F),FUZZCC,FUZZCFLAGS,FUZZCC,$(CORE) $(EDGE),))

# --- lwIP variant: `make NET=lwip` / `make lwip-test` --------------------------
# The same static build with the socket shim on lwIP (src/net/net_lwip.c and
# lwIP's static library from deps.sh, configured by src/net/lwip/lwipopts.h)
# into $(O)/$(ARCH)-lwip; the POSIX build above never sees lwIP.
LW	:= $(O)/$(ARCH)-lwip
LWCORE	:= $(filter-out src/net/net_posix.c,$(CORE)) src/net/net_lwip.c src/net/net_lwip_if.c
# The reactor polls through net_poll() there (src/rx/rx_poll.c): epoll cannot
# see lwIP's sockets.
LWCFLAGS = $(subst $(B)/,$(LW)/,$(CFLAGS)) -Isrc/net/lwip -isystem $(DEPS)/lwip/include \
	   -DRX_BACKEND=rx_poll_backend
LWLIBS	= $(LDLIBS) -llwip
$(eval $(call variant,$(LW),CC,LWCFLAGS,CC-LWIP,$(LWCORE),$(DEPS)/SOURCES))
$(LW)/gen/licenses.c: $(B)/gen/licenses.c
	@mkdir -p $(@D) && cp $< $@
$(LW)/outpost.unstripped: $(call obj,$(LW),src/cmd/outpost.c $(LW)/gen/licenses.c) $(LW)/libcore.a
	$(call say,LD,$@)$(CC) $(LDFLAGS) -o $@ $^ $(LWLIBS)
$(LW)/outpost: $(LW)/outpost.unstripped
	$(call say,STRIP,$@)$(STRIP) -o $@ $<
ifeq ($(NET),lwip)
all: $(LW)/outpost
endif
# The shim's unit test over lwIP's loopback netif (static, musl cmocka, whose
# header would redefine musl's uintptr_t on aarch64).
$(LW)/obj/tests/%.o: LWCFLAGS += -UNDEBUG -D_UINTPTR_T_DEFINED
# wrapfd's faults reach lwIP's sockets through --wrap (tests/unit/wrapfd_lwip.c).
$(LW)/test_net_lwip: $(LW)/obj/tests/unit/test_net_lwip.o $(LW)/obj/tests/unit/wrapfd.o \
		$(LW)/obj/tests/unit/wrapfd_lwip.o $(LW)/libcore.a
	$(call say,LD,$@)$(CC) $(LDFLAGS) -Wl,--wrap=lwip_recv,--wrap=lwip_readv,--wrap=lwip_send -o $@ $^ $(LWLIBS) -lcmocka
.PHONY: lwip lwip-test
lwip: $(LW)/outpost
# Cross (ARCH=aarch64): also the reactor's tests (both backends) under qemu.
lwip-test: $(LW)/test_net_lwip $(if $(filter-out x86_64,$(ARCH)),$(B)/test_rx)
	$(Q)$(QEMU) $(LW)/test_net_lwip
	$(if $(QEMU),$(Q)$(QEMU) $(B)/test_rx)
# The tunnel checks over a tap device, the lwIP and the POSIX build side by
# side (tests/lwip: network namespaces, so as root; host ARCH only).
# LWIP_TESTS='tests/lwip/test_lwip.py -k name' picks tests.
LWIP_TESTS ?= tests/lwip
.PHONY: lwip-integration
lwip-integration: setup $(B)/outpost $(B)/outpost-edge $(LW)/outpost
	$(Q)OUTPOST_BIN=$(CURDIR)/$(B)/outpost OUTPOST_LWIP_BIN=$(CURDIR)/$(LW)/outpost \
		OUTPOST_EDGE_BIN=$(CURDIR)/$(B)/outpost-edge \
		$(PYTHON) -m pytest -q -p no:cacheprovider $(LWIP_TESTS)
# --- end lwIP variant -----------------------------------------------------------

# `make size NET=lwip`: the lwIP build's binary instead.
SIZEBIN	:= $(if $(filter lwip,$(NET)),$(LW)/outpost,$(B)/outpost)
size: $(SIZEBIN)
	@s=$$(stat -c %s $<); printf 'outpost %s: %d bytes stripped (%d KiB)\n' \
		$(ARCH)$(if $(filter lwip,$(NET)),-lwip) $$s $$((s / 1024)); \
	if [ $$s -gt 2097152 ]; then echo 'size: over the 2 MiB limit' >&2; exit 1; fi

# --- host build: unit tests with ASan + UBSan -------------------------------

UNIT	:= $(filter-out $(LWIP_ONLY),$(sort $(wildcard tests/unit/test_*.c)))
UNITBIN	:= $(patsubst tests/unit/%.c,$(H)/%,$(UNIT))

# Helpers every unit test links (tests/unit/*.c other than test_*.c, e.g.
# the wrapfd fault injector).
UNITAUX	:= $(patsubst %.c,$(H)/obj/%.o,$(filter-out $(UNIT) $(LWIP_ONLY),$(wildcard tests/unit/*.c)))

$(H)/test_%: $(H)/obj/tests/unit/test_%.o $(UNITAUX) $(H)/libcore.a
	$(call say,LD,$@)$(HOSTCC) $(HOSTCFLAGS) -o $@ $^ $(HOSTLIBS)

# The edge's unit test also links the edge's objects (they are not in libcore).
$(H)/test_edge: $(H)/obj/tests/unit/test_edge.o $(call obj,$(H),$(EDGE)) $(UNITAUX) $(H)/libcore.a
	$(call say,LD,$@)$(HOSTCC) $(HOSTCFLAGS) -o $@ $^ $(HOSTLIBS)
$(H)/test_edge_id: $(H)/obj/tests/unit/test_edge_id.o $(call obj,$(H),$(EDGE)) $(UNITAUX) $(H)/libcore.a
	$(call say,LD,$@)$(HOSTCC) $(HOSTCFLAGS) -o $@ $^ $(HOSTLIBS)

# Test tools (tests/tools/*.c): host programs the integration tests drive.
$(H)/toml_dump: $(H)/obj/tests/tools/toml_dump.o $(H)/libcore.a
	$(call say,LD,$@)$(HOSTCC) $(HOSTCFLAGS) -o $@ $^ $(HOSTLIBS)

# --- cross targets (ARCH != x86_64): run under qemu-user ----------------------
# The same unit tests, built static with the target toolchain against the
# deps from deps.sh (cmocka included), without sanitizers; every target
# binary runs through $(QEMU), called explicitly (no binfmt here).

QEMU	:=
RUNBIN	= $(CURDIR)/$(B)/$(1)
INTEGRATION_TESTS ?= tests/integration
ifneq ($(ARCH),x86_64)
QEMU	:= $(BOARD_QEMU_USER)
UNITBIN	:= $(patsubst tests/unit/%.c,$(B)/%,$(UNIT))
XUNITAUX := $(call obj,$(B),$(filter-out $(UNIT) $(LWIP_ONLY),$(wildcard tests/unit/*.c)))
RUNBIN	= $(CURDIR)/$(B)/$(1)-qemu
INTEGRATION_TESTS := tests/integration/test_health.py

$(B)/obj/tests/%.o: CFLAGS += -UNDEBUG -D_UINTPTR_T_DEFINED
$(B)/test_%: $(B)/obj/tests/unit/test_%.o $(XUNITAUX) $(B)/libcore.a
	$(call say,LD,$@)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka
$(B)/test_edge: $(B)/obj/tests/unit/test_edge.o $(call obj,$(B),$(EDGE)) $(XUNITAUX) $(B)/libcore.a
	$(call say,LD,$@)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka
$(B)/test_edge_id: $(B)/obj/tests/unit/test_edge_id.o $(call obj,$(B),$(EDGE)) $(XUNITAUX) $(B)/libcore.a
	$(call say,LD,$@)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka
$(B)/%-qemu: $(B)/%
# qemu-user refuses PR_SET_SECCOMP (EINVAL): the emulated binaries run
# without the allow-list (SECCOMP=false), which only x86_64 tests.
	$(Q)printf '#!/bin/sh\nSECCOMP=false exec %s %s "$$@"\n' $(QEMU) $(CURDIR)/$< >$@ && chmod +x $@
endif

unit: setup include-check $(UNITBIN)
	$(Q)for t in $(UNITBIN); do echo "== $$t"; $(QEMU) $$t || exit 1; done

# --- fuzz targets (clang + libFuzzer) ---------------------------------------

FUZZ	:= $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZBIN	:= $(patsubst tests/fuzz/%.c,$(F)/%,$(FUZZ))
FUZZ_SECONDS ?= 20

$(F)/fuzz_%: $(F)/obj/tests/fuzz/fuzz_%.o $(F)/libcore.a
	$(call say,LD,$@)$(FUZZCC) -fsanitize=fuzzer,address,undefined -o $@ $^ \
		$(filter-out -lcmocka,$(HOSTLIBS))

fuzz-build: setup $(FUZZBIN)

fuzz-smoke: fuzz-build
	$(Q)for f in $(FUZZBIN); do n=$${f##*/fuzz_}; \
		echo "== fuzz $$n ($(FUZZ_SECONDS)s)"; \
		mkdir -p $(F)/new/$$n; \
		$$f -max_total_time=$(FUZZ_SECONDS) -timeout=5 -rss_limit_mb=1024 \
			-print_final_stats=1 $(F)/new/$$n tests/fuzz/corpus/$$n \
			2>$(F)/$$n.log || { tail -40 $(F)/$$n.log; exit 1; }; \
		grep -aE 'stat::number_of_executed_units' $(F)/$$n.log; done

# Long fuzzing (#17 item 7, run by hand): every target FUZZ_SECONDS (default
# 600) with the fuzz-smoke loop; `make fuzz-long FUZZ_SECONDS=N`.
fuzz-long: FUZZ_SECONDS = 600
fuzz-long: fuzz-smoke
.PHONY: fuzz-long

# --- sanitizer soak (#17 item 8) ----------------------------------------------
# The ASan+UBSan host builds (glibc, Debian's libraries) of both binaries
# under mixed load for SOAK_SECONDS; tests/soak/soak.py says what and why.
SOAK_SECONDS ?= 120
$(H)/gen/licenses.c: $(B)/gen/licenses.c
	@mkdir -p $(@D) && cp $< $@
$(H)/outpost: $(call obj,$(H),src/cmd/outpost.c $(H)/gen/licenses.c) $(H)/libcore.a
	$(call say,LD,$@)$(HOSTCC) $(HOSTCFLAGS) -o $@ $^ $(filter-out -lcmocka,$(HOSTLIBS))
$(H)/outpost-edge: $(call obj,$(H),src/cmd/outpost-edge.c $(EDGE)) $(H)/libcore.a
	$(call say,LD,$@)$(HOSTCC) $(HOSTCFLAGS) -o $@ $^ $(filter-out -lcmocka,$(HOSTLIBS))
soak: setup $(H)/outpost $(H)/outpost-edge
	$(Q)$(PYTHON) tests/soak/soak.py --outpost $(H)/outpost --edge $(H)/outpost-edge \
		--seconds $(SOAK_SECONDS) --dir $(O)/soak
.PHONY: soak

# --- coverage (#17 item 7, run by hand): `make coverage` ---------------------
# clang source-based coverage of the unit tests and of every fuzz target run
# once over its committed corpus (tests/coverage/corpus_main.c, no libFuzzer),
# merged by llvm-profdata; scripts/coverage.py prints line coverage per
# module from llvm-cov (recorded in docs/coverage.md).
CV	:= $(O)/cov
COVFLAGS := -fprofile-instr-generate -fcoverage-mapping
COVCFLAGS := $(COMMON) $(call INC,$(CV)) -g -O0 $(COVFLAGS)
$(eval $(call variant,$(CV),FUZZCC,COVCFLAGS,COVCC,$(CORE) $(EDGE),))
COVUNIT	:= $(patsubst tests/unit/%.c,$(CV)/%,$(UNIT))
COVFUZZ	:= $(patsubst tests/fuzz/%.c,$(CV)/%,$(FUZZ))
$(CV)/test_%: $(CV)/obj/tests/unit/test_%.o $(call obj,$(CV),$(filter-out $(UNIT) \
		$(LWIP_ONLY),$(wildcard tests/unit/*.c))) $(CV)/libcore.a
	$(call say,LD,$@)$(FUZZCC) $(COVFLAGS) -o $@ $^ $(HOSTLIBS) -lm
$(CV)/fuzz_%: $(CV)/obj/tests/fuzz/fuzz_%.o $(CV)/obj/tests/coverage/corpus_main.o $(CV)/libcore.a
	$(call say,LD,$@)$(FUZZCC) $(COVFLAGS) -o $@ $^ $(filter-out -lcmocka,$(HOSTLIBS)) -lm
OBJS	+= $(CV)/obj/tests/coverage/corpus_main.o
coverage: setup $(COVUNIT) $(COVFUZZ)
	$(Q)rm -rf $(CV)/prof && mkdir -p $(CV)/prof
	$(Q)for t in $(COVUNIT); do LLVM_PROFILE_FILE=$(CV)/prof/%p.profraw $$t \
		>$(CV)/prof/$${t##*/}.log 2>&1 || { tail -20 $(CV)/prof/$${t##*/}.log; exit 1; }; done
	$(Q)for f in $(COVFUZZ); do n=$${f##*/fuzz_}; LLVM_PROFILE_FILE=$(CV)/prof/%p.profraw \
		$$f tests/fuzz/corpus/$$n || exit 1; done
	$(Q)llvm-profdata merge -sparse -o $(CV)/all.profdata $(CV)/prof/*.profraw
	$(Q)$(PYTHON) scripts/coverage.py $(CV)/all.profdata $(COVUNIT) $(COVFUZZ)
.PHONY: coverage

# --- integration ------------------------------------------------------------

# The grpc-js test controller's packages, pinned by its package-lock.json.
CTRL	:= tests/integration/controller
$(CTRL)/node_modules/.stamp: $(CTRL)/package.json $(CTRL)/package-lock.json | setup
	$(call say,NPM,$(CTRL))cd $(CTRL) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.stamp
# The OTLP test receiver's (protobufjs), pinned the same way.
OTLPRCV	:= tests/integration/otlp
$(OTLPRCV)/node_modules/.stamp: $(OTLPRCV)/package.json $(OTLPRCV)/package-lock.json | setup
	$(call say,NPM,$(OTLPRCV))cd $(OTLPRCV) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.stamp

# The seccomp probe (tests/seccomp/): a test-only program, never installed.
$(B)/sandbox-probe: $(call obj,$(B),tests/seccomp/sandbox_probe.c) $(B)/libcore.a
	$(call say,LD,$@)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

integration: setup all $(CTRL)/node_modules/.stamp $(OTLPRCV)/node_modules/.stamp $(patsubst $(CURDIR)/%,%,$(call RUNBIN,outpost) $(call RUNBIN,outpost-edge)) $(H)/toml_dump $(B)/sandbox-probe
	$(Q)OUTPOST_BIN=$(call RUNBIN,outpost) OUTPOST_EDGE_BIN=$(call RUNBIN,outpost-edge) \
		TOML_DUMP_BIN=$(CURDIR)/$(H)/toml_dump \
		SANDBOX_PROBE=$(CURDIR)/$(B)/sandbox-probe \
		$(PYTHON) -m pytest -q -p no:cacheprovider $(INTEGRATION_TESTS)

# --- container image: OCI layout + docker-load archive (image/oci.sh) --------

OCI_ARCHS ?= x86_64 aarch64 armhf
OCI_ENV	= O=$(O) VERSION=$(VERSION) REVISION=$(REVISION)

oci: $(B)/outpost
	$(Q)$(OCI_ENV) image/oci.sh image $(ARCH)

oci-edge: $(B)/outpost-edge
	$(Q)$(OCI_ENV) image/oci.sh image $(ARCH) edge

oci-multi:
	$(Q)for a in $(OCI_ARCHS); do $(MAKE) -s ARCH=$$a $(O)/$$a/outpost || exit 1; done
	$(Q)$(OCI_ENV) image/oci.sh multi $(OCI_ARCHS)

oci-test: setup oci oci-edge
	$(Q)OCI_DIR=$(CURDIR)/$(O)/oci OCI_ARCH=$(ARCH) \
		$(PYTHON) -m pytest -q -p no:cacheprovider tests/oci

# --- appliance: kernel, signed disk image, OVA, boot tests ------------------

IMG	:= $(O)/image
IMGNAME	:= outpost-$(VERSION)-$(ARCH)
# The essential boots; image-test-full runs every boot path and device set.
IMAGE_TESTS ?= tests/image -m 'not full'

image: setup $(B)/outpost
	$(Q)k=$$(scripts/kernel.sh $(ARCH)) && scripts/image.sh $(B)/outpost "$$k" $(IMG)
	$(Q)for f in $(IMG)/$(IMGNAME).img $(IMG)/$(IMGNAME).img.bmap $(IMG)/$(IMGNAME).ova; do \
		printf '  %-44s %10d bytes (%s allocated)\n' $$f $$(stat -c %s $$f) $$(du -h $$f | cut -f1); done

# The signed update bundle (#21, docs/updates.md) from the parts `make image`
# leaves in $(IMG)/<name>.parts/ (signing as for the image).
update: image
	$(Q)scripts/update.sh $(IMG)/outpost-$(VERSION)-x86_64.parts $(IMG)

# Update tests (#21): the same source built as version N+1 (VERSION's last
# number plus one) into $(NEXT_O), with the test-only never-ready switch
# (OUTPOST_TEST_NEVER_READY, src/cmd/outpost.c) compiled in; never a
# release.  scripts/next-update.sh makes from it, into $(IMG)/next/, the
# N+1 image and bundle and a never-ready N+1 bundle (same signing key).
NEXT_VERSION := $(shell awk -F. -v OFS=. '{ $$NF = $$NF + 1; print }' VERSION)
NEXT_O	:= $(O)/next
next-bin:
	$(Q)$(MAKE) --no-print-directory O=$(NEXT_O) VERSION=$(NEXT_VERSION) \
		TEST_DEFS=-DOUTPOST_TEST_NEVER_READY $(NEXT_O)/$(ARCH)/outpost

next-update: image next-bin
	$(Q)k=$$(scripts/kernel.sh $(ARCH)) && scripts/next-update.sh \
		$(NEXT_O)/$(ARCH)/outpost "$$k" $(IMG) $(NEXT_VERSION)

image-test: image next-update
	$(Q)OUTPOST_BIN=$(CURDIR)/$(B)/outpost OUTPOST_IMAGE_DIR=$(CURDIR)/$(IMG) \
		OUTPOST_NEXT_BIN=$(CURDIR)/$(NEXT_O)/$(ARCH)/outpost \
		OUTPOST_NEXT_DIR=$(CURDIR)/$(IMG)/next \
		OUTPOST_KERNEL=$$(scripts/kernel.sh $(ARCH)) \
		$(PYTHON) -m pytest -q -p no:cacheprovider $(IMAGE_TESTS)

image-test-full:
	$(Q)$(MAKE) --no-print-directory image-test IMAGE_TESTS=tests/image

# --- edge boxes: the aarch64 disk image under qemu-system-aarch64 -----------

# The same appliance disk for board/aarch64-virt: UEFI only (BOOTAA64.EFI,
# systemd's aarch64 stub from the sysroot), signed like `make image`.
BOARD_IMAGE := outpost-$(VERSION)-aarch64
board-image: setup
	$(Q)$(MAKE) -s ARCH=aarch64 $(O)/aarch64/outpost
	$(Q)k=$$(scripts/kernel.sh aarch64-virt) && s=$$(scripts/sysroot.sh aarch64) && \
		IMAGE_BOARD=aarch64-virt IMAGE_STUB_ROOT=$$s \
		scripts/image.sh $(O)/aarch64/outpost "$$k" $(IMG) $(BOARD_IMAGE)
	$(Q)rm -f $(IMG)/$(BOARD_IMAGE).ova  # no ARM hypervisor takes an OVA
	$(Q)for f in $(IMG)/$(BOARD_IMAGE).img $(IMG)/$(BOARD_IMAGE).img.bmap; do \
		printf '  %-44s %10d bytes (%s allocated)\n' $$f $$(stat -c %s $$f) $$(du -h $$f | cut -f1); done

board-test: setup
	$(Q)$(MAKE) -s ARCH=aarch64 $(O)/aarch64/outpost
	$(Q)OUTPOST_AARCH64_BIN=$(CURDIR)/$(O)/aarch64/outpost \
		$(PYTHON) -m pytest -q -p no:cacheprovider tests/board
ifeq ($(ARCH),aarch64)
test: board-test
endif

# --- native packages, deployment manifests (deploy/, scripts/pkg*) ----------

# build/pkg/outpost_VERSION_DEBARCH.deb and outpost-VERSION-1.RPMARCH.rpm for
# ARCH; the man page and copyright come from running the binary (qemu-user
# for a cross ARCH).
PKG	:= $(O)/pkg
PKGRUN	:= $(patsubst $(CURDIR)/%,%,$(call RUNBIN,outpost))
PKG_ENV	= VERSION=$(VERSION) $(if $(QEMU),PKG_QEMU=$(QEMU))

deb rpm: setup $(B)/outpost $(PKGRUN)
	$(Q)$(PKG_ENV) scripts/pkg.sh $@ $(ARCH) $(B)/outpost $(call RUNBIN,outpost) $(PKG)

# Files generated from the settings table: rewritten, or checked for drift.
deploy-settings:
	$(Q)$(PYTHON) scripts/pkg-settings.py configmap > deploy/kustomize/base/settings.env
deploy-check:
	$(Q)$(PYTHON) scripts/pkg-settings.py configmap --check

# kubectl kustomize, systemd-analyze, lintian, dpkg/rpm scratch-root installs, podman-compose.
packaging-test: setup deploy-check deb rpm oci $(B)/outpost-edge
	$(Q)OUTPOST_BIN=$(call RUNBIN,outpost) OUTPOST_EDGE_BIN=$(CURDIR)/$(B)/outpost-edge \
		OCI_TAR=$(CURDIR)/$(O)/oci/outpost-$(ARCH).tar PKG_DIR=$(CURDIR)/$(PKG) PKG_ARCH=$(ARCH) $(PKG_ENV) \
		$(PYTHON) -m pytest -q -p no:cacheprovider tests/packaging

# --- reproducibility, style, setup --------------------------------------------

repro: setup
	$(Q)rm -rf $(O)/repro && $(MAKE) -s O=$(O)/repro/a all && $(MAKE) -s O=$(O)/repro/b all
	$(Q)for b in outpost outpost-edge; do cmp $(O)/repro/a/$(ARCH)/$$b $(O)/repro/b/$(ARCH)/$$b || exit 1; \
		echo "repro: $$b byte-identical ($$(sha256sum < $(O)/repro/a/$(ARCH)/$$b | cut -c1-16))"; done

# The static sources also compile with clang against musl's headers (the
# fuzz build covers clang against glibc).
CLANG_MUSL = clang --target=x86_64-linux-musl -nostdinc -isystem /usr/include/x86_64-linux-musl \
	-isystem $$(clang -print-resource-dir)/include -fsyntax-only
clang-check: $(B)/outpost $(B)/outpost-edge
	$(call say,CLANG,musl-headers)for f in $(CORE) $(EDGE) src/cmd/outpost.c src/cmd/outpost-edge.c; do \
		$(CLANG_MUSL) $(filter-out -MMD -MP,$(CFLAGS)) $$f || exit 1; done
	$(Q)for f in src/net/net_lwip.c src/net/net_lwip_if.c; do \
		$(CLANG_MUSL) $(filter-out -MMD -MP,$(LWCFLAGS)) $$f || exit 1; done

# The module include rules of docs/architecture.md.
include-check:
	$(call say,CHECK,includes)$(PYTHON) scripts/check-includes.py

format-check:
	$(Q)clang-format --dry-run -Werror $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h')

# The README settings table is generated from src/cfg/settings.def.
readme-settings: $(B)/outpost
	$(Q)$(PYTHON) scripts/readme-settings.py $(B)/outpost README.md

readme-check: $(B)/outpost $(patsubst $(CURDIR)/%,%,$(call RUNBIN,outpost))
	$(Q)$(PYTHON) scripts/readme-settings.py --check $(call RUNBIN,outpost) README.md

SETUP_STAMP := $(O)/.setup-$(shell cat scripts/setup.sh | sha256sum | cut -c1-12)
setup: $(SETUP_STAMP)
$(SETUP_STAMP): scripts/setup.sh
	$(call say,SETUP,host packages)scripts/setup.sh && mkdir -p $(@D) && touch $@

test: setup all size readme-check include-check unit lwip-test lwip-integration integration fuzz-smoke repro format-check clang-check oci-test image-test packaging-test soak

run: setup all
	$(Q)scripts/run.sh $(B)

# Benchmark (not part of test): direct vs nginx mTLS chain vs outpost; writes bench/RESULTS.md.
bench: setup all
	$(Q)bench/bench.sh $(B)
# Redaction on the request path, without and with rules (#14); its own section of RESULTS.md.
bench-redact: setup all
	$(Q)bench/redact.sh $(B)
.PHONY: bench-redact

# Telemetry off vs exported on the request path (#15).
bench-otel: setup all
	$(Q)bench/otel.sh $(B)
.PHONY: bench-otel

# Connector instructions per tunnelled request (callgrind), 1 KiB and 64 KiB; writes bench/RESULTS.md.
bench-instr: setup all
	$(Q)bench/instr.sh $(B)

# Connector RSS with 1000 requests held in flight by the upstream (#20); prints only.
bench-inflight: setup all
	$(Q)bench/inflight.sh $(B)
.PHONY: bench-inflight

# lwIP benchmark (issue #16): path c with the lwIP connector over a tap beside
# the POSIX one (network namespaces: as root); writes bench/RESULTS.md.
bench-lwip: setup all $(LW)/outpost
	$(Q)$(PYTHON) bench/lwip.py $(B) $(LW)
.PHONY: bench-lwip

# Sessions benchmark (issue #13): throughput vs direct and socat mTLS, set-up time, RSS at 1000 idle.
bench-sessions: setup all
	$(Q)bench/sessions.py $(B)
.PHONY: bench-sessions

# Scale-out (#19): 1 vs 3 edge replicas with one connector, its RSS with 2 and 3x2 tunnels.
bench-scaleout: setup all
	$(Q)nice bench/scaleout.sh $(B)
.PHONY: bench-scaleout

clean:
	rm -rf $(O)/$(ARCH) $(H) $(F) $(O)/repro $(CV) $(O)/soak

.PHONY: oci oci-edge oci-multi oci-test board-image board-test
.PHONY: deb rpm deploy-settings deploy-check packaging-test
.PHONY: readme-settings readme-check
.PHONY: all size unit fuzz-build fuzz-smoke integration repro include-check format-check clang-check setup test run bench bench-instr clean image image-test image-test-full update next-bin next-update
.DELETE_ON_ERROR:
# Keep intermediate objects and generated code (test and fuzz objects are
# only prerequisites).  Not a bare .SECONDARY: that makes every target
# secondary, and a missing stamp (the revision's) was then never remade.
.SECONDARY: $(OBJS) $(foreach d,$(B) $(H) $(F),$(call PBC,$(d)) $(patsubst %.c,%.h,$(call PBC,$(d))))

-include $(OBJS:.o=.d)
