/*
 * PBKDF2-HMAC-SHA256 (RFC 8018, section 5.2), the KDF of DocSpace's client hash.
 *
 * Written over SHA-256's block function rather than through OpenSSL's PBKDF2, which runs
 * each iteration through the generic HMAC and digest layers: the result is the same bytes
 * (tests compare the two), at about a third of the CPU per iteration. The work is cut into
 * slices of IDD_PBKDF2_SLICE iterations, each paced by a pacer (core/pacer.h) when one is
 * given, so a check yields the CPU to busy event loops rather than taking a core from them.
 */
#ifndef IDENTITYD_PBKDF2_H
#define IDENTITYD_PBKDF2_H

#include <stddef.h>

#include "identityd/core/pacer.h"

#define IDD_PBKDF2_SLICE 4096 /* iterations between two reports to the pacer (about 0.5 ms) */

/* Derives outlen bytes (1..1024) from password[0..plen) and salt[0..slen) with iterations
 * (>= 1) rounds into out. pacer may be NULL. Returns 0 or IDD_EINVAL. */
int idd_pbkdf2_sha256(const void *password, size_t plen, const void *salt, size_t slen,
                      unsigned iterations, unsigned char *out, size_t outlen, idd_pacer_t *pacer);

#endif
