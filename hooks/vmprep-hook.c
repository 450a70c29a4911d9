/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The full hook handler, run by the hook executables' fast path when a VM
 * carries a vmprep profile or holds a journal:
 *
 *   vmprep-hook CAPABILITY DOMAIN OPERATION SUB-OPERATION EXTRA < domain.xml
 */
#include "common/hook.h"

int main(int argc, char **argv)
{
        return hook_main(argc, argv);
}
