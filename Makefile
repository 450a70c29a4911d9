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

PREFIX     ?= /usr/local
DESTDIR    ?=
HOOKDIR    ?= /etc/libvirt/hooks/qemu.d
LIBEXECDIR ?= $(PREFIX)/libexec/vmprep
DATADIR    ?= $(PREFIX)/share/vmprep
PROFILEDIR ?= $(DATADIR)/profiles
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d

CC       ?= cc
PKGS     := libxml-2.0
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
# the vmprep command alone talks to libvirt (hooks never do: libvirtd would deadlock)
CLI_PKGS   := libvirt libpci
CLI_CFLAGS := $(shell pkg-config --cflags $(CLI_PKGS))
CLI_LIBS   := $(shell pkg-config --libs $(CLI_PKGS))
WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
CFLAGS   ?= -O2 -g
BASE_CFLAGS := -std=gnu11 $(WARN) -I. $(PKG_CFLAGS) -D_GNU_SOURCE -fstack-protector-strong -D_FORTIFY_SOURCE=2
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# One capability per hook executable, numbered in libvirt's (byte) order,
# and the libvirt operations each acts on (the fast path skips the others).
HOOKS    := 20-vmprep-hugepages
PHASES_hugepages := prepare release reconnect
phases_of = $(PHASES_$(word 3,$(subst -, ,$(1))))

COMMON_SRC := common/log.c common/parse.c common/sysfs.c common/xml.c common/domain.c \
              common/profile.c common/plan.c common/journal.c common/hugepages.c common/hook.c \
              common/capabilities.c
HDRS       := $(wildcard common/*.h cli/*.h)
CLI_SRC    := $(wildcard cli/*.c)
UNIT_SRC   := $(wildcard tests/unit/*.c)
FAKE_SRC   := tests/fake/fake_kernel.c

B  := build
BT := build/test
BV := build/valgrind

.PHONY: bench-hooks all check unit-check hook-check schema-check valgrind-check host-check lab-check install uninstall demo clean

all: $(B)/vmprep-hook $(B)/vmprep $(addprefix $(B)/hooks/,$(HOOKS))

# ---- production build ----
$(B)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(if $(filter cli/%,$<),$(CLI_CFLAGS) -DVMPREP_HOOKDIR='"$(HOOKDIR)"') \
		-DVMPREP_PROFILEDIR='"$(PROFILEDIR)"' -c $< -o $@

$(B)/vmprep: $(patsubst %.c,$(B)/obj/%.o,$(COMMON_SRC) $(CLI_SRC))
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) $(CLI_LIBS)

$(B)/vmprep-hook: $(patsubst %.c,$(B)/obj/%.o,$(COMMON_SRC) hooks/vmprep-hook.c)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)

# The fast path is static and libc-only: an untagged VM must cost a bare exec.
$(B)/hooks/%: hooks/fast.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) $(CFLAGS) -static -DVMPREP_CAP='"$(word 3,$(subst -, ,$*))"' \
		-DVMPREP_PHASES='"$(call phases_of,$*)"' \
		-DVMPREP_HOOK_FULL='"$(LIBEXECDIR)/vmprep-hook"' -o $@ $<

# ---- test builds: VMPREP_TEST_BUILD (root from $$VMPREP_ROOT, refuses without it),
#      the fake kernel linked in; one with ASan+UBSan, one plain for valgrind ----
define testbuild
$(1)/obj/%.o: %.c $(HDRS)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(BASE_CFLAGS) -O1 -g $(2) $$(if $$(filter cli/%,$$<),$$(CLI_CFLAGS)) -DVMPREP_TEST_BUILD \
		-DVMPREP_PROFILEDIR='"$$(CURDIR)/profiles"' -c $$< -o $$@

$(1)/vmprep: $$(patsubst %.c,$(1)/obj/%.o,$$(COMMON_SRC) $$(FAKE_SRC) $$(CLI_SRC))
	$$(CC) $(2) -o $$@ $$^ $$(PKG_LIBS) $$(CLI_LIBS)

$(1)/vmprep-hook: $$(patsubst %.c,$(1)/obj/%.o,$$(COMMON_SRC) $$(FAKE_SRC) hooks/vmprep-hook.c)
	$$(CC) $(2) -o $$@ $$^ $$(PKG_LIBS)

$(1)/unit-tests: $$(patsubst %.c,$(1)/obj/%.o,$$(COMMON_SRC) $$(FAKE_SRC) $$(UNIT_SRC))
	$$(CC) $(2) -o $$@ $$^ $$(PKG_LIBS)

$(1)/hooks/%: hooks/fast.c
	@mkdir -p $$(dir $$@)
	$$(CC) -std=gnu11 $$(WARN) -O1 -g $(2) -DVMPREP_TEST_BUILD -DVMPREP_CAP='"$$(word 3,$$(subst -, ,$$*))"' \
		-DVMPREP_PHASES='"$$(call phases_of,$$*)"' \
		-DVMPREP_HOOK_FULL='"$$(CURDIR)/$(1)/vmprep-hook"' -o $$@ $$<
endef
$(eval $(call testbuild,$(BT),$(SAN)))
$(eval $(call testbuild,$(BV),))

TEST_BINS = $(BT)/vmprep-hook $(BT)/vmprep $(BT)/unit-tests $(addprefix $(BT)/hooks/,$(HOOKS))
VALGRIND_BINS = $(BV)/vmprep-hook $(BV)/vmprep $(BV)/unit-tests $(addprefix $(BV)/hooks/,$(HOOKS))

check: all $(TEST_BINS) $(VALGRIND_BINS)
	tests/run-all.sh

unit-check: $(BT)/unit-tests
	$(BT)/unit-tests

hook-check: $(TEST_BINS)
	tests/hooks/run.sh $(BT)

schema-check:
	tests/profiles-schema.sh

valgrind-check: $(VALGRIND_BINS)
	tests/valgrind.sh $(BV)

host-check: all
	tests/host/run.sh

# builds its own image (vmprep built for /usr into build/lab-bin), boots it
# under QEMU per kernel; the root filesystem is cached in /var/cache/vmprep-lab
lab-check:
	tests/lab/run.sh

# ---- install ----
install: all
	install -d $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(HOOKDIR) $(DESTDIR)$(PROFILEDIR) $(DESTDIR)$(SBINDIR) \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(TMPFILESDIR)
	install -m 0755 $(B)/vmprep-hook $(DESTDIR)$(LIBEXECDIR)/vmprep-hook
	install -m 0755 $(B)/vmprep $(DESTDIR)$(SBINDIR)/vmprep
	install -m 0644 install/vmprep.8 $(DESTDIR)$(MANDIR)/man8/vmprep.8
	install -m 0644 install/vmprep-profile.5 $(DESTDIR)$(MANDIR)/man5/vmprep-profile.5
	install -m 0644 install/vmprep.bash-completion $(DESTDIR)$(BASHCOMPDIR)/vmprep
	install -m 0644 install/vmprep.tmpfiles $(DESTDIR)$(TMPFILESDIR)/vmprep.conf
	for h in $(HOOKS); do install -m 0755 $(B)/hooks/$$h $(DESTDIR)$(HOOKDIR)/$$h; done
	install -m 0644 profiles/*.xml profiles/profile.rng $(DESTDIR)$(PROFILEDIR)/
	@# libvirtd rescans its hooks on SIGHUP
	@if [ -z "$(DESTDIR)" ] && pid=$$(pidof libvirtd 2>/dev/null); then kill -HUP $$pid && echo "sent SIGHUP to libvirtd ($$pid)"; fi

uninstall:
	for h in $(HOOKS); do rm -f $(DESTDIR)$(HOOKDIR)/$$h; done
	rm -f $(DESTDIR)$(LIBEXECDIR)/vmprep-hook $(DESTDIR)$(SBINDIR)/vmprep
	rm -f $(DESTDIR)$(MANDIR)/man8/vmprep.8 $(DESTDIR)$(MANDIR)/man5/vmprep-profile.5
	rm -f $(DESTDIR)$(BASHCOMPDIR)/vmprep $(DESTDIR)$(TMPFILESDIR)/vmprep.conf
	rm -f $(addprefix $(DESTDIR)$(PROFILEDIR)/,$(notdir $(wildcard profiles/*.xml)) profile.rng)
	-rmdir $(DESTDIR)$(PROFILEDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(LIBEXECDIR) 2>/dev/null

demo:
	./demo/run.sh

# what each hook costs per phase against the exec floor (ROUNDS=50)
bench-hooks: all
	bench/hook-cost.sh $(or $(ROUNDS),50)

clean:
	rm -rf build
