# vmprep — libvirt hooks that prepare the host for a VM and give it back.
#
#   make                  build the hooks and the full handler
#   make check            every test: unit, fake-tree hook tests (ASan+UBSan),
#                         schema, valgrind, and the host end-to-end with a real libvirtd
#   make install          PREFIX=/usr/local DESTDIR= HOOKDIR=/etc/libvirt/hooks/qemu.d
#   make uninstall
#   make demo             set up everything on a fresh Debian 12 machine and show vmprep at work
#   make lab-check        the lab: a QEMU guest with IOMMU, NUMA, SR-IOV, systemd and
#                         cgroup v2, booted on two kernels (tests/lab/run.sh, as root)
#   make lab-bench        the isolation benchmark in the lab guest (systemd, cgroup v2)

PREFIX     ?= /usr/local
DESTDIR    ?=
HOOKDIR    ?= /etc/libvirt/hooks/qemu.d
# beside qemu.d, also when HOOKDIR is given with a trailing slash
DAEMONHOOKDIR ?= $(dir $(patsubst %/,%,$(HOOKDIR)))daemon.d
LIBEXECDIR ?= $(PREFIX)/libexec/vmprep
DATADIR    ?= $(PREFIX)/share/vmprep
PROFILEDIR ?= $(DATADIR)/profiles
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d

CC       ?= cc
# the full handler: libxml2; libkmod (loading vfio-pci); libmnl (VF settings
# over rtnetlink); libsystemd's sd-bus (display manager, AllowedCPUs=)
PKGS     := libxml-2.0 libkmod libmnl libsystemd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS)) -DHAVE_SDBUS
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
# test builds link tests/fake/fake_kmod.c in place of libkmod
TEST_LIBS  := $(filter-out -lkmod,$(PKG_LIBS))
# Where the cpus hook reads host-scope (a test install may point elsewhere)
VMPREP_CONF ?= /etc/vmprep/vmprep.conf
# the vmprep command alone talks to libvirt (hooks never do: libvirtd would deadlock)
CLI_PKGS   := libvirt libpci
CLI_CFLAGS := $(shell pkg-config --cflags $(CLI_PKGS))
CLI_LIBS   := $(shell pkg-config --libs $(CLI_PKGS))
WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
CFLAGS   ?= -O2 -g
# dpkg-buildflags (debian/rules) and distributions pass CPPFLAGS and LDFLAGS
# too: _FORTIFY_SOURCE, -z relro -z now (hardening=+all) reach every binary
CPPFLAGS ?=
LDFLAGS  ?=
BASE_CFLAGS := -std=gnu11 $(WARN) -I. $(PKG_CFLAGS) -D_GNU_SOURCE -fstack-protector-strong -D_FORTIFY_SOURCE=2
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# One static hook binary (hooks/fast.c) under one name per capability,
# numbered in libvirt's (byte) order: the names and the operations each acts
# on are in common/hook_table.h.
HOOKS    := $(shell sed -n 's/^ *{ "\([0-9][0-9]-vmprep-[a-z]*\)".*/\1/p' common/hook_table.h)

COMMON_SRC := common/log.c common/parse.c common/sysfs.c common/xml.c common/domain.c \
              common/profile.c common/profile_grammar.c common/plan.c common/journal.c common/journal_plan.c common/ledger.c common/statefile.c common/hugepages.c common/hugepages_host.c common/hook.c \
              common/capabilities.c common/numa.c common/cpus.c common/cpus_host.c common/cpus_cg1.c \
              common/cpus_cg2.c common/cpus_systemd.c common/cpus_partition.c common/systemd.c common/tune.c \
              common/pci.c common/vfio.c common/vfio_bind.c common/vfio_holders.c common/sriov.c common/sriov_users.c common/netvf.c common/display.c common/hostuse.c common/hostuse_block.c common/hostuse_net.c common/running.c \
              common/cpus_share.c common/machine_name.c common/vm_cgroup.c common/pin.c common/shmem.c
HDRS       := $(wildcard common/*.h cli/*.h tests/fake/*.h tests/unit/*.h)
CLI_SRC    := $(wildcard cli/*.c)
UNIT_SRC   := $(wildcard tests/unit/*.c)
FAKE_SRC   := tests/fake/fake_kernel.c tests/fake/fake_pci.c tests/fake/fake_display.c tests/fake/fake_kmod.c
# fake PCI hosts, for the unit tests and (as pci-fixture) the shell tests
FIXTURE_SRC := tests/fake/pci_fixture.c tests/fake/host_shapes.c tests/fake/nfv_host.c

B  := build
BT := build/test
BV := build/valgrind

.PHONY: lab-bench fuzz bench bench-quick bench-hooks bench-cpus all check unit-check hook-check schema-check valgrind-check host-check lab-check install uninstall demo clean

all: $(B)/vmprep-hook $(B)/vmprep $(addprefix $(B)/hooks/,$(HOOKS))

# ---- production build ----
# Paths are compiled in (the hooks exec LIBEXECDIR's handler, the command reads
# PROFILEDIR): when any of them changes (make install PREFIX=/usr after a plain
# make), the stamp changes and what depends on it is rebuilt.
CONFIG := PREFIX=$(PREFIX) LIBEXECDIR=$(LIBEXECDIR) PROFILEDIR=$(PROFILEDIR) HOOKDIR=$(HOOKDIR) \
          VMPREP_CONF=$(VMPREP_CONF) CFLAGS=$(CFLAGS) CPPFLAGS=$(CPPFLAGS) LDFLAGS=$(LDFLAGS)
$(shell mkdir -p $(B) && { echo '$(CONFIG)' | cmp -s - $(B)/config.stamp || echo '$(CONFIG)' > $(B)/config.stamp; })

$(B)/obj/%.o: %.c $(HDRS) $(B)/config.stamp
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(BASE_CFLAGS) $(CFLAGS) $(if $(filter cli/%,$<),$(CLI_CFLAGS) -DVMPREP_HOOKDIR='"$(HOOKDIR)"') \
		-DVMPREP_PROFILEDIR='"$(PROFILEDIR)"' -DVMPREP_CONF='"$(VMPREP_CONF)"' -c $< -o $@

$(B)/vmprep: $(patsubst %.c,$(B)/obj/%.o,$(COMMON_SRC) $(CLI_SRC))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CLI_LIBS)
	@tools/check-one-libxml2.sh $@ || { rm -f $@; exit 1; }

$(B)/vmprep-hook: $(patsubst %.c,$(B)/obj/%.o,$(COMMON_SRC) hooks/vmprep-hook.c)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The fast path is static and libc-only: an untagged VM must cost a bare exec.
# One binary; each hook name is a hard link to it.
FAST_DEPS := hooks/fast.c common/readall.h common/hook_table.h $(B)/config.stamp
$(B)/hook-front: $(FAST_DEPS)
	$(CC) -std=gnu11 $(WARN) -I. $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -static \
		-DVMPREP_HOOK_FULL='"$(LIBEXECDIR)/vmprep-hook"' -o $@ $<
$(B)/hooks/%: $(B)/hook-front
	@mkdir -p $(dir $@)
	ln -f $< $@

# ---- test builds: VMPREP_TEST_BUILD (root from $$VMPREP_ROOT, refuses without it),
#      the fake kernel linked in; one with ASan+UBSan, one plain for valgrind ----
define testbuild
$(1)/obj/%.o: %.c $(HDRS)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(BASE_CFLAGS) -O1 -g $(2) $$(if $$(filter cli/%,$$<),$$(CLI_CFLAGS)) -DVMPREP_TEST_BUILD \
		-DVMPREP_PROFILEDIR='"$$(CURDIR)/profiles"' -c $$< -o $$@

$(1)/vmprep: $$(patsubst %.c,$(1)/obj/%.o,$$(COMMON_SRC) $$(FAKE_SRC) $$(CLI_SRC))
	$$(CC) $(2) -o $$@ $$^ $$(TEST_LIBS) $$(CLI_LIBS)

$(1)/vmprep-hook: $$(patsubst %.c,$(1)/obj/%.o,$$(COMMON_SRC) $$(FAKE_SRC) hooks/vmprep-hook.c)
	$$(CC) $(2) -o $$@ $$^ $$(TEST_LIBS)

$(1)/unit-tests: $$(patsubst %.c,$(1)/obj/%.o,$$(COMMON_SRC) $$(FAKE_SRC) $$(FIXTURE_SRC) $$(UNIT_SRC))
	$$(CC) $(2) -o $$@ $$^ $$(TEST_LIBS)

$(1)/profile-check: $$(patsubst %.c,$(1)/obj/%.o,$$(COMMON_SRC) $$(FAKE_SRC) tests/grammar/profile_check.c)
	$$(CC) $(2) -o $$@ $$^ $$(TEST_LIBS)

$(1)/pci-fixture: $$(patsubst %.c,$(1)/obj/%.o,$$(FIXTURE_SRC) tests/fake/fake_pci.c tests/fake/fake_display.c tests/fake/pci_fixture_main.c)
	$$(CC) $(2) -o $$@ $$^

$(1)/hook-front: $(FAST_DEPS)
	@mkdir -p $(1)
	$$(CC) -std=gnu11 $$(WARN) -I. -O1 -g $(2) -DVMPREP_TEST_BUILD \
		-DVMPREP_HOOK_FULL='"$$(CURDIR)/$(1)/vmprep-hook"' -o $$@ $$<
$(1)/hooks/%: $(1)/hook-front
	@mkdir -p $$(dir $$@)
	ln -f $$< $$@
endef
$(eval $(call testbuild,$(BT),$(SAN)))
$(eval $(call testbuild,$(BV),))

# ---- the host end-to-end's install: a production build (real root) whose
#      hooks read host-scope from a test file and refuse to run without it ----
BH := build/hosttest
HOST_CONF := /run/vmprep-cpus-test/vmprep.conf
$(BH)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 -g -DVMPREP_PROFILEDIR='"$(CURDIR)/profiles"' -DVMPREP_CONF='"$(HOST_CONF)"' \
		-DVMPREP_REQUIRE_HOST_SCOPE -c $< -o $@

$(BH)/vmprep-hook: $(patsubst %.c,$(BH)/obj/%.o,$(COMMON_SRC) hooks/vmprep-hook.c)
	$(CC) -o $@ $^ $(PKG_LIBS)

$(BH)/hook-front: $(FAST_DEPS)
	@mkdir -p $(BH)
	$(CC) -std=gnu11 $(WARN) -I. -O1 -g -static -DVMPREP_HOOK_FULL='"$(CURDIR)/$(BH)/vmprep-hook"' -o $@ $<
$(BH)/hooks/%: $(BH)/hook-front
	@mkdir -p $(dir $@)
	ln -f $< $@

HOST_BINS = $(BH)/vmprep-hook $(addprefix $(BH)/hooks/,$(HOOKS))

TEST_BINS = $(BT)/vmprep-hook $(BT)/vmprep $(BT)/unit-tests $(BT)/pci-fixture $(BT)/profile-check $(addprefix $(BT)/hooks/,$(HOOKS))
VALGRIND_BINS = $(BV)/vmprep-hook $(BV)/vmprep $(BV)/unit-tests $(BV)/pci-fixture $(addprefix $(BV)/hooks/,$(HOOKS))

# ---- fuzzing (clang + libFuzzer, ASan+UBSan) ----
BF := build/fuzz
FUZZERS := domain profile parsers journal
FUZZ_CC ?= clang
FUZZ_FLAGS := -std=gnu11 -g -O1 -Wall -Wextra -Werror -I. $(PKG_CFLAGS) -D_GNU_SOURCE -DVMPREP_TEST_BUILD \
	-DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -DVMPREP_PROFILEDIR='"$(CURDIR)/profiles"' \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
$(BF)/fuzz_%: tests/fuzz/fuzz_%.c $(COMMON_SRC) $(HDRS)
	@mkdir -p $(BF)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(COMMON_SRC) $(PKG_LIBS)

FUZZ_SECONDS ?= 20
fuzz: $(addprefix $(BF)/fuzz_,$(FUZZERS))
	tests/fuzz/run.sh $(FUZZ_SECONDS)

check: all $(TEST_BINS) $(VALGRIND_BINS) $(HOST_BINS) $(addprefix $(BF)/fuzz_,$(FUZZERS))
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/run-all.sh

unit-check: $(BT)/unit-tests
	$(BT)/unit-tests

hook-check: $(TEST_BINS)
	tests/hooks/hugepages.sh $(BT)
	tests/hooks/hostshapes.sh $(BT)
	tests/hooks/migrate.sh $(BT)

schema-check: $(BT)/profile-check
	tests/profiles-schema.sh
	tests/grammar-agree.sh $(BT)

valgrind-check: $(VALGRIND_BINS)
	tests/valgrind.sh $(BV)

host-check: all $(TEST_BINS) $(HOST_BINS)
	tests/host/run.sh
	tests/host/cpus.sh

# builds its own image (vmprep built for /usr into build/lab-bin), boots it
# under QEMU per kernel; the root filesystem is cached in /var/cache/vmprep-lab
lab-check:
	tests/lab/run.sh

# the isolation benchmark under systemd and cgroup v2, in the lab guest (BENCHMARKS.md, section 4)
lab-bench:
	LAB_KERNELS=$${LAB_KERNELS:-6.12} LAB_ONLY=bench LAB_BENCH_ROUNDS=$${LAB_BENCH_ROUNDS:-3} tests/lab/run.sh

# ---- install ----
install: all
	install -d $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(HOOKDIR) $(DESTDIR)$(PROFILEDIR) $(DESTDIR)$(SBINDIR) \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(TMPFILESDIR)
	install -m 0755 $(B)/vmprep-hook $(DESTDIR)$(LIBEXECDIR)/vmprep-hook
	install -m 0755 $(B)/vmprep $(DESTDIR)$(SBINDIR)/vmprep
	install -m 0755 install/vmprep-reload-libvirt $(DESTDIR)$(LIBEXECDIR)/vmprep-reload-libvirt
	install -d $(DESTDIR)$(DAEMONHOOKDIR)
	ln -sfn $(SBINDIR)/vmprep $(DESTDIR)$(DAEMONHOOKDIR)/vmprep-reconcile
	install -m 0644 install/vmprep.8 $(DESTDIR)$(MANDIR)/man8/vmprep.8
	install -m 0644 install/vmprep-profile.5 $(DESTDIR)$(MANDIR)/man5/vmprep-profile.5
	install -m 0644 install/vmprep.bash-completion $(DESTDIR)$(BASHCOMPDIR)/vmprep
	install -m 0644 install/vmprep.tmpfiles $(DESTDIR)$(TMPFILESDIR)/vmprep.conf
	@# one binary under each hook's name (hard links)
	install -m 0755 $(B)/hook-front $(DESTDIR)$(HOOKDIR)/$(firstword $(HOOKS))
	for h in $(wordlist 2,$(words $(HOOKS)),$(HOOKS)); do \
		ln -f $(DESTDIR)$(HOOKDIR)/$(firstword $(HOOKS)) $(DESTDIR)$(HOOKDIR)/$$h; done
	install -m 0644 profiles/*.xml profiles/profile.rng $(DESTDIR)$(PROFILEDIR)/
	@# libvirtd or virtqemud rescans its hooks on SIGHUP (never one outside this root)
	@if [ -z "$(DESTDIR)" ]; then install/vmprep-reload-libvirt; fi

# Never while a VM holds host state (a journal in /run/vmprep): its hooks give
# it back when it stops, and nothing would once they are gone (FORCE=1
# removes anyway).  The installed command names those VMs, changing nothing.
# Not for a DESTDIR: that is no running host.
VMPREP_BIN = $(SBINDIR)/vmprep
uninstall:
	@# (an installed vmprep older than --before-removal says usage, 2: then
	@# any journal refuses, as when there is no command to ask)
	@if [ -z "$(DESTDIR)" ] && [ "$(FORCE)" != 1 ]; then \
		st=2; out=; \
		if [ -x $(VMPREP_BIN) ]; then out=$$($(VMPREP_BIN) reconcile --offline --before-removal 2>&1); st=$$?; fi; \
		if [ $$st != 2 ] && [ -n "$$out" ]; then printf '%s\n' "$$out" >&2; fi; \
		if [ $$st = 1 ] || [ $$st -gt 2 ]; then \
			echo "make uninstall: refused; stop those VMs first, vmprep reconcile for those that do not run (FORCE=1 uninstalls anyway)" >&2; \
			exit 1; \
		elif [ $$st = 2 ] && ls /run/vmprep/*.journal >/dev/null 2>&1; then \
			echo "make uninstall: refused: VMs hold host state (/run/vmprep/*.journal) and $(VMPREP_BIN) cannot name them; FORCE=1 uninstalls anyway" >&2; \
			exit 1; \
		fi; \
	fi
	for h in $(HOOKS); do rm -f $(DESTDIR)$(HOOKDIR)/$$h; done
	rm -f $(DESTDIR)$(LIBEXECDIR)/vmprep-hook $(DESTDIR)$(LIBEXECDIR)/vmprep-reload-libvirt
	rm -f $(DESTDIR)$(SBINDIR)/vmprep $(DESTDIR)$(DAEMONHOOKDIR)/vmprep-reconcile
	rm -f $(DESTDIR)$(MANDIR)/man8/vmprep.8 $(DESTDIR)$(MANDIR)/man5/vmprep-profile.5
	rm -f $(DESTDIR)$(BASHCOMPDIR)/vmprep $(DESTDIR)$(TMPFILESDIR)/vmprep.conf
	rm -f $(addprefix $(DESTDIR)$(PROFILEDIR)/,$(notdir $(wildcard profiles/*.xml)) profile.rng)
	@# and the directories install made for vmprep alone, when nothing else is in them
	-rmdir $(DESTDIR)$(PROFILEDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(LIBEXECDIR) \
		$(DESTDIR)$(HOOKDIR) $(DESTDIR)$(DAEMONHOOKDIR) 2>/dev/null

demo:
	./demo/run.sh

# what each hook costs per phase against the exec floor (ROUNDS=50)
# every benchmark (root with /dev/kvm for the host ones), results in build/bench,
# plots in bench/plots (gnuplot); see BENCHMARKS.md
bench: all $(BH)/vmprep-hook
	bench/run.sh

# the same scripts at tiny sizes, once each, so that none rots (CI, run-all.sh)
bench-quick: all $(BH)/vmprep-hook
	bench/run.sh --quick

bench-hooks: all
	bench/hook-cost.sh $(or $(ROUNDS),50)

# isolation wall time against host threads (cgroup v1), next to moving them one by one (ROUNDS=5)
bench-cpus: $(BH)/vmprep-hook
	bench/cpus-isolate.sh $(or $(ROUNDS),5)

clean:
	rm -rf build
