/*
 * identityctl's two-factor commands (see ctl.h): unlink a user's authenticator app, and turn
 * a tenant's two-factor sign-in on or off or show it. Every operand is checked before the
 * database is written, so a refused command changes nothing. Trusted addresses are checked by
 * the one rule the server uses (idd_ip_list_check); mandatory users are named by email here
 * and stored as their ids, as the store keeps them.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "identityd/core/cidr.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"

/* user tfa reset EMAIL: unlinks the app and ends the user's sessions, so that the next
 * sign-in starts a new activation and no session outlives the binding it was made with. */
int idd_ctl_user_tfa_reset(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    (void)variant;
    int rc = IDD_EINVAL;
    idd_store_t *store = NULL;
    idd_user_t user;
    int count = 0;

    memset(&user, 0, sizeof(user));
    rc = idd_ctl_lookup_user(args, cfg, &store, &user);
    if (rc != 0)
        goto done;
    rc = idd_store_tfa_delete(store, user.id);
    if (rc == IDD_ENOTFOUND) {
        /* Nothing to undo: the user's sessions are left alone. */
        printf("%s has no two-factor app linked\n", user.email);
        rc = 0;
        goto done;
    }
    if (rc != 0) {
        fprintf(stderr, "identityctl: unlinking the two-factor app of %s: %s\n", user.email,
                idd_strerror(rc));
        goto done;
    }
    rc = idd_store_session_end_user(store, user.id, 0, &count);
    if (rc != 0) {
        fprintf(stderr,
                "identityctl: two-factor app unlinked for %s, but ending their sessions "
                "failed: %s; run 'identityctl session revoke --all %s'\n",
                user.email, idd_strerror(rc), user.email);
        goto done;
    }
    printf("two-factor app unlinked for %s; %d session%s ended\n", user.email, count,
           count == 1 ? "" : "s");

done:
    idd_wipe(&user, sizeof(user));
    idd_store_free(store);
    return rc;
}

/* Takes the next entry of a comma-separated list at *p: *entry and *len receive it without
 * the spaces around it (possibly empty), and *p moves past its comma. Returns false at the
 * end of the list. */
static bool next_entry(const char **p, const char **entry, size_t *len)
{
    if (**p == '\0')
        return false;
    const char *start = *p, *end = start + strcspn(start, ",");
    *p = *end == ',' ? end + 1 : end;
    while (start < end && *start == ' ')
        start++;
    while (end > start && end[-1] == ' ')
        end--;
    *entry = start;
    *len = (size_t)(end - start);
    return true;
}

/* Whether the comma-separated list holds item. */
static bool list_has(const char *list, const char *item)
{
    size_t item_len = strlen(item);
    const char *entry = NULL;
    size_t len = 0;
    while (next_entry(&list, &entry, &len)) {
        if (len == item_len && memcmp(entry, item, len) == 0)
            return true;
    }
    return false;
}

/* Checks --trusted-ips and writes it to out (IDD_TENANT_TFA_LIST_MAX + 1 bytes) as the store
 * keeps it: its entries trimmed, joined by commas. Returns 0 or IDD_CTL_EXIT_USAGE after
 * printing which entry is wrong. */
static int parse_trusted_ips(const char *text, char *out)
{
    const char *bad = NULL;
    size_t bad_len = 0, n = 0;

    if (idd_ip_list_check(text, &bad, &bad_len) != 0) {
        idd_ip_range_t range;
        char entry[IDD_IP_MAX * 2 + 2], shown[sizeof(entry)];
        /* The entry is shown cut and with its control characters masked: it came from the
         * command line, but may have been pasted from anywhere. */
        snprintf(entry, sizeof(entry), "%.*s",
                 (int)(bad_len < sizeof(entry) - 1 ? bad_len : sizeof(entry) - 1),
                 bad != NULL ? bad : "");
        idd_ctl_printable(entry, shown, sizeof(shown));
        if (bad != NULL && idd_ip_range_parse(bad, bad_len, &range) == 0)
            fprintf(stderr, "identityctl: --trusted-ips: more than %d entries (from \"%s\")\n",
                    IDD_IP_LIST_ENTRIES_MAX, shown);
        else
            fprintf(stderr,
                    "identityctl: --trusted-ips: \"%s\" is not an address, an a-b range or a CIDR "
                    "network\n",
                    bad_len == 0 ? "" : shown);
        return IDD_CTL_EXIT_USAGE;
    }
    const char *p = text, *entry = NULL;
    size_t len = 0;
    while (next_entry(&p, &entry, &len)) {
        if (len == 0)
            continue;
        if (n + (n > 0) + len > IDD_TENANT_TFA_LIST_MAX) {
            fprintf(stderr, "identityctl: --trusted-ips: the list is longer than %d bytes\n",
                    IDD_TENANT_TFA_LIST_MAX);
            return IDD_CTL_EXIT_USAGE;
        }
        if (n > 0)
            out[n++] = ',';
        memcpy(out + n, entry, len);
        n += len;
    }
    out[n] = '\0';
    return 0;
}

/* Resolves --mandatory's emails to the ids of users of the tenant and writes them to out
 * (IDD_TENANT_TFA_LIST_MAX + 1 bytes) comma-separated, each once. Returns 0 or an IDD_E*
 * code after printing which email is wrong. */
static int parse_mandatory(idd_store_t *store, int64_t tenant_id, const char *text, char *out)
{
    char email[IDD_EMAIL_MAX + 1];
    idd_user_t user;
    size_t n = 0;
    int rc = 0;

    memset(&user, 0, sizeof(user));
    out[0] = '\0';
    const char *p = text, *entry = NULL;
    size_t len = 0;
    while (next_entry(&p, &entry, &len)) {
        if (len == 0)
            continue;
        if (len > IDD_EMAIL_MAX) {
            fprintf(stderr, "identityctl: --mandatory: an address longer than %d bytes\n",
                    IDD_EMAIL_MAX);
            rc = IDD_EINVAL;
            break;
        }
        memcpy(email, entry, len);
        email[len] = '\0';
        rc = idd_ctl_check_email(email);
        if (rc != 0) {
            char shown[IDD_EMAIL_MAX + 1];
            idd_ctl_printable(email, shown, sizeof(shown));
            fprintf(stderr, "identityctl: --mandatory: refused \"%s\"\n", shown);
            break;
        }
        rc = idd_store_user_by_email(store, tenant_id, email, &user);
        if (rc == IDD_ENOTFOUND) {
            fprintf(stderr, "identityctl: --mandatory: no user %s in tenant %lld\n", email,
                    (long long)tenant_id);
            break;
        }
        if (rc != 0) {
            fprintf(stderr, "identityctl: looking up %s: %s\n", email, idd_strerror(rc));
            break;
        }
        /* The same user named twice (the lookup ignores case) is stored once. */
        if (list_has(out, user.id))
            continue;
        size_t id_len = strlen(user.id);
        if (n + (n > 0) + id_len > IDD_TENANT_TFA_LIST_MAX) {
            fprintf(stderr,
                    "identityctl: --mandatory: too many users (the list holds at most %d, "
                    "%d bytes of ids)\n",
                    (IDD_TENANT_TFA_LIST_MAX + 1) / (IDD_GUID_LEN + 1), IDD_TENANT_TFA_LIST_MAX);
            rc = IDD_ETOOBIG;
            break;
        }
        if (n > 0)
            out[n++] = ',';
        memcpy(out + n, user.id, id_len);
        n += id_len;
        out[n] = '\0';
    }
    idd_wipe(&user, sizeof(user));
    return rc;
}

/* Prints the mandatory users' ids as emails; an id whose user is gone is shown as such. */
static int print_mandatory(idd_store_t *store, const char *ids)
{
    char id[IDD_GUID_LEN + 1];
    idd_user_t user;
    int rc = 0;
    bool first = true;

    memset(&user, 0, sizeof(user));
    fputs("mandatory users: ", stdout);
    const char *p = ids, *entry = NULL;
    size_t len = 0;
    while (next_entry(&p, &entry, &len)) {
        if (len > 0) {
            snprintf(id, sizeof(id), "%.*s", (int)(len > IDD_GUID_LEN ? IDD_GUID_LEN : len), entry);
            rc = idd_store_user_by_id(store, id, &user);
            if (rc == 0)
                printf("%s%s", first ? "" : ",", user.email);
            else if (rc == IDD_ENOTFOUND || rc == IDD_EINVAL) {
                char shown[IDD_GUID_LEN + 1];
                idd_ctl_printable(id, shown, sizeof(shown));
                printf("%s(no user %s)", first ? "" : ",", shown);
                rc = 0;
            } else {
                fprintf(stderr, "identityctl: looking up user %s: %s\n", id, idd_strerror(rc));
                break;
            }
            first = false;
        }
    }
    fputs(first ? "-\n" : "\n", stdout);
    idd_wipe(&user, sizeof(user));
    return rc;
}

/* tenant tfa on|off|show: variant is IDD_CTL_TFA_ON, _OFF or _SHOW. */
int idd_ctl_tenant_tfa(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    int rc = IDD_EINVAL;
    idd_store_t *store = NULL;
    idd_tenant_tfa_t tfa;
    char trusted[IDD_TENANT_TFA_LIST_MAX + 1];
    const char *ips = args->values[OPT_TRUSTED_IPS];
    const char *mandatory = args->values[OPT_MANDATORY];
    int64_t tenant_id = 0;
    int ended = 0;

    memset(&tfa, 0, sizeof(tfa));
    memset(trusted, 0, sizeof(trusted));
    rc = idd_ctl_resolve_tenant(args, cfg, &tenant_id);
    if (rc != 0)
        goto done;
    /* What needs no database is checked first. */
    if (ips != NULL) {
        rc = parse_trusted_ips(ips, trusted);
        if (rc != 0)
            goto done;
    }
    rc = idd_ctl_open_store(cfg, false, &store, NULL, NULL);
    if (rc != 0)
        goto done;
    rc = idd_store_tenant_tfa_get(store, tenant_id, &tfa);
    if (rc != 0) {
        fprintf(stderr, "identityctl: reading the two-factor settings of tenant %lld: %s\n",
                (long long)tenant_id, idd_strerror(rc));
        goto done;
    }
    if (variant == IDD_CTL_TFA_SHOW) {
        char shown[IDD_TENANT_TFA_LIST_MAX + 1];
        idd_ctl_printable(tfa.trusted_ips, shown, sizeof(shown));
        printf("tenant: %lld\ntwo-factor sign-in: %s\ntrusted ips: %s\n", (long long)tenant_id,
               tfa.enabled ? "on" : "off", shown);
        rc = print_mandatory(store, tfa.mandatory_users);
        goto done;
    }
    if (mandatory != NULL) {
        rc = parse_mandatory(store, tenant_id, mandatory, tfa.mandatory_users);
        if (rc != 0)
            goto done;
    }
    if (ips != NULL)
        memcpy(tfa.trusted_ips, trusted, sizeof(trusted));
    bool was_on = tfa.enabled != 0;
    tfa.tenant_id = tenant_id;
    tfa.enabled = variant == IDD_CTL_TFA_ON;
    rc = idd_store_tenant_tfa_set(store, &tfa, idd_now(), &ended);
    if (rc == IDD_ENOTFOUND) {
        fprintf(stderr,
                "identityctl: tenant %lld is not in the database; run 'identityctl migrate'\n",
                (long long)tenant_id);
        goto done;
    }
    if (rc != 0) {
        fprintf(stderr, "identityctl: storing the two-factor settings of tenant %lld: %s\n",
                (long long)tenant_id, idd_strerror(rc));
        goto done;
    }
    if (variant == IDD_CTL_TFA_ON)
        printf("two-factor sign-in %s for tenant %lld; %d session%s ended\n",
               was_on ? "was already on" : "turned on", (long long)tenant_id, ended,
               ended == 1 ? "" : "s");
    else
        printf("two-factor sign-in %s for tenant %lld\n", was_on ? "turned off" : "was already off",
               (long long)tenant_id);

done:
    idd_wipe(trusted, sizeof(trusted));
    idd_store_free(store);
    return rc;
}
