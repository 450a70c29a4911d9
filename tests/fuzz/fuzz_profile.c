/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer: a standalone profile document (a named profile, vmprep tag's input). */
#include "common/profile.h"

#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        Profile *p = NULL;
        char err[2048];
        if (profile_parse_document((const char *) data, size, "fuzz", &p, err, sizeof(err)) == 0) {
                FILE *f = fopen("/dev/null", "w");
                if (f) {
                        profile_print(p, f);
                        fclose(f);
                }
                profile_free(p);
        }
        return 0;
}
