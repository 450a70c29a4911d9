/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer: the domain reader and the profile it carries (with named-profile lookup). */
#include "common/domain.h"
#include "common/hugepages.h"
#include "common/profile.h"
#include "common/sysfs.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void) argc;
        (void) argv;
        static char root[] = "/tmp/vmprep-fuzz-root-XXXXXX";
        if (mkdtemp(root))
                sysfs_init(root); /* an empty tree: no /etc/vmprep/profiles */
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        Domain *d = NULL;
        Profile *p = NULL;
        char err[2048];

        if (domain_parse((const char *) data, size, &d, err, sizeof(err)) != 0)
                return 0;
        if (profile_from_domain(d, &p, err, sizeof(err)) == 0) {
                HugepageHost host = { .default_size_kib = 2048 };
                HugepageNeed *needs = NULL;
                size_t n = 0;
                cpuset_parse("0-3", &host.nodes);
                if (hugepages_derive(d, p, &host, &needs, &n, err, sizeof(err)) == 0)
                        free(needs);
                profile_free(p);
        }
        domain_free(d);
        return 0;
}
