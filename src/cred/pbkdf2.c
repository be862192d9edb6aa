/*
 * PBKDF2-HMAC-SHA256 over SHA-256's block function (include/identityd/cred/pbkdf2.h).
 *
 * HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)). The keyed halves, one block each, are
 * hashed once (cred/hmac256.h); every iteration starts from a copy of those two states.
 * From the second iteration on, the message of both halves is one 32-byte digest, so each
 * half is exactly one more block (the digest, 0x80, zeros, the length of 64 + 32 bytes in
 * bits), hashed with SHA256_Transform straight from a block built once. OpenSSL 3 marks the
 * low-level SHA-256 calls deprecated in favour of EVP, which has no way to hash a single
 * block from a saved state; they are kept by Debian's OpenSSL and are what makes this fast.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "identityd/cred/pbkdf2.h"

#include <stdint.h>
#include <string.h>

#include <openssl/sha.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/cred/hmac256.h"

#define BLOCK 64
#define DIGEST 32

/* The state's words, big-endian, into the first 32 bytes of block. */
static void state_bytes(unsigned char *block, const SHA256_CTX *c)
{
    for (int i = 0; i < 8; i++) {
        block[4 * i] = (unsigned char)(c->h[i] >> 24);
        block[4 * i + 1] = (unsigned char)(c->h[i] >> 16);
        block[4 * i + 2] = (unsigned char)(c->h[i] >> 8);
        block[4 * i + 3] = (unsigned char)c->h[i];
    }
}

/* n more iterations: block holds U(j) with its padding and becomes U(j + n); t ^= each.
 * Only this thread's own stack is touched, so ThreadSanitizer is told to leave the loop
 * alone: instrumented, it ran ten times slower, and a check in flight at shutdown under the
 * TSan build no longer finished within the grace. */
__attribute__((no_sanitize("thread"))) static void
rounds(const idd_hmac256_t *k, unsigned char block[BLOCK], unsigned char t[DIGEST], unsigned n)
{
    SHA256_CTX c;
    for (unsigned j = 0; j < n; j++) {
        c = k->inner;
        SHA256_Transform(&c, block);
        state_bytes(block, &c);
        c = k->outer;
        SHA256_Transform(&c, block);
        state_bytes(block, &c);
        for (int i = 0; i < DIGEST; i++)
            t[i] ^= block[i];
    }
    idd_wipe(&c, sizeof c);
}

int idd_pbkdf2_sha256(const void *password, size_t plen, const void *salt, size_t slen,
                      unsigned iterations, unsigned char *out, size_t outlen, idd_pacer_t *pacer)
{
    unsigned char block[BLOCK];
    unsigned char t[DIGEST];
    idd_hmac256_t k;
    idd_pacer_mark_t mark;

    if ((password == NULL && plen > 0) || (salt == NULL && slen > 0) || iterations < 1 ||
        out == NULL || outlen < 1 || outlen > 1024)
        return IDD_EINVAL;
    idd_hmac256_key(&k, password, plen);

    /* The block of every iteration after the first: digest, padding, 768 bits. */
    memset(block, 0, sizeof block);
    block[DIGEST] = 0x80;
    block[BLOCK - 2] = 0x03;

    idd_pacer_begin(pacer, &mark);
    for (uint32_t index = 1; outlen > 0; index++) {
        unsigned char be[4] = {(unsigned char)(index >> 24), (unsigned char)(index >> 16),
                               (unsigned char)(index >> 8), (unsigned char)index};
        /* U1 = HMAC(P, S || INT(index)). */
        idd_hmac256(&k, salt, slen, be, sizeof be, block);
        memcpy(t, block, DIGEST);
        /* U1 filled only the digest: the padding after it is still in place. Then the other
         * iterations, a slice at a time between reports to the pacer. */
        for (unsigned done = 1; done < iterations;) {
            unsigned n =
                iterations - done < IDD_PBKDF2_SLICE ? iterations - done : IDD_PBKDF2_SLICE;
            rounds(&k, block, t, n);
            done += n;
            if (done < iterations) {
                idd_pacer_end(pacer, &mark);
                idd_pacer_begin(pacer, &mark);
            }
        }
        size_t n = outlen < DIGEST ? outlen : DIGEST;
        memcpy(out, t, n);
        out += n;
        outlen -= n;
    }
    idd_pacer_end(pacer, &mark);

    idd_wipe(block, sizeof block);
    idd_wipe(t, sizeof t);
    idd_hmac256_wipe(&k);
    return 0;
}
