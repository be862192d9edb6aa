/*
 * The one table of JWS algorithm names; see jwa.h.
 */
#include "identityd/core/jwa.h"

#include <string.h>

#include "identityd/core/common.h"

const char *const idd_alg_names[IDD_ALG_COUNT + 1] = {
    [IDD_ALG_HS256] = "HS256", [IDD_ALG_ES256] = "ES256", [IDD_ALG_RS256] = "RS256",
    [IDD_ALG_EDDSA] = "EdDSA", [IDD_ALG_PS256] = "PS256", [IDD_ALG_COUNT] = NULL,
};

int idd_alg_parse(const char *name, unsigned allowed, idd_alg_t *out)
{
    if (name == NULL)
        return IDD_EINVAL;
    for (int i = 0; i < IDD_ALG_COUNT; i++) {
        if ((allowed & IDD_JWA_BIT(i)) != 0 && strcmp(idd_alg_names[i], name) == 0) {
            *out = (idd_alg_t)i;
            return 0;
        }
    }
    return IDD_EINVAL;
}

const char *idd_alg_name(idd_alg_t alg)
{
    if ((unsigned)alg >= IDD_ALG_COUNT)
        return "unknown";
    return idd_alg_names[alg];
}

unsigned idd_jwa_parse(const char *name)
{
    idd_alg_t alg;
    if (idd_alg_parse(name, IDD_JWA_EXTERNAL, &alg) != 0)
        return 0;
    return IDD_JWA_BIT(alg);
}
