/*
 * The OpenID discovery document reader (auth/oidc_authority.c, idd_oidc_discovery_parse):
 * the JSON an authority answers for {authority}/.well-known/openid-configuration, fetched
 * over the network and trusted for where identityd then fetches keys and asks about tokens.
 *
 * Input: one selector byte (bit 0: allow_http), then the document, read for the authority
 * https://issuer.example/realm.
 *
 * Promises checked: an accepted document names that very authority as its issuer (one
 * trailing slash aside) and has a jwks_uri; its endpoints are https:// (or http:// with
 * allow_http); every string is NUL-terminated and owned by the
 * result; a refused document leaves nothing behind and says why.
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "auth/oidc_internal.h"
#include "identityd/core/common.h"

#include "fuzz.h"

#define AUTHORITY "https://issuer.example/realm"

static bool fetchable(const char *url, bool allow_http)
{
    return strncasecmp(url, "https://", 8) == 0 ||
           (allow_http && strncasecmp(url, "http://", 7) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool allow_http = (data[0] & 1) != 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    idd_oidc_discovery_t d;
    char err[256] = "";
    memset(&d, 0xa5, sizeof(d));
    int rc = idd_oidc_discovery_parse(AUTHORITY, allow_http, body, len, &d, err, sizeof(err));
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
    FUZZ_CHECK(fetchable(d.jwks_uri, allow_http));
    FUZZ_CHECK(d.introspection_endpoint == NULL || fetchable(d.introspection_endpoint, allow_http));
    /* The strings are the result's own (ASan reports a read of freed or foreign memory). */
    FUZZ_CHECK(strlen(d.jwks_uri) < len);
    if (d.introspection_endpoint != NULL)
        FUZZ_CHECK(strlen(d.introspection_endpoint) < len);
    idd_oidc_discovery_dispose(&d);
    FUZZ_CHECK(d.issuer == NULL && d.jwks_uri == NULL && d.introspection_endpoint == NULL);
    return 0;
}
