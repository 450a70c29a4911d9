/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "test.h"

#include "common/plan.h"

#include <stdio.h>
#include <stdlib.h>

/* json_string into a string (static buffer) */
static const char *json_of(const char *s)
{
        static char out[512];
        FILE *f = fmemopen(out, sizeof(out), "w");
        json_string(f, s);
        fclose(f);
        return out;
}

TEST(json_string_keeps_utf8_and_escapes_what_json_needs)
{
        CHECK_STR(json_of("win10 \xc3\xa9t\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x8e\xae"), "\"win10 \xc3\xa9t\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x8e\xae\"");
        CHECK_STR(json_of("a\"b\\c\n\x7f"), "\"a\\\"b\\\\c\\u000a\\u007f\"");
}

TEST(json_string_replaces_bytes_that_are_not_utf8)
{
        /* a name cut inside a character (\xc3 of é), a stray continuation
         * byte, Latin-1, an overlong '/', a surrogate: valid JSON either way */
        CHECK_STR(json_of("caf\xc3"), "\"caf\\ufffd\"");
        CHECK_STR(json_of("\xa9x"), "\"\\ufffdx\"");
        CHECK_STR(json_of("ma\xefs"), "\"ma\\ufffds\"");
        CHECK_STR(json_of("\xc0\xaf"), "\"\\ufffd\\ufffd\"");
        CHECK_STR(json_of("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");
        CHECK_STR(json_of("\xe2\x9c"), "\"\\ufffd\\ufffd\"");
}
