/*
 * HMAC-SHA256 (RFC 2104) with the key's two padded blocks hashed once.
 *
 * A keyed MAC is then two copies of a saved SHA-256 state and the message's own blocks, with
 * none of the algorithm fetching, context allocation and parameter passing of OpenSSL's
 * generic EVP_MAC, which cost more than the hashing itself for the short inputs identityd
 * MACs on a request's path: a credential's keyed digest, an HS256 token. tests compare it
 * with OpenSSL's HMAC.
 */
#ifndef IDENTITYD_HMAC256_H
#define IDENTITYD_HMAC256_H

#include <stddef.h>

#include <openssl/sha.h>

#define IDD_HMAC256_LEN 32

typedef struct idd_hmac256 {
    SHA256_CTX inner; /* SHA-256 state after the block key ^ ipad */
    SHA256_CTX outer; /* after key ^ opad */
} idd_hmac256_t;

/* out = SHA-256(data[0..len)), without the algorithm fetch of OpenSSL 3's one-shot SHA256(). */
void idd_sha256(const void *data, size_t len, unsigned char out[IDD_HMAC256_LEN]);

/* Keys k with key[0..len) (any length; longer than 64 bytes is hashed first). */
void idd_hmac256_key(idd_hmac256_t *k, const void *key, size_t len);

/* out = HMAC(key, a[0..alen) || b[0..blen)); either part may be empty (NULL with 0). */
void idd_hmac256(const idd_hmac256_t *k, const void *a, size_t alen, const void *b, size_t blen,
                 unsigned char out[IDD_HMAC256_LEN]);

/* The same over the concatenation of n parts. */
typedef struct idd_bytes {
    const void *p;
    size_t n; /* 0: the part is empty (p may be NULL) */
} idd_bytes_t;
void idd_hmac256_parts(const idd_hmac256_t *k, const idd_bytes_t *parts, size_t n,
                       unsigned char out[IDD_HMAC256_LEN]);

/* Wipes the keyed states. */
void idd_hmac256_wipe(idd_hmac256_t *k);

#endif
