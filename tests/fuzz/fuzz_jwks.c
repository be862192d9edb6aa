/*
 * The JWKS reader (jose/jwks.c, idd_jwks_parse): the key set an OAuth2/OpenID authority
 * publishes, fetched over the network. Keys it cannot use are skipped, never fatal.
 *
 * Input: the document.
 *
 * Promises checked: a parsed set's keys each carry a public key and a NUL-terminated kid
 * that idd_jwks_find finds (the first of that kid); a refused document leaves no keys.
 */
#include <string.h>

#include "identityd/jose/jwks.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    idd_jwks_t set;
    memset(&set, 0xa5, sizeof(set));
    if (idd_jwks_parse((const char *)data, size, &set) != 0)
        return 0;
    for (size_t i = 0; i < set.n; i++) {
        const idd_jwk_t *k = &set.keys[i];
        FUZZ_CHECK(k->pkey != NULL && k->algs != 0);
        FUZZ_CHECK(memchr(k->kid, '\0', sizeof(k->kid)) != NULL);
        const idd_jwk_t *found = idd_jwks_find(&set, k->kid);
        FUZZ_CHECK(found != NULL && strcmp(found->kid, k->kid) == 0 && found <= k);
    }
    FUZZ_CHECK(idd_jwks_find(&set, "no such kid \x01") == NULL);
    idd_jwks_dispose(&set);
    return 0;
}
