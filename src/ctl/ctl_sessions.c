/*
 * identityctl's session commands (see ctl.h): list a user's active sessions, and revoke one
 * session by id or every session of a user. Sessions are identified by their id, never by
 * their digest, which is derived from the secret token.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"

static int print_session_row(const idd_session_t *session, void *arg)
{
    char created[21], expires[21], last_seen[21];
    char ip[IDD_IP_MAX + 1], agent[IDD_USER_AGENT_MAX + 1];

    idd_format_iso8601(session->created, created);
    idd_format_iso8601(session->expires, expires);
    idd_format_iso8601(session->last_seen, last_seen);
    idd_ctl_printable(session->ip, ip, sizeof(ip));
    idd_ctl_printable(session->user_agent, agent, sizeof(agent));
    printf("%-10lld  %-20s  %-20s  %-20s  %-15s  %s\n", (long long)session->id, created, expires,
           last_seen, ip, agent);
    (*(size_t *)arg)++;
    return 0;
}

int idd_ctl_session_list(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    (void)variant;
    int rc = IDD_EINVAL;
    idd_store_t *store = NULL;
    idd_user_t user;
    size_t count = 0;

    memset(&user, 0, sizeof(user));
    rc = idd_ctl_lookup_user(args, cfg, &store, &user);
    if (rc != 0)
        goto done;
    printf("%-10s  %-20s  %-20s  %-20s  %-15s  %s\n", "ID", "CREATED", "EXPIRES", "LAST SEEN", "IP",
           "USER AGENT");
    rc = idd_store_session_list_user(store, user.id, idd_now(), print_session_row, &count);
    if (rc != 0)
        fprintf(stderr, "identityctl: listing sessions of %s: %s\n", user.email, idd_strerror(rc));

done:
    idd_wipe(&user, sizeof(user));
    idd_store_free(store);
    return rc;
}

/* session revoke ID: ends one session, found by the id `session list` shows. */
static int revoke_one(const idd_ctl_args_t *args, const idd_config_t *cfg)
{
    const char *text = args->positional[0];
    int rc = IDD_EINVAL;
    idd_store_t *store = NULL;
    idd_session_t session;
    char *end = NULL;
    long long id;

    memset(&session, 0, sizeof(session));
    errno = 0;
    id = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || id < 1) {
        fprintf(stderr, "identityctl: a session id is a positive number, not \"%s\"\n", text);
        goto done;
    }
    rc = idd_ctl_open_store(cfg, false, &store, NULL, NULL);
    if (rc != 0)
        goto done;
    /* Looked up first so that an already ended session is reported as such rather than as
     * revoked now. */
    rc = idd_store_session_by_id(store, (int64_t)id, &session);
    if (rc == 0 && session.active)
        rc = idd_store_session_end(store, (int64_t)id);
    if (rc == IDD_ENOTFOUND) {
        fprintf(stderr, "identityctl: no session %lld\n", id);
        goto done;
    }
    if (rc != 0) {
        fprintf(stderr, "identityctl: revoking session %lld: %s\n", id, idd_strerror(rc));
        goto done;
    }
    if (session.active)
        printf("revoked session %lld\n", id);
    else
        printf("session %lld had already ended: nothing revoked\n", id);

done:
    idd_wipe(&session, sizeof(session));
    idd_store_free(store);
    return rc;
}

/* session revoke --all EMAIL: ends every active session of the user. */
static int revoke_all(const idd_ctl_args_t *args, const idd_config_t *cfg)
{
    int rc = IDD_EINVAL;
    idd_store_t *store = NULL;
    idd_user_t user;
    int count = 0;

    memset(&user, 0, sizeof(user));
    rc = idd_ctl_lookup_user(args, cfg, &store, &user);
    if (rc != 0)
        goto done;
    rc = idd_store_session_end_user(store, user.id, 0, &count);
    if (rc != 0) {
        fprintf(stderr, "identityctl: revoking the sessions of %s: %s\n", user.email,
                idd_strerror(rc));
        goto done;
    }
    printf("revoked %d session%s of %s\n", count, count == 1 ? "" : "s", user.email);

done:
    idd_wipe(&user, sizeof(user));
    idd_store_free(store);
    return rc;
}

int idd_ctl_session_revoke(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    (void)variant;
    if (args->values[OPT_ALL] != NULL)
        return revoke_all(args, cfg);
    /* Session ids are unique across tenants, so --tenant could only mislead here. */
    if (args->values[OPT_TENANT] != NULL) {
        fputs("identityctl: --tenant goes with --all EMAIL, not with a session id\n", stderr);
        return IDD_EINVAL;
    }
    return revoke_one(args, cfg);
}
