/*
 * The values of the store's records as the schema and the configuration spell them: the
 * names of roles and user statuses, and a user's display name. Engine-neutral, and below
 * every engine: an engine reads and writes these names, and callers use them too.
 */
#include <stdio.h>
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/store/store.h"

static const char *const role_names[] = {
    [IDD_ROLE_USER] = "user",
    [IDD_ROLE_ADMIN] = "admin",
    [IDD_ROLE_GUEST] = "guest",
};

static const char *const status_names[] = {
    [IDD_USER_ACTIVE] = "active",
    [IDD_USER_DISABLED] = "disabled",
};

int idd_role_parse(const char *name, idd_role_t *out)
{
    if (name == NULL)
        return IDD_EINVAL;
    for (size_t i = 0; i < IDD_ARRAY_LEN(role_names); i++) {
        if (strcmp(name, role_names[i]) == 0) {
            *out = (idd_role_t)i;
            return 0;
        }
    }
    return IDD_EINVAL;
}

const char *idd_role_name(idd_role_t role)
{
    if ((unsigned)role >= IDD_ARRAY_LEN(role_names))
        return NULL;
    return role_names[role];
}

int idd_user_status_parse(const char *name, idd_user_status_t *out)
{
    if (name == NULL)
        return IDD_EINVAL;
    for (size_t i = 0; i < IDD_ARRAY_LEN(status_names); i++) {
        if (strcmp(name, status_names[i]) == 0) {
            *out = (idd_user_status_t)i;
            return 0;
        }
    }
    return IDD_EINVAL;
}

const char *idd_user_status_name(idd_user_status_t status)
{
    if ((unsigned)status >= IDD_ARRAY_LEN(status_names))
        return NULL;
    return status_names[status];
}

void idd_user_display_name(const idd_user_t *user, char *out, size_t len)
{
    const char *gap = user->first_name[0] != '\0' && user->last_name[0] != '\0' ? " " : "";
    snprintf(out, len, "%s%s%s", user->first_name, gap, user->last_name);
}
