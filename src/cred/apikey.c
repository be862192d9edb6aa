/*
 * API key values, digests and the permission vocabulary (see apikey.h).
 */
#include "identityd/cred/apikey.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"
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

bool idd_apikey_permission_known(const char *name, size_t len)
{
    for (size_t i = 0; i < idd_apikey_permissions_count; i++)
        if (strlen(idd_apikey_permissions[i]) == len && memcmp(idd_apikey_permissions[i], name, len) == 0)
            return true;
    return false;
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
    snprintf(out, outlen, "%s", full ? "*:write" : p);
}
