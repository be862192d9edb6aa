/*
 * API key values, digests, the permission vocabulary and the rules for a key's name,
 * permissions and expiry (see apikey.h).
 */
#include "identityd/cred/apikey.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/utf8.h"
#include "identityd/cred/digest.h"

const char *const idd_apikey_permissions[] = {
    "*",
    "*:read",
    "*:write",
    "accounts:read",
    "accounts:write",
    "accounts.self:read",
    "accounts.self:write",
    "files:read",
    "files:write",
    "rooms:read",
    "rooms:write",
};
const size_t idd_apikey_permissions_count = IDD_ARRAY_LEN(idd_apikey_permissions);

int idd_apikey_generate(char out[IDD_APIKEY_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return IDD_ECRYPTO;
    memcpy(out, IDD_APIKEY_PREFIX, 3);
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[3 + 2 * i] = hex[raw[i] >> 4];
        out[4 + 2 * i] = hex[raw[i] & 15];
    }
    out[IDD_APIKEY_LEN] = '\0';
    idd_wipe(raw, sizeof(raw));
    return 0;
}

bool idd_apikey_well_formed(const char *key, size_t len)
{
    if (len != IDD_APIKEY_LEN || memcmp(key, IDD_APIKEY_PREFIX, 3) != 0)
        return false;
    for (size_t i = 3; i < len; i++)
        if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
            return false;
    return true;
}

int idd_apikey_digest(const idd_pepper_t *pepper, const char *key, size_t len,
                      unsigned char out[IDD_SESSION_DIGEST_LEN])
{
    if (len > IDD_APIKEY_LEN)
        return IDD_EINVAL;
    return idd_keyed_digest(pepper, IDD_DIGEST_LABEL_APIKEY, key, len, out);
}

/* Whether cp shows as nothing but space: Unicode's White_Space characters that are not
 * control characters (those are refused on their own), and the zero-width characters that
 * render as nothing at all. */
static bool blank_char(uint32_t cp)
{
    switch (cp) {
    case 0x0020: /* space */
    case 0x00a0: /* no-break space */
    case 0x1680: /* ogham space mark */
    case 0x180e: /* Mongolian vowel separator */
    case 0x2028: /* line separator */
    case 0x2029: /* paragraph separator */
    case 0x202f: /* narrow no-break space */
    case 0x205f: /* medium mathematical space */
    case 0x2060: /* word joiner */
    case 0x3000: /* ideographic space */
    case 0xfeff: /* zero-width no-break space */
        return true;
    default:
        /* En quad to hair space, then zero-width space, non-joiner and joiner. */
        return cp >= 0x2000 && cp <= 0x200d;
    }
}

const char *idd_apikey_check_name(const char *name, size_t len)
{
    size_t chars = 0;
    bool blank = true;

    if (name == NULL)
        return "name is required";
    for (size_t i = 0; i < len;) {
        uint32_t cp = 0;
        size_t n = idd_utf8_decode(name + i, len - i, &cp);
        if (n == 0)
            return "name must be UTF-8 text";
        if (idd_utf8_is_control(cp))
            return "name must not contain control characters";
        blank = blank && blank_char(cp);
        chars++;
        i += n;
    }
    if (chars == 0 || chars > IDD_APIKEY_NAME_CHARS_MAX)
        return "name must be 1 to 30 characters";
    if (blank)
        return "name must not be blank";
    return NULL;
}

/* Whether name[0..len) is one of idd_apikey_permissions. */
static bool permission_known(const char *name, size_t len)
{
    for (size_t i = 0; i < idd_apikey_permissions_count; i++)
        if (strlen(idd_apikey_permissions[i]) == len &&
            memcmp(idd_apikey_permissions[i], name, len) == 0)
            return true;
    return false;
}

const char *idd_apikey_permissions_add(char *list, size_t size, const char *name, size_t len)
{
    if (list == NULL || size == 0)
        return "too many permissions";
    if (name == NULL || !permission_known(name, len))
        return "unknown permission";
    size_t used = strnlen(list, size);
    if (used == size) /* not terminated: treat as full rather than read past it */
        return "too many permissions";
    for (const char *p = list; *p != '\0';) {
        size_t n = strcspn(p, " ");
        if (n == len && memcmp(p, name, len) == 0)
            return NULL;
        p += n;
        p += strspn(p, " ");
    }
    size_t sep = used > 0 ? 1 : 0;
    if (len >= size - used - sep)
        return "too many permissions";
    if (sep)
        list[used++] = ' ';
    memcpy(list + used, name, len);
    list[used + len] = '\0';
    return NULL;
}

const char *idd_apikey_check_expiry_days(int64_t days)
{
    if (days < 1 || days > IDD_APIKEY_EXPIRES_DAYS_MAX)
        return "expiry must be 1 to 365 days";
    return NULL;
}

void idd_apikey_scopes(const char *permissions, char *out, size_t outlen)
{
    const char *p = permissions;
    while (*p == ' ')
        p++;
    /* No permission, or "*" among them, is full access, as DocSpace grants it. */
    bool full = *p == '\0';
    for (const char *q = p; *q != '\0' && !full;) {
        const char *end = strchr(q, ' ');
        size_t n = end ? (size_t)(end - q) : strlen(q);
        full = n == 1 && q[0] == '*';
        q += n;
        while (*q == ' ')
            q++;
    }
    /* Every request with an API key comes here: a bounded copy, cut as snprintf would. */
    const char *scopes = full ? "*:write" : p;
    if (outlen == 0)
        return;
    size_t n = strnlen(scopes, outlen - 1);
    memcpy(out, scopes, n);
    out[n] = '\0';
}

void idd_apikey_limit_message(int max, char *out, size_t outlen)
{
    snprintf(out, outlen,
             "API key limit reached: a user may hold at most %d API keys; delete one that is "
             "no longer needed first",
             max);
}
