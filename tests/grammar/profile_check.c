/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * profile-check FILE...: the C parser's verdict on each standalone profile
 * document, one line each: "valid FILE" or "invalid FILE: message".  Exit 0
 * when the files could all be read.  tests/grammar-agree.sh compares these
 * verdicts with xmllint's against profiles/profile.rng.
 */
#include "common/profile.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
        int rc = 0;
        for (int i = 1; i < argc; i++) {
                FILE *f = fopen(argv[i], "re");
                char buf[65536], err[1024];
                if (!f) {
                        perror(argv[i]);
                        rc = 2;
                        continue;
                }
                size_t n = fread(buf, 1, sizeof(buf) - 1, f);
                fclose(f);
                buf[n] = '\0';
                Profile *p = NULL;
                if (profile_parse_document(buf, n, argv[i], &p, err, sizeof(err)) == 0)
                        printf("valid %s\n", argv[i]);
                else
                        printf("invalid %s\n", err);
                profile_free(p);
        }
        return rc;
}
