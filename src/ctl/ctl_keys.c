/*
 * identityctl's API key commands (see ctl.h): create a key that acts as a user, list keys,
 * revoke one. The rules for the name, the permissions and the expiry are the ones POST
 * /api/2.0/keys applies, taken from cred (apikey.h) and reported in the same words: a name of
 * 1 to 30 characters, not blank, without control characters; permissions from the known list
 * (none means full access); an expiry of 1 to 365 days or none. Guests get no keys.
 *
 * A key is a bearer credential. It is printed once, when it is made, and written straight
 * to the file descriptor rather than through stdio so that no copy stays behind in a FILE
 * buffer; the store keeps only its digest under the configured pepper and its last four
 * characters, which is all a listing shows ("sk-***abcd").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "identityd/cred/apikey.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/utf8.h"
#include "identityd/cred/password.h"

#define SECONDS_PER_DAY 86400
#define POSTFIX_LEN 4
#define MASKED_PREFIX "sk-***"
#define NAME_COLUMN 30 /* characters, the longest name */

/* Checks --name by the name rule. */
static int check_key_name(const char *name)
{
    const char *problem = idd_apikey_check_name(name, strlen(name));
    if (problem == NULL)
        return 0;
    fprintf(stderr, "identityctl: %s\n", problem);
    return IDD_EINVAL;
}

static void print_known_permissions(void)
{
    fputs("known permissions:", stderr);
    for (size_t i = 0; i < idd_apikey_permissions_count; i++)
        fprintf(stderr, "%s %s", i > 0 ? "," : "", idd_apikey_permissions[i]);
    fputc('\n', stderr);
}

/* Turns --permissions P,... (text; NULL when not given) into the space-separated list the
 * store takes, in out (size bytes): each item trimmed of spaces, then added by the permission
 * rule (known names only, a repeated one kept once, in the order first given). An empty item
 * is refused rather than skipped: "files:read,,rooms:read" is more likely a mistake than a
 * list of two. No permissions at all means full access, as in DocSpace. */
static int parse_permissions(const char *text, char *out, size_t size)
{
    out[0] = '\0';
    if (text == NULL)
        return 0;
    for (const char *p = text;;) {
        size_t n = strcspn(p, ",");
        const char *item = p + strspn(p, " ");
        size_t len = n - (size_t)(item - p);
        while (len > 0 && item[len - 1] == ' ')
            len--;
        if (len == 0) {
            fputs("identityctl: --permissions has an empty item (give P1,P2,...)\n", stderr);
            return IDD_EINVAL;
        }
        const char *problem = idd_apikey_permissions_add(out, size, item, len);
        if (problem != NULL) {
            fprintf(stderr, "identityctl: %s \"%.*s\"\n", problem, (int)len, item);
            print_known_permissions();
            return IDD_EINVAL;
        }
        if (p[n] == '\0')
            return 0;
        p += n + 1;
    }
}

/* Parses --expires-days: a whole number of days, then the expiry rule. A number too large
 * for strtoll arrives clamped, and the rule refuses it like any other out of range. */
static int parse_days(const char *text, int64_t *days)
{
    char *end = NULL;
    long long n;

    errno = 0;
    n = strtoll(text, &end, 10);
    if ((errno != 0 && errno != ERANGE) || end == text || *end != '\0') {
        fprintf(stderr, "identityctl: --expires-days expects a whole number of days, not \"%s\"\n",
                text);
        return IDD_EINVAL;
    }
    const char *problem = idd_apikey_check_expiry_days((int64_t)n);
    if (problem != NULL) {
        fprintf(stderr, "identityctl: %s\n", problem);
        return IDD_EINVAL;
    }
    *days = (int64_t)n;
    return 0;
}

/* Writes all len bytes of buf to fd, going on after a short write or a signal. Returns 0 or
 * IDD_EIO (errno tells why). */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return IDD_EIO;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Prints the key to stdout, alone on its line, and takes it back out of the store if that
 * fails: a live key that nobody has seen can only be found by someone else. */
static int hand_out(idd_store_t *store, const idd_apikey_t *key, char *secret)
{
    int rc;

    secret[IDD_APIKEY_LEN] = '\n';
    (void)fflush(stdout); /* what was printed first comes first; write_all reports failure */
    rc = write_all(STDOUT_FILENO, secret, IDD_APIKEY_LEN + 1);
    if (rc != 0) {
        fprintf(stderr, "identityctl: writing the key to stdout: %s; the key was not kept\n",
                strerror(errno));
        idd_store_apikey_delete(store, key->id);
    }
    return rc;
}

int idd_ctl_apikey_create(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    (void)variant;
    int rc = IDD_EINVAL;
    idd_store_t *store = NULL;
    idd_user_t user;
    idd_apikey_t key;
    idd_pepper_t pepper;
    /* The key, and room for the newline it is printed with. */
    char secret[IDD_APIKEY_LEN + 2];
    char err[256] = "";
    char expires[21] = "never";
    const char *name = args->values[OPT_NAME];
    int64_t days = 0;

    memset(&user, 0, sizeof(user));
    memset(&key, 0, sizeof(key));
    memset(&pepper, 0, sizeof(pepper));
    memset(secret, 0, sizeof(secret));
    /* The command line is checked whole before the database is opened. */
    rc = check_key_name(name);
    if (rc == 0)
        rc = parse_permissions(args->values[OPT_PERMISSIONS], key.permissions,
                               sizeof(key.permissions));
    if (rc == 0 && args->values[OPT_EXPIRES_DAYS] != NULL)
        rc = parse_days(args->values[OPT_EXPIRES_DAYS], &days);
    if (rc == 0)
        rc = idd_ctl_lookup_user(args, cfg, &store, &user);
    if (rc != 0)
        goto done;
    /* DocSpace refuses guests a key. A disabled user's key would be refused on every
     * request, and would come alive unnoticed if the user were enabled again. */
    if (user.role == IDD_ROLE_GUEST || user.status != IDD_USER_ACTIVE) {
        fprintf(stderr, "identityctl: %s is %s and cannot have API keys\n", user.email,
                user.role == IDD_ROLE_GUEST ? "a guest" : "disabled");
        rc = IDD_EDENIED;
        goto done;
    }
    rc = idd_pepper_load(cfg->pepper_file, &pepper, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "identityctl: %s\n", err[0] ? err : idd_strerror(rc));
        goto done;
    }
    rc = idd_apikey_generate(secret);
    if (rc == 0)
        rc = idd_apikey_digest(&pepper, secret, IDD_APIKEY_LEN, key.digest);
    if (rc != 0) {
        fprintf(stderr, "identityctl: making the key: %s\n", idd_strerror(rc));
        goto done;
    }
    key.tenant_id = user.tenant_id;
    memcpy(key.created_by, user.id, sizeof(key.created_by));
    snprintf(key.name, sizeof(key.name), "%s", name);
    memcpy(key.postfix, secret + IDD_APIKEY_LEN - POSTFIX_LEN, POSTFIX_LEN);
    key.postfix[POSTFIX_LEN] = '\0';
    key.created = idd_now();
    if (days > 0) {
        key.expires = key.created + days * SECONDS_PER_DAY;
        idd_format_iso8601(key.expires, expires);
    }
    rc = idd_store_apikey_create_capped(store, &key, cfg->apikeys_max_per_user);
    if (rc == IDD_EDENIED) {
        char message[IDD_APIKEY_LIMIT_MESSAGE_MAX];
        idd_apikey_limit_message(cfg->apikeys_max_per_user, message, sizeof(message));
        fprintf(stderr, "identityctl: %s\n", message);
        goto done;
    }
    if (rc != 0) {
        fprintf(stderr, "identityctl: storing the key: %s\n", idd_strerror(rc));
        goto done;
    }
    rc = hand_out(store, &key, secret);
    if (rc != 0)
        goto done;
    fprintf(stderr,
            "identityctl: created API key %s (%s%s) for %s, expires: %s. The key is shown "
            "only this once: store it now.\n",
            key.id, MASKED_PREFIX, key.postfix, user.email, expires);

done:
    idd_wipe(secret, sizeof(secret));
    idd_wipe(&key, sizeof(key));
    idd_wipe(&user, sizeof(user));
    idd_pepper_wipe(&pepper);
    idd_store_free(store);
    return rc;
}

/* Copies text into out (size bytes) for a terminal: well-formed UTF-8 stays (names are
 * often not ASCII), while control characters and bytes that are not UTF-8 become '?'. Keys
 * made through the API carry names a client chose, and an escape sequence printed raw could
 * rewrite or hide what the administrator sees. Returns the number of characters written. */
static size_t displayable(const char *text, char *out, size_t size)
{
    size_t len = strlen(text), used = 0, chars = 0;

    for (size_t i = 0; i < len;) {
        uint32_t cp = 0;
        size_t n = idd_utf8_decode(text + i, len - i, &cp);
        bool keep = n > 0 && !idd_utf8_is_control(cp);
        size_t width = keep ? n : 1;
        if (used + width >= size)
            break;
        if (keep)
            memcpy(out + used, text + i, n);
        else
            out[used] = '?';
        used += width;
        i += n > 0 ? n : 1;
        chars++;
    }
    out[used] = '\0';
    return chars;
}

/* What a listing needs besides the key itself. */
typedef struct key_listing {
    idd_store_t *store;
    const idd_user_t *owner; /* when listing one user's keys; else looked up per key */
} key_listing_t;

static int print_key_row(const idd_apikey_t *key, void *arg)
{
    const key_listing_t *l = arg;
    idd_user_t creator;
    char email[IDD_EMAIL_MAX + 1] = "?";
    char name[IDD_APIKEY_NAME_MAX + 1];
    char permissions[IDD_APIKEY_PERMISSIONS_MAX + 1];
    char created[21], expires[21] = "never", last_used[21] = "never";
    size_t name_chars;

    memset(&creator, 0, sizeof(creator));
    if (l->owner != NULL) {
        snprintf(email, sizeof(email), "%s", l->owner->email);
    } else if (idd_store_user_by_id(l->store, key->created_by, &creator) == 0) {
        snprintf(email, sizeof(email), "%s", creator.email);
    }
    idd_wipe(&creator, sizeof(creator));
    name_chars = displayable(key->name, name, sizeof(name));
    /* Shown as --permissions takes them, so the columns stay free of spaces; no permission
     * is full access. */
    displayable(key->permissions[0] != '\0' ? key->permissions : "*", permissions,
                sizeof(permissions));
    for (char *c = permissions; *c != '\0'; c++) {
        if (*c == ' ')
            *c = ',';
    }
    idd_format_iso8601(key->created, created);
    if (key->expires != 0)
        idd_format_iso8601(key->expires, expires);
    if (key->last_used != 0)
        idd_format_iso8601(key->last_used, last_used);
    /* printf pads by bytes; the name is padded by characters so that the columns after it
     * stay aligned whatever script it is written in. */
    printf("%-36s  %-32s  %s%*s  %s%-4s  %-24s  %-20s  %-20s  %-20s  %s\n", key->id, email, name,
           name_chars < NAME_COLUMN ? (int)(NAME_COLUMN - name_chars) : 0, "", MASKED_PREFIX,
           key->postfix, permissions, created, expires, last_used,
           key->active                              ? "yes"
           : key->deactivated == IDD_APIKEY_REVOKED ? "revoked"
                                                    : "no");
    return 0;
}

int idd_ctl_apikey_list(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    (void)variant;
    int rc = IDD_EINVAL;
    idd_store_t *store = NULL;
    idd_user_t owner;
    key_listing_t listing = {NULL, NULL};
    int64_t tenant_id = 0;

    memset(&owner, 0, sizeof(owner));
    if (args->n_positional > 0) {
        rc = idd_ctl_lookup_user(args, cfg, &store, &owner);
        tenant_id = owner.tenant_id;
        listing.owner = &owner;
    } else {
        rc = idd_ctl_resolve_tenant(args, cfg, &tenant_id);
        if (rc == 0)
            rc = idd_ctl_open_store(cfg, false, &store, NULL, NULL);
    }
    if (rc != 0)
        goto done;
    listing.store = store;
    printf("%-36s  %-32s  %-30s  %-10s  %-24s  %-20s  %-20s  %-20s  %s\n", "ID", "OWNER", "NAME",
           "KEY", "PERMISSIONS", "CREATED", "EXPIRES", "LAST USED", "ACTIVE");
    rc = idd_store_apikey_list(store, tenant_id, listing.owner != NULL ? owner.id : NULL,
                               print_key_row, &listing);
    if (rc != 0)
        fprintf(stderr, "identityctl: listing API keys: %s\n", idd_strerror(rc));

done:
    idd_wipe(&owner, sizeof(owner));
    idd_store_free(store);
    return rc;
}

/* Copies an API key id as `apikey list` shows it (a GUID, taken in either case) into id in
 * lowercase, the form the store keeps. */
static int parse_key_id(const char *text, char id[IDD_GUID_LEN + 1])
{
    size_t len = strlen(text);
    bool ok = len == IDD_GUID_LEN;

    for (size_t i = 0; ok && i < len; i++) {
        char c = text[i];
        if (i == 8 || i == 13 || i == 18 || i == 23)
            ok = c == '-';
        else
            ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        id[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
    }
    if (!ok) {
        fprintf(stderr,
                "identityctl: an API key id is a GUID as 'apikey list' shows it, not "
                "\"%s\"\n",
                text);
        return IDD_EINVAL;
    }
    id[IDD_GUID_LEN] = '\0';
    return 0;
}

/* apikey revoke ID: revokes the key for good: nobody can activate it again through the API,
 * its owner or an admin. A key that was only deactivated is revoked too. The row stays, so
 * the key is recognised as revoked if it is presented again, and listings show it. */
int idd_ctl_apikey_revoke(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    (void)variant;
    int rc = IDD_EINVAL;
    idd_store_t *store = NULL;
    idd_apikey_t key;
    char id[IDD_GUID_LEN + 1];

    memset(&key, 0, sizeof(key));
    rc = parse_key_id(args->positional[0], id);
    if (rc == 0)
        rc = idd_ctl_open_store(cfg, false, &store, NULL, NULL);
    if (rc != 0)
        goto done;
    /* Looked up first so that a key revoked before is reported as such rather than as
     * revoked now. */
    rc = idd_store_apikey_by_id(store, id, &key);
    bool was_revoked = rc == 0 && key.deactivated == IDD_APIKEY_REVOKED;
    if (rc == 0 && !was_revoked)
        rc = idd_store_apikey_set_active(store, id, 0, IDD_APIKEY_REVOKED, NULL);
    if (rc == IDD_ENOTFOUND) {
        fprintf(stderr, "identityctl: no API key %s\n", id);
        goto done;
    }
    if (rc != 0) {
        fprintf(stderr, "identityctl: revoking API key %s: %s\n", id, idd_strerror(rc));
        goto done;
    }
    if (!was_revoked)
        printf("revoked API key %s (%s%s)\n", id, MASKED_PREFIX, key.postfix);
    else
        printf("API key %s had already been revoked: nothing changed\n", id);

done:
    idd_wipe(&key, sizeof(key));
    idd_store_free(store);
    return rc;
}
