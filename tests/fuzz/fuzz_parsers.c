/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer: the strict parsers.  Beyond not crashing, each accepted value
 * must round-trip: format(parse(x)) parses to the same value.
 */
#include "common/parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';

        CpuSet a, b;
        if (cpuset_parse(s, &a) == 0) {
                char buf[65536];
                if (cpuset_format(&a, buf, sizeof(buf)) == 0 && (cpuset_parse(buf, &b) != 0 || !cpuset_equal(&a, &b)))
                        abort();
        }
        PciAddress p, q;
        if (pci_address_parse(s, &p) == 0) {
                char buf[PCI_ADDRESS_STRLEN];
                pci_address_format(&p, buf);
                if (pci_address_parse(buf, &q) != 0 || !pci_address_equal(&p, &q) || strstr(buf, ".."))
                        abort();
        }
        uint64_t kib, u;
        int64_t i;
        char unit[8] = "";
        if (size > 0 && size < sizeof(unit))
                memcpy(unit, s, size);
        (void) parse_size_kib(s, NULL, "KiB", &kib);
        (void) parse_size_kib("4", unit, "KiB", &kib);
        (void) parse_u64(s, 0, UINT64_MAX, &u);
        (void) parse_i64(s, INT64_MIN, INT64_MAX, &i);
        (void) parse_u64_c(s, UINT64_MAX, &u);
        char uuid[UUID_STRLEN];
        if (uuid_parse(s, uuid) == 0 && strlen(uuid) != 36)
                abort();
        free(s);
        return 0;
}
