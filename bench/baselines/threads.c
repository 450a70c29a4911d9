/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A host process with N sleeping threads (small stacks), for the isolation
 * benchmark: threads N; prints "ready" on stdout once all exist, then sleeps
 * until killed. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *sleeper(void *arg)
{
        (void) arg;
        for (;;)
                pause();
        return NULL;
}

int main(int argc, char **argv)
{
        int n = argc > 1 ? atoi(argv[1]) : 100;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 64 * 1024);
        for (int i = 1; i < n; i++) { /* the main thread is the n-th */
                pthread_t t;
                if (pthread_create(&t, &attr, sleeper, NULL) != 0) {
                        perror("pthread_create");
                        return 1;
                }
        }
        printf("ready\n");
        fflush(stdout);
        for (;;)
                pause();
}
