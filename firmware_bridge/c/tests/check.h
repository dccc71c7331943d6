/* Minimal test harness for the host unit tests. */
#ifndef CHECK_H
#define CHECK_H
#include <stdio.h>
static int check_failures = 0;
static int check_count = 0;
#define CHECK(cond)                                                                 \
    do {                                                                            \
        check_count++;                                                              \
        if (!(cond)) {                                                              \
            check_failures++;                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                           \
    } while (0)
#define CHECK_DONE(name)                                                            \
    (printf("%s: %d checks, %d failed\n", name, check_count, check_failures),       \
     check_failures ? 1 : 0)
#endif
