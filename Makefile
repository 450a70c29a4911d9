# vmprep — libvirt hooks that prepare the host for a VM and give it back.
#
#   make                  build the hooks and the full handler
#   make check            every test: unit, fake-tree hook tests (ASan+UBSan),
#                         schema, valgrind, and the host end-to-end with a real libvirtd
#   make install          PREFIX=/usr/local DESTDIR= HOOKDIR=/etc/libvirt/hooks/qemu.d
#   make uninstall
#   make demo             set up everything on a fresh Debian 12 machine and show vmprep at work

PREFIX     ?= /usr/local
DESTDIR    ?=
HOOKDIR    ?= /etc/libvirt/hooks/qemu.d
LIBEXECDIR ?= $(PREFIX)/libexec/vmprep
DATADIR    ?= $(PREFIX)/share/vmprep
PROFILEDIR ?= $(DATADIR)/profiles

CC       ?= cc
PKGS     := libxml-2.0 libkmod libmnl libsystemd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
CFLAGS   ?= -O2 -g
BASE_CFLAGS := -std=gnu11 $(WARN) -I. $(PKG_CFLAGS) -D_GNU_SOURCE -fstack-protector-strong -D_FORTIFY_SOURCE=2
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# One capability per hook executable, numbered in libvirt's (byte) order,
# and the libvirt operations each acts on (the fast path skips the others).
HOOKS    := 10-vmprep-vfio 20-vmprep-hugepages
PHASES_vfio := prepare release reconnect
PHASES_hugepages := prepare release reconnect
phases_of = $(PHASES_$(word 3,$(subst -, ,$(1))))

COMMON_SRC := common/log.c common/parse.c common/sysfs.c common/xml.c common/domain.c \
              common/profile.c common/plan.c common/journal.c common/hugepages.c common/hook.c \
              common/pci.c common/vfio.c common/sriov.c common/netvf.c common/display.c common/hostuse.c
HDRS       := $(wildcard common/*.h tests/fake/*.h tests/unit/*.h)
UNIT_SRC   := $(wildcard tests/unit/*.c)
FAKE_SRC   := tests/fake/fake_kernel.c tests/fake/fake_pci.c tests/fake/fake_display.c
# fake PCI hosts, for the unit tests and (as pci-fixture) the shell tests
FIXTURE_SRC := tests/fake/pci_fixture.c

B  := build
BT := build/test
BV := build/valgrind

.PHONY: bench-hooks all check unit-check hook-check schema-check valgrind-check host-check install uninstall demo clean

all: $(B)/vmprep-hook $(addprefix $(B)/hooks/,$(HOOKS))

# ---- production build ----
$(B)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -DVMPREP_PROFILEDIR='"$(PROFILEDIR)"' -c $< -o $@

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
	$$(CC) $$(BASE_CFLAGS) -O1 -g $(2) -DVMPREP_TEST_BUILD -DVMPREP_PROFILEDIR='"$$(CURDIR)/profiles"' -c $$< -o $$@

$(1)/vmprep-hook: $$(patsubst %.c,$(1)/obj/%.o,$$(COMMON_SRC) $$(FAKE_SRC) hooks/vmprep-hook.c)
	$$(CC) $(2) -o $$@ $$^ $$(PKG_LIBS)

$(1)/unit-tests: $$(patsubst %.c,$(1)/obj/%.o,$$(COMMON_SRC) $$(FAKE_SRC) $$(FIXTURE_SRC) $$(UNIT_SRC))
	$$(CC) $(2) -o $$@ $$^ $$(PKG_LIBS)

$(1)/pci-fixture: $$(patsubst %.c,$(1)/obj/%.o,$$(FIXTURE_SRC) tests/fake/fake_pci.c tests/fake/fake_display.c tests/fake/pci_fixture_main.c)
	$$(CC) $(2) -o $$@ $$^

$(1)/hooks/%: hooks/fast.c
	@mkdir -p $$(dir $$@)
	$$(CC) -std=gnu11 $$(WARN) -O1 -g $(2) -DVMPREP_TEST_BUILD -DVMPREP_CAP='"$$(word 3,$$(subst -, ,$$*))"' \
		-DVMPREP_PHASES='"$$(call phases_of,$$*)"' \
		-DVMPREP_HOOK_FULL='"$$(CURDIR)/$(1)/vmprep-hook"' -o $$@ $$<
endef
$(eval $(call testbuild,$(BT),$(SAN)))
$(eval $(call testbuild,$(BV),))

TEST_BINS = $(BT)/vmprep-hook $(BT)/unit-tests $(BT)/pci-fixture $(addprefix $(BT)/hooks/,$(HOOKS))
VALGRIND_BINS = $(BV)/vmprep-hook $(BV)/unit-tests $(BV)/pci-fixture $(addprefix $(BV)/hooks/,$(HOOKS))

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

# ---- install ----
install: all
	install -d $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(HOOKDIR) $(DESTDIR)$(PROFILEDIR)
	install -m 0755 $(B)/vmprep-hook $(DESTDIR)$(LIBEXECDIR)/vmprep-hook
	for h in $(HOOKS); do install -m 0755 $(B)/hooks/$$h $(DESTDIR)$(HOOKDIR)/$$h; done
	install -m 0644 profiles/*.xml profiles/profile.rng $(DESTDIR)$(PROFILEDIR)/
	@# libvirtd rescans its hooks on SIGHUP
	@if [ -z "$(DESTDIR)" ] && pid=$$(pidof libvirtd 2>/dev/null); then kill -HUP $$pid && echo "sent SIGHUP to libvirtd ($$pid)"; fi

uninstall:
	for h in $(HOOKS); do rm -f $(DESTDIR)$(HOOKDIR)/$$h; done
	rm -f $(DESTDIR)$(LIBEXECDIR)/vmprep-hook
	rm -f $(addprefix $(DESTDIR)$(PROFILEDIR)/,$(notdir $(wildcard profiles/*.xml)) profile.rng)
	-rmdir $(DESTDIR)$(PROFILEDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(LIBEXECDIR) 2>/dev/null

demo:
	./demo/run.sh

# what each hook costs per phase against the exec floor (ROUNDS=50)
bench-hooks: all
	bench/hook-cost.sh $(or $(ROUNDS),50)

clean:
	rm -rf build
