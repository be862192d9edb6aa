/* HMAC-SHA256 from saved keyed states (include/identityd/cred/hmac256.h). OpenSSL 3 marks
 * the low-level SHA-256 calls deprecated in favour of EVP, which cannot start from a saved
 * state; Debian's OpenSSL keeps them. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "identityd/cred/hmac256.h"

#include <string.h>

#include "identityd/core/ct.h"

#define BLOCK 64

void idd_sha256(const void *data, size_t len, unsigned char out[IDD_HMAC256_LEN])
{
    SHA256_CTX c;
    SHA256_Init(&c);
    if (len > 0)
        SHA256_Update(&c, data, len);
    SHA256_Final(out, &c);
    idd_wipe(&c, sizeof c);
}

void idd_hmac256_key(idd_hmac256_t *k, const void *key, size_t len)
{
    unsigned char block[BLOCK] = {0};
    unsigned char pad[BLOCK];

    if (len > BLOCK)
        idd_sha256(key, len, block);
    else if (len > 0)
        memcpy(block, key, len);
    for (int i = 0; i < BLOCK; i++)
        pad[i] = block[i] ^ 0x36;
    SHA256_Init(&k->inner);
    SHA256_Update(&k->inner, pad, BLOCK);
    for (int i = 0; i < BLOCK; i++)
        pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&k->outer);
    SHA256_Update(&k->outer, pad, BLOCK);
    idd_wipe(block, sizeof block);
    idd_wipe(pad, sizeof pad);
}

void idd_hmac256(const idd_hmac256_t *k, const void *a, size_t alen, const void *b, size_t blen,
                 unsigned char out[IDD_HMAC256_LEN])
{
    idd_bytes_t parts[2] = {{a, alen}, {b, blen}};
    idd_hmac256_parts(k, parts, 2, out);
}

void idd_hmac256_parts(const idd_hmac256_t *k, const idd_bytes_t *parts, size_t n,
                       unsigned char out[IDD_HMAC256_LEN])
{
    SHA256_CTX c = k->inner;
    unsigned char inner[IDD_HMAC256_LEN];

    for (size_t i = 0; i < n; i++)
        if (parts[i].n > 0)
            SHA256_Update(&c, parts[i].p, parts[i].n);
    SHA256_Final(inner, &c);
    c = k->outer;
    SHA256_Update(&c, inner, sizeof inner);
    SHA256_Final(out, &c);
    idd_wipe(&c, sizeof c);
    idd_wipe(inner, sizeof inner);
}

void idd_hmac256_wipe(idd_hmac256_t *k)
{
    idd_wipe(k, sizeof *k);
}
