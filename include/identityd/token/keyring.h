/*
 * The signing keys named in the configuration, loaded once: PEM files parsed into EVP_PKEY,
 * machine keys derived into HS256 secrets. The keyring also renders the JWKS document once
 * at load, since it only changes with the configuration. A keyring is immutable after load
 * and shared read-only by every thread.
 */
#ifndef IDENTITYD_KEYRING_H
#define IDENTITYD_KEYRING_H

#include <stddef.h>
#include <openssl/evp.h>

#include "identityd/config/config.h"
#include "identityd/core/jwa.h"

typedef struct idd_key {
    char *kid;
    idd_alg_t alg;
    idd_key_state_t state;
    EVP_PKEY *pkey;        /* ES256/RS256/EdDSA: the private key; NULL for HS256 */
    unsigned char *secret; /* HS256: the derived key; NULL otherwise (wiped on free) */
    size_t secret_len;
    char *machine_key; /* HS256: the machine key itself, for DocSpace's two-factor secrets
                        * (tfa.secret: docspace); NULL otherwise (wiped on free) */
    size_t machine_key_len;
} idd_key_t;

typedef struct idd_keyring idd_keyring_t;

/* Loads every key of cfg. Checks that each PEM matches its alg (P-256 for ES256, RSA of at
 * least 2048 bits for RS256, Ed25519 for EdDSA), that kids are unique and that exactly one
 * key is active. On failure returns IDD_ECONFIG or IDD_EIO, *out NULL, and err receives
 * "FILE:LINE: message" pointing at the key's entry in the config. */
int idd_keyring_load(const idd_config_t *cfg, idd_keyring_t **out, char *err, size_t errlen);

/* Frees the keys (secrets wiped); NULL is a no-op. */
void idd_keyring_free(idd_keyring_t *kr);

/* The active (signing) key, owned by the keyring. NULL only with rotation before its first
 * key exists (identityd -t on a fresh database): a serving keyring always has one. */
const idd_key_t *idd_keyring_active(const idd_keyring_t *kr);

/* The key with this kid, or NULL. Owned by the keyring. */
const idd_key_t *idd_keyring_find(const idd_keyring_t *kr, const char *kid);

/* The machine key of the first HS256 key not retired (*len its length), or NULL when the
 * keyring has none. Owned by the keyring. */
const char *idd_keyring_machine_key(const idd_keyring_t *kr, size_t *len);

/* Number of keys and the i-th one (config order). */
size_t idd_keyring_count(const idd_keyring_t *kr);
const idd_key_t *idd_keyring_at(const idd_keyring_t *kr, size_t i);

/* The JWKS document {"keys":[...]} of every active and published asymmetric key: public
 * parts only, never an HS256 key. Owned by the keyring; *len receives its length. */
const char *idd_keyring_jwks(const idd_keyring_t *kr, size_t *len);

/* The JWKS's strong entity tag, quoted as an ETag header carries it ("\"…\""): a digest
 * of the document's bytes, computed once at load. Owned by the keyring. */
#define IDD_KEYRING_ETAG_BYTES 16 /* digest bytes in the tag */
#define IDD_KEYRING_ETAG_MAX 32   /* quotes, base64url of 16 bytes (22) and NUL fit */
const char *idd_keyring_jwks_etag(const idd_keyring_t *kr, size_t *len);

/* The algorithms (IDD_JWA_* bits, core/jwa.h) of the keys the JWKS holds. */
unsigned idd_keyring_jwks_algs(const idd_keyring_t *kr);

/* Appends the public JWK of key (one JSON object) to b. Returns 0, or IDD_EINVAL for an
 * HS256 key (which has no public form). */
struct idd_buf;
int idd_key_jwk(const idd_key_t *key, struct idd_buf *b);

/* Generates a new private key for alg (ES256: P-256, RS256: RSA-3072, EdDSA: Ed25519) and
 * writes it as PKCS#8 PEM to path with mode 0600, refusing to overwrite an existing file.
 * Returns 0, IDD_EINVAL (HS256), IDD_EEXIST or IDD_EIO. */
/* A fresh kid for a key of alg made at now: "es256-YYYYMMDD-" and 8 random hex digits, so
 * that two keys made the same day differ. Returns 0 or IDD_ECRYPTO. */
int idd_key_new_kid(idd_alg_t alg, int64_t now, char out[32]);

int idd_key_generate(idd_alg_t alg, const char *path, char *err, size_t errlen);

#endif
