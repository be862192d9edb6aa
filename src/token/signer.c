/*
 * Mints the login-to-identity token on the request path, so everything that can be done
 * once is done in idd_signer_new: the header and its base64url, the HMAC states keyed with
 * the HS256 secret (cred/hmac256.h), the digest-sign context bound to the private key. A mint then
 * writes the claims with the escaping writer, signs by re-initialising or copying those contexts,
 * and base64url-encodes straight into the caller's buffer. A signer belongs to one thread;
 * the keyring it reads is shared and immutable.
 */
#include "identityd/token/signer.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "identityd/core/b64.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"
#include "identityd/core/rand.h"
#include "identityd/cred/hmac256.h"

#define JTI_BYTES 16
#define ES256_COORD 32

struct idd_signer {
    const idd_key_t *key; /* the keyring's active key; borrowed */
    char *header_b64;     /* base64url of {"alg":…,"typ":"JWT","kid":…} */
    size_t header_b64_len;
    size_t sig_max;        /* bytes of the longest signature this key makes */
    idd_hmac256_t hmac;    /* HS256: keyed once */
    EVP_PKEY_CTX *ecdsa;   /* ES256: EVP_PKEY_sign_init done once, signs each token's digest */
    EVP_MD_CTX *sign_tmpl; /* RS256: EVP_DigestSignInit done once, copied per token */
    EVP_MD_CTX *sign_ctx;  /* the per-token working context (EdDSA: re-initialised) */
    unsigned char *sig;    /* scratch of sig_max bytes */
    idd_buf_t claims;      /* scratch for the payload JSON */
};

static const char *openssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return reason != NULL ? reason : "unknown reason";
}

static void append_b64url(idd_buf_t *b, const void *bytes, size_t n)
{
    idd_buf_reserve(b, IDD_B64URL_LEN(n));
    b->len += idd_b64url_encode(b->data + b->len, bytes, n);
}

static int setup_hmac(idd_signer_t *s)
{
    idd_hmac256_key(&s->hmac, s->key->secret, s->key->secret_len);
    s->sig_max = IDD_HMAC256_LEN;
    return 0;
}

static int setup_digest_sign(idd_signer_t *s)
{
    EVP_PKEY_CTX *pctx = NULL;
    int bytes = EVP_PKEY_get_size(s->key->pkey);

    if (bytes <= 0)
        return IDD_ECRYPTO;
    s->sig_max = (size_t)bytes;
    s->sign_ctx = EVP_MD_CTX_new();
    if (s->sign_ctx == NULL)
        return IDD_ECRYPTO;
    /* Ed25519 signs the message in one pass, with no separate digest; its context is set up
     * per token (cheap: no parsing), so no template is kept. */
    if (s->key->alg == IDD_ALG_EDDSA)
        return 0;
    /* ECDSA signs a digest: hashing the input here and signing the digest with one context
     * spares the per-token copies of a digest-sign context and of its key context. */
    if (s->key->alg == IDD_ALG_ES256) {
        s->ecdsa = EVP_PKEY_CTX_new_from_pkey(NULL, s->key->pkey, NULL);
        if (s->ecdsa == NULL || EVP_PKEY_sign_init(s->ecdsa) != 1)
            return IDD_ECRYPTO;
        return 0;
    }
    s->sign_tmpl = EVP_MD_CTX_new();
    if (s->sign_tmpl == NULL)
        return IDD_ECRYPTO;
    if (EVP_DigestSignInit(s->sign_tmpl, &pctx, EVP_sha256(), NULL, s->key->pkey) != 1)
        return IDD_ECRYPTO;
    if (s->key->alg == IDD_ALG_RS256 && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
        return IDD_ECRYPTO;
    return 0;
}

idd_signer_t *idd_signer_new(const idd_keyring_t *kr)
{
    idd_signer_t *s = NULL;
    idd_buf_t header;
    int rc = IDD_ECRYPTO;

    idd_buf_init(&header);
    if (kr == NULL || idd_keyring_active(kr) == NULL) {
        idd_log_error("signer: no keyring, or no key in it signs");
        goto done;
    }
    s = idd_xcalloc(1, sizeof(*s));
    idd_buf_init(&s->claims);
    s->key = idd_keyring_active(kr);

    idd_buf_puts(&header, "{\"alg\":");
    idd_buf_json_str(&header, idd_alg_name(s->key->alg), strlen(idd_alg_name(s->key->alg)));
    idd_buf_puts(&header, ",\"typ\":\"JWT\",\"kid\":");
    idd_buf_json_str(&header, s->key->kid, strlen(s->key->kid));
    idd_buf_putc(&header, '}');
    s->header_b64 = idd_xmalloc(IDD_B64URL_LEN(header.len) + 1);
    s->header_b64_len = idd_b64url_encode(s->header_b64, header.data, header.len);

    if (s->key->alg == IDD_ALG_HS256)
        rc = s->key->secret != NULL ? setup_hmac(s) : IDD_ECRYPTO;
    else
        rc = s->key->pkey != NULL ? setup_digest_sign(s) : IDD_ECRYPTO;
    if (rc != 0) {
        idd_log_error("signer: cannot prepare %s signing with key %s: %s",
                      idd_alg_name(s->key->alg), s->key->kid, openssl_reason());
        goto done;
    }
    s->sig = idd_xmalloc(s->sig_max);
    /* Most tokens fit: one allocation for the life of the thread. */
    idd_buf_reserve(&s->claims, 1024);
done:
    idd_buf_dispose(&header);
    if (rc != 0) {
        idd_signer_free(s);
        s = NULL;
    }
    return s;
}

const idd_key_t *idd_signer_key(const idd_signer_t *s)
{
    return s->key;
}

void idd_signer_free(idd_signer_t *s)
{
    if (s == NULL)
        return;
    idd_hmac256_wipe(&s->hmac);
    EVP_PKEY_CTX_free(s->ecdsa);
    EVP_MD_CTX_free(s->sign_tmpl);
    EVP_MD_CTX_free(s->sign_ctx);
    if (s->sig != NULL) {
        idd_wipe(s->sig, s->sig_max);
        free(s->sig);
    }
    free(s->header_b64);
    idd_buf_dispose(&s->claims);
    free(s);
}

/* Reads one DER INTEGER of at most 32 significant bytes at *p (end: one past the input)
 * into out, left-padded with zeros to 32 bytes, and moves *p past it. */
static int der_coord(const unsigned char **p, const unsigned char *end, unsigned char *out)
{
    const unsigned char *q = *p;
    if (end - q < 2 || q[0] != 0x02 || q[1] == 0 || q[1] > ES256_COORD + 1 || end - q - 2 < q[1])
        return IDD_ECRYPTO;
    size_t len = q[1];
    q += 2;
    /* A leading zero only keeps a high bit from reading as a sign. */
    if (len == ES256_COORD + 1) {
        if (q[0] != 0)
            return IDD_ECRYPTO;
        q++;
        len--;
    }
    memset(out, 0, ES256_COORD - len);
    memcpy(out + ES256_COORD - len, q, len);
    *p = q + len;
    return 0;
}

/* Converts OpenSSL's DER ECDSA signature, SEQUENCE { INTEGER r, INTEGER s } (at most 72
 * bytes, so one length byte each), into the fixed 64-byte R‖S of RFC 7518 §3.4. */
static int ecdsa_der_to_raw(const unsigned char *der, size_t der_len, unsigned char *raw)
{
    const unsigned char *p = der, *end = der + der_len;
    if (der_len < 2 || der[0] != 0x30 || der[1] != der_len - 2)
        return IDD_ECRYPTO;
    p += 2;
    if (der_coord(&p, end, raw) != 0 || der_coord(&p, end, raw + ES256_COORD) != 0 || p != end)
        return IDD_ECRYPTO;
    return 0;
}

/* Signs tbs into s->sig; *sig_len receives the signature's length. */
static int sign(idd_signer_t *s, const unsigned char *tbs, size_t tbs_len, size_t *sig_len)
{
    size_t len = s->sig_max;

    switch (s->key->alg) {
    case IDD_ALG_HS256:
        idd_hmac256(&s->hmac, tbs, tbs_len, NULL, 0, s->sig);
        len = IDD_HMAC256_LEN;
        break;
    case IDD_ALG_ES256: {
        unsigned char der[80]; /* a P-256 DER signature is at most 72 bytes */
        unsigned char digest[IDD_HMAC256_LEN];
        size_t der_len = sizeof(der);
        idd_sha256(tbs, tbs_len, digest);
        if (EVP_PKEY_sign(s->ecdsa, der, &der_len, digest, sizeof digest) != 1)
            return IDD_ECRYPTO;
        if (s->sig_max < 2 * ES256_COORD || ecdsa_der_to_raw(der, der_len, s->sig) != 0)
            return IDD_ECRYPTO;
        len = 2 * ES256_COORD;
        break;
    }
    case IDD_ALG_RS256:
        if (!EVP_MD_CTX_copy_ex(s->sign_ctx, s->sign_tmpl) ||
            EVP_DigestSignUpdate(s->sign_ctx, tbs, tbs_len) != 1 ||
            EVP_DigestSignFinal(s->sign_ctx, s->sig, &len) != 1)
            return IDD_ECRYPTO;
        break;
    case IDD_ALG_EDDSA:
        if (EVP_DigestSignInit(s->sign_ctx, NULL, NULL, NULL, s->key->pkey) != 1 ||
            EVP_DigestSign(s->sign_ctx, s->sig, &len, tbs, tbs_len) != 1)
            return IDD_ECRYPTO;
        break;
    default:
        return IDD_ECRYPTO;
    }
    *sig_len = len;
    return 0;
}

int idd_signer_mint(idd_signer_t *s, const idd_claims_t *claims, idd_buf_t *out)
{
    int rc = IDD_ECRYPTO;
    unsigned char jti_raw[JTI_BYTES];
    char jti[IDD_B64URL_LEN(JTI_BYTES) + 1];
    size_t start = out->len;
    size_t sig_len = 0;

    if (s == NULL || claims == NULL)
        goto done;
    if (idd_rand_id(jti_raw, sizeof(jti_raw)) != 0)
        goto done;
    idd_b64url_encode(jti, jti_raw, sizeof(jti_raw));

    idd_buf_reset(&s->claims);
    idd_claims_write(claims, jti, &s->claims);

    /* Reserve the whole token at once so the signing input stays where it is. */
    idd_buf_reserve(out, s->header_b64_len + 1 + IDD_B64URL_LEN(s->claims.len) + 1 +
                             IDD_B64URL_LEN(s->sig_max));
    idd_buf_append(out, s->header_b64, s->header_b64_len);
    idd_buf_putc(out, '.');
    append_b64url(out, s->claims.data, s->claims.len);

    rc = sign(s, (const unsigned char *)out->data + start, out->len - start, &sig_len);
    if (rc != 0) {
        idd_log_error("signer: %s signature with key %s failed: %s", idd_alg_name(s->key->alg),
                      s->key->kid, openssl_reason());
        goto done;
    }
    idd_buf_putc(out, '.');
    append_b64url(out, s->sig, sig_len);
    rc = 0;
done:
    if (rc != 0 && out->data != NULL) {
        out->len = start;
        out->data[start] = '\0';
    }
    return rc;
}

static void put_str(idd_buf_t *out, const char *s)
{
    if (s == NULL)
        s = "";
    idd_buf_json_str(out, s, strlen(s));
}

/* "First Last", or just the part that is there: DocSpace's consumers show it as is, and a
 * stray space would show. */
static void put_user_name(idd_buf_t *out, const char *first, const char *last)
{
    size_t flen = first != NULL ? strlen(first) : 0;
    size_t llen = last != NULL ? strlen(last) : 0;
    char small[256];
    char *name = small;

    if (flen == 0 || llen == 0) {
        put_str(out, flen > 0 ? first : last);
        return;
    }
    if (flen + 1 + llen > sizeof(small))
        name = idd_xmalloc(flen + 1 + llen);
    memcpy(name, first, flen);
    name[flen] = ' ';
    memcpy(name + flen + 1, last, llen);
    idd_buf_json_str(out, name, flen + 1 + llen);
    if (name != small)
        free(name);
}

static void put_bool_str(idd_buf_t *out, bool v)
{
    idd_buf_puts(out, v ? "\"true\"" : "\"false\"");
}

void idd_claims_write(const idd_claims_t *claims, const char *jti, idd_buf_t *out)
{
    /* DocSpace's order and types: every claim a string except exp and iat. */
    idd_buf_puts(out, "{\"sub\":");
    put_str(out, claims->user_id);
    idd_buf_puts(out, ",\"user_id\":");
    put_str(out, claims->user_id);
    idd_buf_puts(out, ",\"user_name\":");
    put_user_name(out, claims->first_name, claims->last_name);
    idd_buf_puts(out, ",\"user_email\":");
    put_str(out, claims->email);
    idd_buf_puts(out, ",\"tenant_id\":\"");
    idd_buf_json_int(out, claims->tenant_id);
    idd_buf_puts(out, "\",\"tenant_url\":");
    put_str(out, claims->tenant_url);
    idd_buf_puts(out, ",\"is_admin\":");
    put_bool_str(out, claims->is_admin);
    idd_buf_puts(out, ",\"is_guest\":");
    put_bool_str(out, claims->is_guest);
    idd_buf_puts(out, ",\"is_public\":");
    put_bool_str(out, claims->is_public);
    idd_buf_puts(out, ",\"iss\":");
    put_str(out, claims->tenant_url);
    idd_buf_puts(out, ",\"aud\":");
    put_str(out, claims->tenant_url);
    idd_buf_puts(out, ",\"exp\":");
    idd_buf_json_int(out, claims->exp);
    idd_buf_puts(out, ",\"iat\":");
    idd_buf_json_int(out, claims->iat);
    if (jti != NULL) {
        idd_buf_puts(out, ",\"jti\":");
        put_str(out, jti);
    }
    idd_buf_putc(out, '}');
}
