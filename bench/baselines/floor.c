/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The exec floor: a static program that reads stdin to the end and exits. */
#include <unistd.h>

int main(void)
{
        char buf[65536];
        while (read(0, buf, sizeof(buf)) > 0)
                ;
        return 0;
}
