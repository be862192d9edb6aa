/*
 * The formats of the credentials and key settings a client sends: an API key's shape
 * (cred/apikey.c, idd_apikey_well_formed), a new key's name and permissions (the rules
 * POST /api/2.0/keys applies), the scopes a key's permissions grant, and the scope check
 * every route makes (auth/auth.c, idd_scopes_allow). A session token's shape is checked by a
 * static function of auth/session.c on the request itself (43 base64url characters, then a
 * digest lookup); it is the same alphabet test as the JWT classification that
 * fuzz_credential covers.
 *
 * Input: pieces separated by newlines: a key, a name, then permissions to add.
 *
 * Promises checked: a well-formed key is "sk-" and 64 lowercase hex; an accepted name is
 * 1..30 characters with no byte below 0x20 or DEL; the permission list stays NUL-terminated
 * within its size and holds only known names; the scopes are cut within their buffer.
 */
#include <string.h>

#include "identityd/auth/auth.h"
#include "identityd/cred/apikey.h"

#include "fuzz.h"

static void check_key(const char *k, size_t len)
{
    if (!idd_apikey_well_formed(k, len))
        return;
    FUZZ_CHECK(len == IDD_APIKEY_LEN && memcmp(k, "sk-", 3) == 0);
    for (size_t i = 3; i < len; i++)
        FUZZ_CHECK((k[i] >= '0' && k[i] <= '9') || (k[i] >= 'a' && k[i] <= 'f'));
}

static void check_name(const char *n, size_t len)
{
    if (idd_apikey_check_name(n, len) != NULL)
        return;
    size_t chars = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)n[i];
        FUZZ_CHECK(c >= 0x20 && c != 0x7f);
        chars += (c & 0xc0) != 0x80;
    }
    FUZZ_CHECK(chars >= 1 && chars <= IDD_APIKEY_NAME_CHARS_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    char list[48] = "";
    size_t piece = 0;
    while (p <= end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        size_t len = (size_t)(stop - p);
        if (piece == 0) {
            check_key(p, len);
        } else if (piece == 1) {
            check_name(p, len);
        } else {
            const char *why = idd_apikey_permissions_add(list, sizeof(list), p, len);
            FUZZ_CHECK(memchr(list, '\0', sizeof(list)) != NULL);
            if (why == NULL) {
                bool known = false;
                for (size_t i = 0; i < idd_apikey_permissions_count; i++)
                    known = known || (strlen(idd_apikey_permissions[i]) == len &&
                                      memcmp(idd_apikey_permissions[i], p, len) == 0);
                FUZZ_CHECK(known);
            }
        }
        piece++;
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    char scopes[16];
    idd_apikey_scopes(list, scopes, sizeof(scopes));
    FUZZ_CHECK(strlen(scopes) < sizeof(scopes));
    /* The whole input as a permission list and as a scope asked for. */
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char big[256];
    idd_apikey_scopes(text, big, sizeof(big));
    FUZZ_CHECK(strlen(big) < sizeof(big));
    (void)idd_scopes_allow(big, text);
    (void)idd_scopes_allow(text, "accounts.self:read");
    free(text);
    return 0;
}
