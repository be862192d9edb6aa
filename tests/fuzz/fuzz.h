/*
 * What every fuzz target defines: libFuzzer's entry point, called once per input. A target
 * returns 0 and aborts (assert, or a sanitizer report) when the code under test breaks a
 * promise; it keeps no state between inputs.
 */
#ifndef IDENTITYD_FUZZ_H
#define IDENTITYD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An abort that NDEBUG cannot remove: a target's check must hold in every build. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, #cond);                                                  \
    } while (0)

#include <stdio.h>
#include <stdlib.h>

static inline void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    abort();
}

/* Whether p[0..n) lies within base[0..len), computed without pointer arithmetic that could
 * wrap: a length gone below zero must fail here, not pass as a pointer before base. */
static inline int fuzz_within(const char *p, size_t n, const char *base, size_t len)
{
    uintptr_t at = (uintptr_t)p, start = (uintptr_t)base;
    return n == 0 || (at >= start && at - start <= len && n <= len - (at - start));
}

#endif
