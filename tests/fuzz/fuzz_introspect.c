/*
 * The RFC 7662 introspection answer reader (auth/oidc_introspect.c,
 * idd_oidc_introspection_read): the authority's verdict on an opaque (or JWT) access token,
 * which alone decides whether the token is accepted and for how long that is remembered.
 *
 * Input: one selector byte (bit 0: the token is a JWT; bits 1-2: the HTTP status, 200, 400,
 * 401 or 200; bit 3: the token must name one of two configured audiences rather than the
 * tenant's URL), then the answer's body.
 *
 * Promises checked, against a reading of the body of the target's own: a token is accepted
 * only from a 200 JSON object whose "active" is true and whose exp, nbf, iss and aud, where
 * present, hold; then the verdict is kept no longer than cache_ttl nor past exp, and the
 * identity's strings are NUL-terminated, its scopes only identityd's. Anything else is
 * refused with nothing of the answer kept, cached for negative_ttl when it was a readable
 * "no", and not at all otherwise.
 */
#include <jansson.h>
#include <string.h>

#include "auth/oidc_internal.h"

#include "fuzz.h"

#define ISSUER "https://issuer.example"
#define NOW 1800000000
#define SKEW 120

static bool names_audience(json_t *aud, const char *const *audiences, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (json_is_string(aud) && strcmp(json_string_value(aud), audiences[i]) == 0)
            return true;
        size_t j;
        json_t *v;
        json_array_foreach(aud, j, v)
        {
            if (json_is_string(v) && strcmp(json_string_value(v), audiences[i]) == 0)
                return true;
        }
    }
    return false;
}

/* Each word of a mapped scope list is *:read, *:write or a resource's :read or :write. */
static bool scopes_ok(const char *s)
{
    while (*s != '\0') {
        size_t n = strcspn(s, " ");
        if (n == 0 || n >= 64)
            return false;
        bool read = n > 5 && memcmp(s + n - 5, ":read", 5) == 0;
        bool write = n > 6 && memcmp(s + n - 6, ":write", 6) == 0;
        if (!read && !write)
            return false;
        s += n;
        if (*s == ' ')
            s++;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const long statuses[] = {200, 400, 401, 200};
    static const char *const configured[] = {"identityd", "https://api.example"};
    static const char *const tenant[] = {"https://docspace.example"};
    idd_oidc_config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.clock_skew = SKEW;
    cfg.cache_ttl = 60;
    cfg.negative_ttl = 5;
    bool configured_aud = (data[0] & 8) != 0;
    idd_introspection_rules_t rules = {
        .cfg = &cfg,
        .issuer = ISSUER,
        .audiences = configured_aud ? configured : tenant,
        .n_aud = configured_aud ? 2 : 1,
        .now = NOW,
        .is_jwt = (data[0] & 1) != 0,
    };
    long status = statuses[(data[0] >> 1) & 3];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;

    identity_t who, none;
    int64_t cache_for_ms = 12345;
    memset(&who, 0xa5, sizeof(who));
    memset(&none, 0, sizeof(none));
    idd_introspection_verdict_t v =
        idd_oidc_introspection_read(&rules, status, body, len, &who, &cache_for_ms);

    json_t *doc = json_loadb(body, len, 0, NULL);
    switch (v) {
    case IDD_INTROSPECTION_ACTIVE: {
        FUZZ_CHECK(status == 200 && json_is_object(doc));
        FUZZ_CHECK(json_is_true(json_object_get(doc, "active")));
        json_t *exp = json_object_get(doc, "exp");
        FUZZ_CHECK(exp == NULL || (json_is_number(exp) && json_number_value(exp) + SKEW > NOW));
        json_t *nbf = json_object_get(doc, "nbf");
        FUZZ_CHECK(nbf == NULL || (json_is_number(nbf) && json_number_value(nbf) <= NOW + SKEW));
        json_t *iss = json_object_get(doc, "iss");
        FUZZ_CHECK(iss == NULL ||
                   (json_is_string(iss) && strcmp(json_string_value(iss), ISSUER) == 0));
        json_t *aud = json_object_get(doc, "aud");
        FUZZ_CHECK(aud == NULL || names_audience(aud, rules.audiences, rules.n_aud));
        /* Kept no longer than cache_ttl, and not past exp. */
        FUZZ_CHECK(cache_for_ms <= (int64_t)cfg.cache_ttl * 1000);
        if (exp != NULL)
            FUZZ_CHECK((double)cache_for_ms <= (json_number_value(exp) - NOW) * 1000 + 1000);
        FUZZ_CHECK(memchr(who.sub, '\0', sizeof(who.sub)) != NULL);
        FUZZ_CHECK(memchr(who.email, '\0', sizeof(who.email)) != NULL);
        FUZZ_CHECK(memchr(who.scopes, '\0', sizeof(who.scopes)) != NULL);
        FUZZ_CHECK(scopes_ok(who.scopes));
        json_t *sub = json_object_get(doc, "sub");
        if (json_is_string(sub) && json_string_length(sub) < sizeof(who.sub))
            FUZZ_CHECK(strcmp(who.sub, json_string_value(sub)) == 0);
        else
            FUZZ_CHECK(who.sub[0] == '\0');
        break;
    }
    case IDD_INTROSPECTION_INACTIVE:
        FUZZ_CHECK(status == 200 && json_is_object(doc));
        FUZZ_CHECK(cache_for_ms == (int64_t)cfg.negative_ttl * 1000);
        FUZZ_CHECK(memcmp(&who, &none, sizeof(who)) == 0);
        break;
    case IDD_INTROSPECTION_JWT_REFUSED:
        FUZZ_CHECK(status == 400 && rules.is_jwt && json_is_object(doc));
        FUZZ_CHECK(cache_for_ms <= 0 && memcmp(&who, &none, sizeof(who)) == 0);
        break;
    case IDD_INTROSPECTION_UNREADABLE:
        FUZZ_CHECK(status != 200 || !json_is_object(doc));
        FUZZ_CHECK(cache_for_ms <= 0 && memcmp(&who, &none, sizeof(who)) == 0);
        break;
    default:
        FUZZ_CHECK(!"a verdict outside the enumeration");
    }
    json_decref(doc);
    return 0;
}
