/*
 * The keyed digest of credentials (see digest.h), through OpenSSL's EVP_MAC so that the label
 * and the credential are fed in turn and the credential is never copied into a scratch buffer
 * that would need wiping.
 */
#include "identityd/cred/digest.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <string.h>

#include "identityd/core/common.h"

int idd_keyed_digest(const idd_pepper_t *pepper, const char *label, const void *data, size_t len,
                     unsigned char out[IDD_SESSION_DIGEST_LEN])
{
    char sha256[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, sha256, 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *ctx = NULL;
    size_t outlen = 0;
    int rc = IDD_ECRYPTO;

    memset(out, 0, IDD_SESSION_DIGEST_LEN);
    if (pepper == NULL || pepper->len == 0 || pepper->len > sizeof(pepper->bytes) ||
        (data == NULL && len > 0))
        return IDD_EINVAL;
    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    if (ctx == NULL || !EVP_MAC_init(ctx, pepper->bytes, pepper->len, params))
        goto done;
    if (label != NULL && label[0] != '\0' &&
        !EVP_MAC_update(ctx, (const unsigned char *)label, strlen(label)))
        goto done;
    if (len > 0 && !EVP_MAC_update(ctx, data, len))
        goto done;
    if (!EVP_MAC_final(ctx, out, &outlen, IDD_SESSION_DIGEST_LEN) ||
        outlen != IDD_SESSION_DIGEST_LEN)
        goto done;
    rc = 0;

done:
    if (rc != 0)
        memset(out, 0, IDD_SESSION_DIGEST_LEN);
    /* Freeing the context cleanses the keyed state it holds. */
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return rc;
}
