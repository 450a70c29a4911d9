/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pci-fixture ROOT NAME...: build fake PCI hosts for the shell tests. */
#include "pci_fixture.h"

#include <stdio.h>

int main(int argc, char **argv)
{
        if (argc < 3) {
                fprintf(stderr, "usage: pci-fixture ROOT NAME...\n");
                return 2;
        }
        for (int i = 2; i < argc; i++)
                if (pci_fixture_build(argv[1], argv[i]) < 0) {
                        fprintf(stderr, "pci-fixture: no fixture '%s'\n", argv[i]);
                        return 1;
                }
        return 0;
}
