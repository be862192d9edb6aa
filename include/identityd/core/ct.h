/*
 * Constant-time comparison and wiping of secrets. Every comparison of a password hash,
 * client hash, API key digest, session digest or MAC goes through here so that timing
 * never tells an attacker how many leading bytes were right.
 */
#ifndef IDENTITYD_CT_H
#define IDENTITYD_CT_H

#include <stddef.h>

/* Returns 1 when the n bytes at a and b are equal, 0 otherwise, in time independent of
 * where they differ (CRYPTO_memcmp). */
int idd_ct_equal(const void *a, const void *b, size_t n);

/* Overwrites n bytes at p with zeros in a way the compiler may not elide (OPENSSL_cleanse).
 * p may be NULL when n is 0. */
void idd_wipe(void *p, size_t n);

/* Wipes a NUL-terminated string in place and frees it; NULL is a no-op. */
void idd_wipe_free_str(char *s);

#endif
