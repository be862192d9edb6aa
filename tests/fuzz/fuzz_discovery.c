/*
 * The OpenID discovery document reader (auth/oidc_authority.c, idd_oidc_discovery_parse):
 * the JSON an authority answers for {authority}/.well-known/openid-configuration, fetched
 * over the network and trusted for where identityd then fetches keys and asks about tokens.
 *
 * Input: the document, read for the authority https://issuer.example/realm.
 *
 * Promises checked: an accepted document names that very authority as its issuer (one
 * trailing slash aside) and has a jwks_uri; every string is NUL-terminated and owned by the
 * result; a refused document leaves nothing behind and says why.
 */
#include <string.h>

#include "auth/oidc_internal.h"
#include "identityd/core/common.h"

#include "fuzz.h"

#define AUTHORITY "https://issuer.example/realm"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    idd_oidc_discovery_t d;
    char err[256] = "";
    memset(&d, 0xa5, sizeof(d));
    int rc = idd_oidc_discovery_parse(AUTHORITY, (const char *)data, size, &d, err, sizeof(err));
    if (rc != 0) {
        FUZZ_CHECK(rc == IDD_ECONFIG);
        FUZZ_CHECK(d.issuer == NULL && d.jwks_uri == NULL && d.introspection_endpoint == NULL);
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
        return 0;
    }
    FUZZ_CHECK(d.issuer != NULL && d.jwks_uri != NULL);
    size_t n = strlen(d.issuer);
    FUZZ_CHECK(n == strlen(AUTHORITY) || (n == strlen(AUTHORITY) + 1 && d.issuer[n - 1] == '/'));
    FUZZ_CHECK(memcmp(d.issuer, AUTHORITY, strlen(AUTHORITY)) == 0);
    /* The strings are the result's own (ASan reports a read of freed or foreign memory). */
    FUZZ_CHECK(strlen(d.jwks_uri) < size);
    if (d.introspection_endpoint != NULL)
        FUZZ_CHECK(strlen(d.introspection_endpoint) < size);
    idd_oidc_discovery_dispose(&d);
    FUZZ_CHECK(d.issuer == NULL && d.jwks_uri == NULL && d.introspection_endpoint == NULL);
    return 0;
}
