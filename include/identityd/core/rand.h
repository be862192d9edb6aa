/*
 * Random bytes for identifiers that must be unique and unguessable but are not secrets: a
 * token's jti, which the token itself carries. Drawing 16 bytes from OpenSSL's DRBG goes
 * through its method lookup, locks and a reseed check on every call, a few microseconds on
 * a token's path; each thread here draws IDD_RAND_POOL bytes at a time and hands them out in
 * turn. The pool is per thread, so two threads never hand out the same bytes, and a child
 * made by fork() starts with an empty one. Secrets (session tokens, API keys, salts, nonces)
 * keep calling RAND_bytes, so no secret waits in a buffer.
 */
#ifndef IDENTITYD_RAND_H
#define IDENTITYD_RAND_H

#include <stddef.h>

#define IDD_RAND_POOL 4096

/* Fills out[0..n) from this thread's pool. Returns 0, IDD_EINVAL when n > 256, or
 * IDD_ECRYPTO when the DRBG refuses (nothing is handed out then). */
int idd_rand_id(void *out, size_t n);

#endif
