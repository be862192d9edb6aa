/*
 * The keyring: every signing key of the configuration, parsed once at start (or reload) and
 * then shared read-only by all threads. PEM private keys become EVP_PKEYs checked against
 * their declared alg, so that a P-384 file named ES256 or a 1024-bit RSA file is a config
 * error and not a token nobody can verify. HS256 keys are DocSpace machine keys turned into
 * the 256-byte secret DocSpace derives. The JWKS is rendered here once, since it only
 * changes with the configuration. Error texts point at the key's line in the config file
 * and never contain key material.
 */
#include "identityd/token/keyring.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "identityd/core/b64.h"
#include "identityd/core/buf.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/jwa.h"
#include "identityd/core/secretfile.h"
#include "identityd/token/machinekey.h"

/* A machine key is a short string; anything near this size is not one. */
#define MACHINE_KEY_FILE_MAX 65536
/* A PEM private key of 16384-bit RSA is about 13 KB; anything this large is not a key. */
#define PEM_FILE_MAX 65536
#define RSA_MIN_BITS 2048
#define RSA_GENERATE_BITS 3072

struct idd_keyring {
    idd_key_t *keys; /* config order */
    size_t n_keys;
    size_t active; /* index of the one active key */
    char *jwks;    /* {"keys":[...]}, NUL-terminated */
    size_t jwks_len;
    char etag[IDD_KEYRING_ETAG_MAX]; /* "\"<base64url of SHA-256(jwks), 128 bits>\"" */
    size_t etag_len;
    unsigned jwks_algs; /* IDD_JWA_* bits of the keys in the JWKS */
};

/* Formats "FILE:LINE: message" (or "FILE: message" without a line) into err. */
static void report(char *err, size_t errlen, const idd_config_t *cfg, int line, const char *fmt,
                   ...) __attribute__((format(printf, 5, 6)));

static void report(char *err, size_t errlen, const idd_config_t *cfg, int line, const char *fmt,
                   ...)
{
    const char *path = cfg != NULL && cfg->path != NULL ? cfg->path : "(config)";
    va_list ap;
    va_start(ap, fmt);
    idd_verrorf_at(err, errlen, path, line, fmt, ap);
    va_end(ap);
}

/* The line of the key that names a file, or the line of its list item when unknown. */
static int line_or(int key_line, int item_line)
{
    return key_line > 0 ? key_line : item_line;
}

/* The first OpenSSL error's reason, for messages; clears the queue so that later calls do
 * not report stale errors. */
static const char *openssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return reason != NULL ? reason : "unknown reason";
}

/* Refuses to prompt for a passphrase: identityd starts unattended, so an encrypted key file
 * is a configuration error rather than a hang on the terminal. */
// NOLINTNEXTLINE(readability-non-const-parameter): OpenSSL's pem_password_cb signature
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static void key_dispose(idd_key_t *key)
{
    free(key->kid);
    EVP_PKEY_free(key->pkey);
    if (key->secret != NULL) {
        idd_wipe(key->secret, key->secret_len);
        free(key->secret);
    }
    if (key->machine_key != NULL) {
        idd_wipe(key->machine_key, key->machine_key_len);
        free(key->machine_key);
    }
    memset(key, 0, sizeof(*key));
}

/* Reads a machine key file (the rules of every secret file) and trims trailing whitespace
 * (editors add a newline that is not part of the key). On success *out is a NUL-terminated
 * secret of *outlen bytes and *wipe_len the bytes the caller wipes before freeing it. */
static int read_machine_key_file(const idd_config_t *cfg, const idd_key_config_t *kc, char **out,
                                 size_t *outlen, size_t *wipe_len, char *err, size_t errlen)
{
    char why[PATH_MAX + 128];
    int rc = idd_secretfile_read(kc->machine_key_file, MACHINE_KEY_FILE_MAX, out, wipe_len, why,
                                 sizeof(why));
    if (rc != 0) {
        report(err, errlen, cfg, line_or(kc->machine_key_file_line, kc->line),
               "key '%s': machine_key_file: %s", kc->kid, why);
        return rc == IDD_EIO ? IDD_EIO : IDD_ECONFIG;
    }
    *outlen = idd_secretfile_trim(*out, *wipe_len);
    (*out)[*outlen] = '\0';
    return 0;
}

static int load_hs256(const idd_config_t *cfg, const idd_key_config_t *kc, idd_key_t *key,
                      char *err, size_t errlen)
{
    int rc = IDD_ECONFIG;
    char *from_file = NULL;
    size_t from_file_len = 0, from_file_read = 0;
    const char *machine_key = NULL;
    size_t len = 0;

    if (kc->file != NULL) {
        report(err, errlen, cfg, kc->line,
               "key '%s': HS256 takes machine_key or machine_key_file, not file", kc->kid);
        goto done;
    }
    if ((kc->machine_key != NULL) == (kc->machine_key_file != NULL)) {
        report(err, errlen, cfg, kc->line,
               "key '%s': HS256 needs exactly one of machine_key and machine_key_file", kc->kid);
        goto done;
    }
    if (kc->machine_key != NULL) {
        machine_key = kc->machine_key;
        len = strlen(machine_key);
    } else {
        rc = read_machine_key_file(cfg, kc, &from_file, &from_file_len, &from_file_read, err,
                                   errlen);
        if (rc != 0)
            goto done;
        rc = IDD_ECONFIG;
        machine_key = from_file;
        len = from_file_len;
    }
    /* An empty machine key would still derive a key, one everybody can compute. */
    if (len == 0) {
        report(err, errlen, cfg, kc->line, "key '%s': the machine key is empty", kc->kid);
        goto done;
    }
    key->secret = idd_xmalloc(IDD_MACHINEKEY_HMAC_LEN);
    key->secret_len = IDD_MACHINEKEY_HMAC_LEN;
    if (idd_machinekey_derive(machine_key, len, key->secret, key->secret_len) != 0) {
        report(err, errlen, cfg, kc->line, "key '%s': cannot derive the HS256 key", kc->kid);
        goto done;
    }
    key->machine_key = idd_xmalloc(len + 1);
    memcpy(key->machine_key, machine_key, len);
    key->machine_key[len] = '\0';
    key->machine_key_len = len;
    rc = 0;
done:
    if (from_file != NULL) {
        idd_wipe(from_file, from_file_read);
        free(from_file);
    }
    return rc;
}

/* Says why pkey cannot sign with alg, or returns NULL when it can. */
static const char *pkey_mismatch(EVP_PKEY *pkey, idd_alg_t alg, char *why, size_t whylen)
{
    const char *type = EVP_PKEY_get0_type_name(pkey);
    if (type == NULL)
        type = "unknown";

    switch (alg) {
    case IDD_ALG_ES256: {
        char group[64];
        if (!EVP_PKEY_is_a(pkey, "EC")) {
            snprintf(why, whylen, "ES256 needs a P-256 EC key, the file holds %s", type);
            return why;
        }
        if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                            NULL)) {
            ERR_clear_error();
            snprintf(why, whylen, "ES256 needs a named P-256 curve");
            return why;
        }
        int nid = OBJ_sn2nid(group);
        if (nid == NID_undef)
            nid = EC_curve_nist2nid(group);
        if (nid != NID_X9_62_prime256v1) {
            snprintf(why, whylen, "ES256 needs a P-256 EC key, the file holds curve %s", group);
            return why;
        }
        return NULL;
    }
    case IDD_ALG_RS256:
        if (!EVP_PKEY_is_a(pkey, "RSA")) {
            snprintf(why, whylen, "RS256 needs an RSA key, the file holds %s", type);
            return why;
        }
        if (EVP_PKEY_get_bits(pkey) < RSA_MIN_BITS) {
            snprintf(why, whylen, "RS256 needs an RSA key of at least %d bits, this one has %d",
                     RSA_MIN_BITS, EVP_PKEY_get_bits(pkey));
            return why;
        }
        return NULL;
    case IDD_ALG_EDDSA:
        if (!EVP_PKEY_is_a(pkey, "ED25519")) {
            snprintf(why, whylen, "EdDSA needs an Ed25519 key, the file holds %s", type);
            return why;
        }
        return NULL;
    default:
        break;
    }
    snprintf(why, whylen, "not an asymmetric algorithm identityd signs with");
    return why;
}

static int load_pem(const idd_config_t *cfg, const idd_key_config_t *kc, idd_key_t *key, char *err,
                    size_t errlen)
{
    int rc = IDD_ECONFIG;
    BIO *bio = NULL;
    EVP_PKEY *pkey = NULL;
    char *text = NULL;
    size_t text_len = 0;
    char why[PATH_MAX + 128];

    if (kc->file == NULL || kc->machine_key != NULL || kc->machine_key_file != NULL) {
        report(err, errlen, cfg, kc->line, "key '%s': %s takes a PEM file and no machine key",
               kc->kid, idd_alg_name(kc->alg));
        goto done;
    }
    rc = idd_secretfile_read(kc->file, PEM_FILE_MAX, &text, &text_len, why, sizeof(why));
    if (rc != 0) {
        report(err, errlen, cfg, line_or(kc->file_line, kc->line), "key '%s': file: %s", kc->kid,
               why);
        rc = rc == IDD_EIO ? IDD_EIO : IDD_ECONFIG;
        goto done;
    }
    rc = IDD_ECONFIG;
    bio = BIO_new_mem_buf(text, (int)text_len);
    if (bio == NULL) {
        report(err, errlen, cfg, kc->line, "key '%s': %s", kc->kid, openssl_reason());
        goto done;
    }
    pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    if (pkey == NULL) {
        report(err, errlen, cfg, kc->line, "key '%s': %s holds no unencrypted PEM private key (%s)",
               kc->kid, kc->file, openssl_reason());
        goto done;
    }
    if (pkey_mismatch(pkey, kc->alg, why, sizeof(why)) != NULL) {
        report(err, errlen, cfg, kc->line, "key '%s': %s: %s", kc->kid, kc->file, why);
        goto done;
    }
    key->pkey = pkey;
    pkey = NULL;
    rc = 0;
done:
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    if (text != NULL) {
        idd_wipe(text, text_len);
        free(text);
    }
    return rc;
}

static void append_b64url(idd_buf_t *b, const unsigned char *bytes, size_t n)
{
    idd_buf_reserve(b, IDD_B64URL_LEN(n));
    b->len += idd_b64url_encode(b->data + b->len, bytes, n);
}

/* Appends "name":"<base64url of the big-endian bytes of a BIGNUM parameter>", left-padded
 * to pad bytes (0: minimal, as RFC 7518 wants for RSA n and e). */
static int append_bn_member(idd_buf_t *b, EVP_PKEY *pkey, const char *param, const char *name,
                            int pad)
{
    int rc = IDD_ECRYPTO;
    BIGNUM *bn = NULL;
    unsigned char *bytes = NULL;
    int n;

    if (!EVP_PKEY_get_bn_param(pkey, param, &bn))
        goto done;
    n = pad > 0 ? pad : BN_num_bytes(bn);
    if (n <= 0 || BN_num_bytes(bn) > n)
        goto done;
    bytes = idd_xmalloc((size_t)n);
    if (BN_bn2binpad(bn, bytes, n) != n)
        goto done;
    idd_buf_printf(b, ",\"%s\":\"", name);
    append_b64url(b, bytes, (size_t)n);
    idd_buf_putc(b, '"');
    rc = 0;
done:
    free(bytes);
    BN_free(bn);
    if (rc != 0)
        ERR_clear_error();
    return rc;
}

int idd_key_jwk(const idd_key_t *key, idd_buf_t *b)
{
    int rc = IDD_EINVAL;
    size_t start = b->len;

    if (key == NULL || key->alg == IDD_ALG_HS256 || key->pkey == NULL)
        goto done;
    rc = IDD_ECRYPTO;
    switch (key->alg) {
    case IDD_ALG_ES256:
        idd_buf_puts(b, "{\"kty\":\"EC\",\"kid\":");
        idd_buf_json_str(b, key->kid, strlen(key->kid));
        idd_buf_puts(b, ",\"alg\":\"ES256\",\"use\":\"sig\",\"crv\":\"P-256\"");
        if (append_bn_member(b, key->pkey, OSSL_PKEY_PARAM_EC_PUB_X, "x", 32) != 0 ||
            append_bn_member(b, key->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, "y", 32) != 0)
            goto done;
        break;
    case IDD_ALG_RS256:
        idd_buf_puts(b, "{\"kty\":\"RSA\",\"kid\":");
        idd_buf_json_str(b, key->kid, strlen(key->kid));
        idd_buf_puts(b, ",\"alg\":\"RS256\",\"use\":\"sig\"");
        if (append_bn_member(b, key->pkey, OSSL_PKEY_PARAM_RSA_N, "n", 0) != 0 ||
            append_bn_member(b, key->pkey, OSSL_PKEY_PARAM_RSA_E, "e", 0) != 0)
            goto done;
        break;
    case IDD_ALG_EDDSA: {
        unsigned char pub[32];
        size_t publen = sizeof(pub);
        if (!EVP_PKEY_get_raw_public_key(key->pkey, pub, &publen) || publen != sizeof(pub)) {
            ERR_clear_error();
            goto done;
        }
        idd_buf_puts(b, "{\"kty\":\"OKP\",\"kid\":");
        idd_buf_json_str(b, key->kid, strlen(key->kid));
        idd_buf_puts(b, ",\"alg\":\"EdDSA\",\"use\":\"sig\",\"crv\":\"Ed25519\",\"x\":\"");
        append_b64url(b, pub, publen);
        idd_buf_putc(b, '"');
        break;
    }
    default:
        goto done;
    }
    idd_buf_putc(b, '}');
    rc = 0;
done:
    /* Leave b as it was when the key cannot be rendered: no half-written object. */
    if (rc != 0 && b->data != NULL) {
        b->len = start;
        b->data[start] = '\0';
    }
    return rc;
}

static int render_jwks(idd_keyring_t *kr)
{
    int rc = IDD_ECRYPTO;
    idd_buf_t b;
    int first = 1;

    idd_buf_init(&b);
    idd_buf_puts(&b, "{\"keys\":[");
    for (size_t i = 0; i < kr->n_keys; i++) {
        const idd_key_t *key = &kr->keys[i];
        /* HS256 keys are shared secrets: publishing one would let anybody mint tokens. */
        if (key->alg == IDD_ALG_HS256)
            continue;
        if (key->state != IDD_KEY_ACTIVE && key->state != IDD_KEY_PUBLISHED)
            continue;
        if (!first)
            idd_buf_putc(&b, ',');
        if (idd_key_jwk(key, &b) != 0)
            goto done;
        kr->jwks_algs |= IDD_JWA_BIT(key->alg);
        first = 0;
    }
    idd_buf_puts(&b, "]}");
    /* The strong validator of the document: a digest of its bytes, so that it changes
     * exactly when the document does, across restarts and instances alike. 128 bits of
     * SHA-256 are plenty to tell versions apart and keep the header short. */
    unsigned char digest[32];
    unsigned int digest_len = 0;
    if (EVP_Digest(b.data, b.len, digest, &digest_len, EVP_sha256(), NULL) != 1 ||
        digest_len != sizeof(digest)) {
        ERR_clear_error();
        goto done;
    }
    kr->etag[0] = '"';
    kr->etag_len = 1 + idd_b64url_encode(kr->etag + 1, digest, IDD_KEYRING_ETAG_BYTES);
    kr->etag[kr->etag_len++] = '"';
    kr->etag[kr->etag_len] = '\0';
    kr->jwks = b.data;
    kr->jwks_len = b.len;
    idd_buf_init(&b);
    rc = 0;
done:
    idd_buf_dispose(&b);
    return rc;
}

int idd_keyring_load(const idd_config_t *cfg, idd_keyring_t **out, char *err, size_t errlen)
{
    int rc = IDD_ECONFIG;
    idd_keyring_t *kr = NULL;
    size_t n_active = 0;
    int first_active_line = 0;

    if (out != NULL)
        *out = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (cfg == NULL || out == NULL) {
        rc = IDD_EINVAL;
        goto done;
    }
    /* With rotation: the keys it makes are added from the database; before the first start
     * (-t) there may be none yet. */
    if ((cfg->n_keys == 0 || cfg->keys == NULL) && cfg->rotation_every == 0) {
        report(err, errlen, cfg, 0, "no signing key is configured");
        goto done;
    }

    kr = idd_xcalloc(1, sizeof(*kr));
    kr->keys = idd_xcalloc(cfg->n_keys > 0 ? cfg->n_keys : 1, sizeof(*kr->keys));
    kr->active = SIZE_MAX;
    /* As above, a list without rows counts as none, whatever its count says. */
    size_t n_cfg = cfg->keys != NULL ? cfg->n_keys : 0;
    for (size_t i = 0; i < n_cfg; i++) {
        const idd_key_config_t *kc = &cfg->keys[i];
        idd_key_t *key = &kr->keys[kr->n_keys];

        if (kc->kid == NULL || kc->kid[0] == '\0') {
            report(err, errlen, cfg, kc->line, "key without a kid");
            goto done;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(cfg->keys[j].kid, kc->kid) == 0) {
                report(err, errlen, cfg, kc->line, "kid '%s' is already used at line %d", kc->kid,
                       cfg->keys[j].line);
                goto done;
            }
        }
        if (kc->state == IDD_KEY_ACTIVE) {
            if (n_active > 0) {
                report(err, errlen, cfg, kc->line,
                       "key '%s' is a second active key (the first is at line %d); exactly one "
                       "key signs, the others must be published",
                       kc->kid, first_active_line);
                goto done;
            }
            n_active++;
            first_active_line = kc->line;
            kr->active = kr->n_keys;
        } else if (kc->state == IDD_KEY_RETIRED) {
            /* A record of a key that no longer signs nor verifies: its file is not read (it
             * may be gone) and it is in neither the keyring nor the JWKS. */
            continue;
        } else if (kc->state != IDD_KEY_PUBLISHED) {
            report(err, errlen, cfg, kc->line, "key '%s' has an unknown state", kc->kid);
            goto done;
        }

        /* Count the key before it is filled, so that a failure below frees what it holds. */
        kr->n_keys++;
        key->kid = idd_xstrdup(kc->kid);
        key->alg = kc->alg;
        key->state = kc->state;
        switch (kc->alg) {
        case IDD_ALG_HS256:
            rc = load_hs256(cfg, kc, key, err, errlen);
            break;
        case IDD_ALG_ES256:
        case IDD_ALG_RS256:
        case IDD_ALG_EDDSA:
            rc = load_pem(cfg, kc, key, err, errlen);
            break;
        default:
            rc = IDD_ECONFIG;
            report(err, errlen, cfg, kc->line, "key '%s' has an unknown alg", kc->kid);
            break;
        }
        if (rc != 0)
            goto done;
        rc = IDD_ECONFIG;
    }
    if (n_active == 0 && cfg->rotation_every == 0) {
        report(err, errlen, cfg, cfg->keys[0].line,
               "no key is active: exactly one key must have state active");
        goto done;
    }
    if (render_jwks(kr) != 0) {
        report(err, errlen, cfg, 0, "cannot render the JWKS (%s)", openssl_reason());
        goto done;
    }
    *out = kr;
    kr = NULL;
    rc = 0;
done:
    idd_keyring_free(kr);
    return rc;
}

void idd_keyring_free(idd_keyring_t *kr)
{
    if (kr == NULL)
        return;
    for (size_t i = 0; i < kr->n_keys; i++)
        key_dispose(&kr->keys[i]);
    free(kr->keys);
    free(kr->jwks);
    free(kr);
}

const idd_key_t *idd_keyring_active(const idd_keyring_t *kr)
{
    return kr->active < kr->n_keys ? &kr->keys[kr->active] : NULL;
}

const idd_key_t *idd_keyring_find(const idd_keyring_t *kr, const char *kid)
{
    if (kr == NULL || kid == NULL)
        return NULL;
    for (size_t i = 0; i < kr->n_keys; i++) {
        if (strcmp(kr->keys[i].kid, kid) == 0)
            return &kr->keys[i];
    }
    return NULL;
}

size_t idd_keyring_count(const idd_keyring_t *kr)
{
    return kr != NULL ? kr->n_keys : 0;
}

const idd_key_t *idd_keyring_at(const idd_keyring_t *kr, size_t i)
{
    if (kr == NULL || i >= kr->n_keys)
        return NULL;
    return &kr->keys[i];
}

const char *idd_keyring_jwks(const idd_keyring_t *kr, size_t *len)
{
    if (len != NULL)
        *len = kr->jwks_len;
    return kr->jwks;
}

const char *idd_keyring_jwks_etag(const idd_keyring_t *kr, size_t *len)
{
    if (len != NULL)
        *len = kr->etag_len;
    return kr->etag;
}

unsigned idd_keyring_jwks_algs(const idd_keyring_t *kr)
{
    return kr->jwks_algs;
}

/* Creates path for writing, failing if it exists, with mode 0600 from the start so the key
 * is never readable by others, not even for a moment. */
static int create_exclusive(const char *path, int *fd, char *err, size_t errlen)
{
    *fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (*fd >= 0)
        return 0;
    int e = errno;
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s: %s", path, e == EEXIST ? "already exists" : strerror(e));
    return e == EEXIST ? IDD_EEXIST : IDD_EIO;
}

static EVP_PKEY *generate(idd_alg_t alg)
{
    switch (alg) {
    case IDD_ALG_ES256:
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    case IDD_ALG_RS256:
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)RSA_GENERATE_BITS);
    case IDD_ALG_EDDSA:
        return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    default:
        break;
    }
    return NULL;
}

int idd_key_new_kid(idd_alg_t alg, int64_t now, char out[32])
{
    unsigned char rnd[4];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return IDD_ECRYPTO;
    char lower[8] = "";
    const char *name = idd_alg_name(alg);
    for (size_t i = 0; name[i] != '\0' && i + 1 < sizeof(lower); i++)
        lower[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + ('a' - 'A') : name[i]);
    time_t t = (time_t)now;
    struct tm tm;
    gmtime_r(&t, &tm);
    /* Years past 9999 are not days a key is made on; the bound keeps the text in 32 bytes. */
    int year = tm.tm_year + 1900 > 9999 ? 9999 : tm.tm_year + 1900;
    snprintf(out, 32, "%.5s-%04d%02d%02d-%02x%02x%02x%02x", lower, year % 10000,
             (tm.tm_mon + 1) % 100, tm.tm_mday % 100, rnd[0], rnd[1], rnd[2], rnd[3]);
    return 0;
}

int idd_key_generate(idd_alg_t alg, const char *path, char *err, size_t errlen)
{
    int rc = IDD_EINVAL;
    int fd = -1;
    int created = 0;
    EVP_PKEY *pkey = NULL;
    BIO *pem = NULL;
    char *text = NULL;
    long text_len;
    size_t written = 0;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (alg != IDD_ALG_ES256 && alg != IDD_ALG_RS256 && alg != IDD_ALG_EDDSA) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s keys are not generated: HS256 uses DocSpace's machine key",
                     alg == IDD_ALG_HS256 ? "HS256" : "unknown");
        goto done;
    }
    if (path == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "no path given");
        goto done;
    }
    /* Claim the path first: an existing file is refused before seconds of RSA generation. */
    rc = create_exclusive(path, &fd, err, errlen);
    if (rc != 0)
        goto done;
    created = 1;

    rc = IDD_EIO;
    pkey = generate(alg);
    /* A secure-memory BIO wipes the PEM text when it is freed. */
    pem = BIO_new(BIO_s_secmem());
    if (pkey == NULL || pem == NULL ||
        !PEM_write_bio_PKCS8PrivateKey(pem, pkey, NULL, NULL, 0, NULL, NULL)) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: cannot generate the key (%s)", path, openssl_reason());
        goto done;
    }
    text_len = BIO_get_mem_data(pem, &text);
    if (text_len <= 0 || text == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: cannot encode the key", path);
        goto done;
    }
    while (written < (size_t)text_len) {
        ssize_t n = write(fd, text + written, (size_t)text_len - written);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (err != NULL && errlen > 0)
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
            goto done;
        }
        written += (size_t)n;
    }
    if (fsync(fd) != 0) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto done;
    }
    if (close(fd) != 0) {
        fd = -1;
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto done;
    }
    fd = -1;
    rc = 0;
done:
    if (fd >= 0)
        close(fd);
    /* Do not leave an empty or partial key file behind to be loaded later. */
    if (rc != 0 && created)
        unlink(path);
    BIO_free(pem);
    EVP_PKEY_free(pkey);
    return rc;
}

const char *idd_keyring_machine_key(const idd_keyring_t *kr, size_t *len)
{
    for (size_t i = 0; kr != NULL && i < kr->n_keys; i++) {
        const idd_key_t *k = &kr->keys[i];
        if (k->machine_key != NULL && k->state != IDD_KEY_RETIRED) {
            *len = k->machine_key_len;
            return k->machine_key;
        }
    }
    *len = 0;
    return NULL;
}
