/*
 * The JWS algorithm names identityd knows (RFC 7518 §3.1, RFC 8037), in one table: those it
 * signs its own tokens with and those it accepts from an external authority. Names are
 * exact and case-sensitive, as JOSE writes them: "es256" is not an algorithm. "none" and the
 * HMACs other than HS256 are not in the table at all.
 */
#ifndef IDENTITYD_CORE_JWA_H
#define IDENTITYD_CORE_JWA_H

/* The signing algorithms come first, so that they are the values 0..IDD_ALG_SIGNING_LAST. */
typedef enum {
    IDD_ALG_HS256 = 0,
    IDD_ALG_ES256,
    IDD_ALG_RS256,
    IDD_ALG_EDDSA,
    IDD_ALG_PS256, /* accepted from an external authority only */
    IDD_ALG_COUNT
} idd_alg_t;

#define IDD_ALG_SIGNING_LAST IDD_ALG_EDDSA

/* A set of algorithms is a bit set of these (an allow-list, the algorithms a key fits). */
#define IDD_JWA_BIT(alg) (1u << (unsigned)(alg))
#define IDD_JWA_HS256 IDD_JWA_BIT(IDD_ALG_HS256)
#define IDD_JWA_ES256 IDD_JWA_BIT(IDD_ALG_ES256)
#define IDD_JWA_RS256 IDD_JWA_BIT(IDD_ALG_RS256)
#define IDD_JWA_EDDSA IDD_JWA_BIT(IDD_ALG_EDDSA)
#define IDD_JWA_PS256 IDD_JWA_BIT(IDD_ALG_PS256)

/* What identityd signs its own tokens with. */
#define IDD_JWA_SIGNING (IDD_JWA_HS256 | IDD_JWA_ES256 | IDD_JWA_RS256 | IDD_JWA_EDDSA)
/* What an external authority's tokens may be signed with: public-key algorithms only, since
 * an HMAC "verified" with a public key lets anyone who can read the JWKS sign tokens. */
#define IDD_JWA_EXTERNAL (IDD_JWA_RS256 | IDD_JWA_ES256 | IDD_JWA_PS256 | IDD_JWA_EDDSA)

/* The names indexed by idd_alg_t, NULL-terminated (for tables that list the choices). */
extern const char *const idd_alg_names[IDD_ALG_COUNT + 1];

/* name -> algorithm, when name is exactly one of the algorithms of the set `allowed`.
 * Returns 0 or IDD_EINVAL (NULL, unknown, or not in the set). */
int idd_alg_parse(const char *name, unsigned allowed, idd_alg_t *out);

/* The JOSE name of an algorithm, or "unknown". */
const char *idd_alg_name(idd_alg_t alg);

/* name -> its bit when it is an external algorithm (IDD_JWA_EXTERNAL), else 0. */
unsigned idd_jwa_parse(const char *name);

#endif
