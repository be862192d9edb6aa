/*
 * Verification of tokens from an external authority (RFC 8725) against its JWKS. Every
 * refusal test mints a token that is valid in every respect but the one under attack, so
 * the expected status can only come from the check being tested.
 */
#include "jose_test.h"

START_TEST(test_status_names)
{
    for (int a = IDD_JWT_OK; a <= IDD_JWT_AUDIENCE; a++) {
        ck_assert_ptr_nonnull(idd_jwt_status_name((idd_jwt_status_t)a));
        ck_assert_str_ne(idd_jwt_status_name((idd_jwt_status_t)a), "unknown");
        for (int b = a + 1; b <= IDD_JWT_AUDIENCE; b++)
            ck_assert_str_ne(idd_jwt_status_name((idd_jwt_status_t)a),
                             idd_jwt_status_name((idd_jwt_status_t)b));
    }
    ck_assert_str_eq(idd_jwt_status_name(IDD_JWT_OK), "ok");
    ck_assert_str_eq(idd_jwt_status_name((idd_jwt_status_t)99), "unknown");
}
END_TEST

START_TEST(test_decode)
{
    char *token = mint_es(good_claims());
    json_t *header = NULL;
    json_t *claims = NULL;
    ck_status(idd_jwt_decode(token, strlen(token), &header, &claims), IDD_JWT_OK);
    ck_assert_str_eq(json_string_value(json_object_get(header, "kid")), "ec-1");
    ck_assert_str_eq(json_string_value(json_object_get(claims, "iss")), ISSUER);
    json_decref(header);
    json_decref(claims);
    /* Decoding does not verify: a bad signature still decodes. */
    token[strlen(token) - 2] = token[strlen(token) - 2] == 'A' ? 'B' : 'A';
    ck_status(idd_jwt_decode(token, strlen(token), NULL, NULL), IDD_JWT_OK);
    /* A malformed token leaves both outputs NULL. */
    header = json_object();
    claims = json_object();
    json_t *h0 = header;
    json_t *c0 = claims;
    ck_status(idd_jwt_decode(token, 5, &header, &claims), IDD_JWT_MALFORMED);
    ck_assert_ptr_null(header);
    ck_assert_ptr_null(claims);
    json_decref(h0);
    json_decref(c0);
    ck_status(idd_jwt_decode(NULL, 0, &header, &claims), IDD_JWT_MALFORMED);
    free(token);
}
END_TEST

/* ==== accepted tokens ==== */

static const struct {
    const char *alg;
    const char *kid;
} good_algs[] = {{"RS256", "rsa-1"}, {"PS256", "rsa-1"}, {"ES256", "ec-1"}, {"EdDSA", "ed-1"}};

static EVP_PKEY *key_for(const char *alg)
{
    switch (sign_as(alg)) {
    case SIGN_RS256:
    case SIGN_PS256:
    case SIGN_PSS_SALT0:
    case SIGN_PSS_SALTMAX:
    case SIGN_PSS_MGF1_SHA1:
        return rsa_key;
    case SIGN_ES256:
    case SIGN_ES256_DER:
        return ec_key;
    case SIGN_EDDSA:
        return ed_key;
    case SIGN_NONE:
        break;
    }
    return NULL;
}

static char *mint_good(size_t i)
{
    return mint_obj(header_for(good_algs[i].alg, good_algs[i].kid), good_claims(),
                    sign_as(good_algs[i].alg), key_for(good_algs[i].alg));
}

START_TEST(test_accepts_each_alg)
{
    char *token = mint_good((size_t)_i);
    idd_jwt_policy_t p = policy_default();
    json_t *claims = NULL;
    ck_status(idd_jwt_verify(token, strlen(token), &jwks, &p, &claims), IDD_JWT_OK);
    ck_assert_str_eq(json_string_value(json_object_get(claims, "sub")), SUBJECT);
    ck_assert_str_eq(json_string_value(json_object_get(claims, "iss")), ISSUER);
    json_decref(claims);
    /* claims may be NULL when the caller only wants the verdict. */
    ck_status(idd_jwt_verify(token, strlen(token), &jwks, &p, NULL), IDD_JWT_OK);
    /* The allow-list holding only this algorithm is enough. */
    p.algs = idd_jwa_parse(good_algs[_i].alg);
    ck_status(verify_with(token, &p), IDD_JWT_OK);
    free(token);
}
END_TEST

/* The JWK's own "alg" binds the key to one algorithm: an RS256-only key must not verify a
 * PS256 token, even though both are RSA and the policy allows both. */
START_TEST(test_key_alg_refuses_other_alg)
{
    ck_status(
        verify_free(mint_obj(header_for("RS256", "rsa-rs256"), good_claims(), SIGN_RS256, rsa_key)),
        IDD_JWT_OK);
    ck_status(
        verify_free(mint_obj(header_for("PS256", "rsa-rs256"), good_claims(), SIGN_PS256, rsa_key)),
        IDD_JWT_ALG);
}
END_TEST

/* Without a kid, the key is whichever single key may verify alg; if several could, a
 * token must not be allowed to pick by trial. */
START_TEST(test_kidless_needs_unique_key)
{
    ck_status(verify_free(mint_obj(header_for("ES256", NULL), good_claims(), SIGN_ES256, ec_key)),
              IDD_JWT_OK);
    ck_status(verify_free(mint_obj(header_for("EdDSA", NULL), good_claims(), SIGN_EDDSA, ed_key)),
              IDD_JWT_OK);
    /* rsa-1 and rsa-rs256 can both verify RS256. */
    ck_status(verify_free(mint_obj(header_for("RS256", NULL), good_claims(), SIGN_RS256, rsa_key)),
              IDD_JWT_KID_UNKNOWN);
    /* Only rsa-1 may verify PS256. */
    ck_status(verify_free(mint_obj(header_for("PS256", NULL), good_claims(), SIGN_PS256, rsa_key)),
              IDD_JWT_OK);
}
END_TEST

/* ==== algorithm attacks ==== */

static const char *const none_names[] = {"none", "None", "NONE", "nOnE"};

/* "alg":"none" with an empty signature is the oldest JWT forgery: a library that honours
 * the header accepts an unsigned token. Every spelling is refused, before any key. */
START_TEST(test_refuses_alg_none)
{
    for (size_t k = 0; k < 2; k++) {
        json_t *h = header_for(none_names[_i], k == 0 ? "ec-1" : NULL);
        ck_status(verify_free(mint_obj(h, good_claims(), SIGN_NONE, NULL)), IDD_JWT_ALG);
    }
    /* Even an allow-list with every bit set does not let "none" through. */
    idd_jwt_policy_t p = policy_default();
    p.algs = ~0u;
    char *token = mint_obj(header_for(none_names[_i], "ec-1"), good_claims(), SIGN_NONE, NULL);
    ck_status(verify_with(token, &p), IDD_JWT_ALG);
    free(token);
}
END_TEST

/* Key confusion: the attacker fetches the RSA public key from the JWKS, takes its PEM as an
 * HMAC secret and signs an HS256 token. A verifier that lets the header choose the
 * algorithm would compute the same HMAC with the same "key" and accept the forgery. */
START_TEST(test_refuses_hs256_key_confusion)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL;
    ck_assert_int_eq(PEM_write_bio_PUBKEY(bio, rsa_key), 1);
    long pem_len = BIO_get_mem_data(bio, &pem);
    ck_assert_int_gt(pem_len, 0);

    json_t *header = header_for("HS256", "rsa-1");
    char *h_json = json_dumps(header, JSON_COMPACT);
    json_t *claims = good_claims();
    char *c_json = json_dumps(claims, JSON_COMPACT);
    char *h = b64url(h_json, strlen(h_json));
    char *c = b64url(c_json, strlen(c_json));
    char *input = NULL;
    ck_assert_int_ne(asprintf(&input, "%s.%s", h, c), -1);
    unsigned char mac[32];
    size_t mac_len = 0;
    ck_assert_ptr_nonnull(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, pem, (size_t)pem_len,
                                    (const unsigned char *)input, strlen(input), mac, sizeof(mac),
                                    &mac_len));
    char *s = b64url(mac, mac_len);
    char *token = join3(h, c, s);

    idd_jwt_policy_t p = policy_default();
    p.algs = ~0u; /* the refusal must not depend on the allow-list */
    ck_status(verify_with(token, &p), IDD_JWT_ALG);
    ck_status(verify(token), IDD_JWT_ALG);

    free(token);
    free(s);
    free(input);
    free(h);
    free(c);
    free(h_json);
    free(c_json);
    json_decref(header);
    json_decref(claims);
    BIO_free(bio);
}
END_TEST

/* The deployment decides which algorithms it trusts (DocSpace: ES256 and RS256 only); a
 * token must not widen that by naming another one, even one the key could verify. */
START_TEST(test_refuses_alg_not_allowed)
{
    char *token = mint_obj(header_for("PS256", "rsa-1"), good_claims(), SIGN_PS256, rsa_key);
    idd_jwt_policy_t p = policy_default();
    ck_status(verify_with(token, &p), IDD_JWT_OK); /* control: fine when allowed */
    p.algs = IDD_JWA_ES256 | IDD_JWA_RS256;
    ck_status(verify_with(token, &p), IDD_JWT_ALG);
    p.algs = 0;
    ck_status(verify_with(token, &p), IDD_JWT_ALG);
    /* No policy at all allows nothing. */
    ck_status(idd_jwt_verify(token, strlen(token), &jwks, NULL, NULL), IDD_JWT_ALG);
    free(token);
}
END_TEST

/* The header's alg must fit the key its kid names: an ES256 header pointing at an RSA key
 * would otherwise make the verifier interpret RSA material as an EC key, or the reverse. */
START_TEST(test_refuses_alg_key_mismatch)
{
    ck_status(
        verify_free(mint_obj(header_for("ES256", "rsa-1"), good_claims(), SIGN_ES256, ec_key)),
        IDD_JWT_ALG);
    ck_status(verify_free(mint_obj(header_for("EdDSA", "ec-1"), good_claims(), SIGN_EDDSA, ed_key)),
              IDD_JWT_ALG);
    ck_status(
        verify_free(mint_obj(header_for("RS256", "ed-1"), good_claims(), SIGN_RS256, rsa_key)),
        IDD_JWT_ALG);
}
END_TEST

/* A header without a string alg cannot be judged and is refused. */
START_TEST(test_refuses_missing_alg)
{
    json_t *h = header_for("ES256", "ec-1");
    json_object_del(h, "alg");
    ck_status(verify_free(mint_obj(h, good_claims(), SIGN_ES256, ec_key)), IDD_JWT_ALG);
    h = header_for("ES256", "ec-1");
    json_object_set_new(h, "alg", json_integer(1));
    ck_status(verify_free(mint_obj(h, good_claims(), SIGN_ES256, ec_key)), IDD_JWT_ALG);
}
END_TEST

/* ==== key selection ==== */

/* A kid nobody published must not fall back to some other key. */
START_TEST(test_refuses_unknown_kid)
{
    ck_status(verify_free(mint_obj(header_for("ES256", "ec-2"), good_claims(), SIGN_ES256, ec_key)),
              IDD_JWT_KID_UNKNOWN);
    /* Skipped keys are unknown too: a P-384 key's kid cannot be used at all. */
    ck_status(
        verify_free(mint_obj(header_for("ES256", "ec-384"), good_claims(), SIGN_ES256, ec_key)),
        IDD_JWT_KID_UNKNOWN);
}
END_TEST

/* Some verifiers have used kid as a file name or an SQL key. Here it is only compared with
 * the JWKS's kids, so a path-traversal kid is simply a kid that matches nothing. */
START_TEST(test_refuses_kid_path_traversal)
{
    ck_status(verify_free(mint_obj(header_for("ES256", "../../etc/passwd"), good_claims(),
                                   SIGN_ES256, ec_key)),
              IDD_JWT_KID_UNKNOWN);
    ck_status(verify_free(
                  mint_obj(header_for("ES256", "ec-1/../ec-1"), good_claims(), SIGN_ES256, ec_key)),
              IDD_JWT_KID_UNKNOWN);
}
END_TEST

/* A kid longer than any stored kid matches nothing; a kid that is not a string is a
 * malformed header rather than a lookup. */
START_TEST(test_refuses_odd_kid)
{
    char long_kid[201];
    memset(long_kid, 'a', 200);
    long_kid[200] = '\0';
    ck_status(
        verify_free(mint_obj(header_for("ES256", long_kid), good_claims(), SIGN_ES256, ec_key)),
        IDD_JWT_KID_UNKNOWN);
    json_t *h = header_for("ES256", NULL);
    json_object_set_new(h, "kid", json_integer(1));
    ck_status(verify_free(mint_obj(h, good_claims(), SIGN_ES256, ec_key)), IDD_JWT_HEADER);
}
END_TEST

/* ==== signatures ==== */

/* Stripping the signature (header.payload.) must not turn a JWS into an unsigned token. */
START_TEST(test_refuses_stripped_signature)
{
    char *token = mint_good((size_t)_i);
    strrchr(token, '.')[1] = '\0';
    ck_status(verify(token), IDD_JWT_SIGNATURE);
    free(token);
}
END_TEST

/* A truncated signature (whole base64url groups cut off, so it still decodes) is a
 * different byte string and must fail, never be padded or partially compared. */
START_TEST(test_refuses_truncated_signature)
{
    char *token = mint_good((size_t)_i);
    size_t len = strlen(token);
    size_t sig_len = strlen(strrchr(token, '.') + 1);
    token[len - (sig_len % 4) - 4] = '\0';
    ck_status(verify(token), IDD_JWT_SIGNATURE);
    free(token);
}
END_TEST

/* ES256 in a JWS is R‖S, 64 bytes (RFC 7518 §3.4). OpenSSL's DER form of the same
 * signature is refused: accepting two encodings makes signatures malleable, and a library
 * that "helpfully" accepts DER tends to accept other lengths too. */
START_TEST(test_refuses_es256_der_signature)
{
    ck_status(
        verify_free(mint_obj(header_for("ES256", "ec-1"), good_claims(), SIGN_ES256_DER, ec_key)),
        IDD_JWT_SIGNATURE);
}
END_TEST

/* Editing the claims under an existing signature (say, a new sub) must be caught. */
START_TEST(test_refuses_tampered_payload)
{
    char *token = mint_good((size_t)_i);
    char *dot1 = strchr(token, '.');
    char *dot2 = strchr(dot1 + 1, '.');
    json_t *claims = good_claims();
    json_object_set_new(claims, "sub", json_string("00000000-0000-0000-0000-000000000001"));
    char *c_json = json_dumps(claims, JSON_COMPACT);
    char *c = b64url(c_json, strlen(c_json));
    *dot1 = '\0';
    char *forged = join3(token, c, dot2 + 1);
    ck_status(verify(forged), IDD_JWT_SIGNATURE);
    free(forged);
    free(c);
    free(c_json);
    json_decref(claims);
    free(token);
}
END_TEST

/* An attacker's own key cannot sign for a published kid. */
START_TEST(test_refuses_other_key)
{
    ck_status(
        verify_free(mint_obj(header_for("ES256", "ec-1"), good_claims(), SIGN_ES256, ec_other)),
        IDD_JWT_SIGNATURE);
    ck_status(
        verify_free(mint_obj(header_for("RS256", "rsa-1"), good_claims(), SIGN_RS256, rsa_enc_key)),
        IDD_JWT_SIGNATURE);
}
END_TEST

/* PS256 is RSA-PSS with a 32-byte salt; an RS256 signature under a PS256 header (or the
 * reverse) must not verify: the padding is part of the algorithm. */
START_TEST(test_refuses_padding_swap)
{
    ck_status(
        verify_free(mint_obj(header_for("PS256", "rsa-1"), good_claims(), SIGN_RS256, rsa_key)),
        IDD_JWT_SIGNATURE);
    ck_status(
        verify_free(mint_obj(header_for("RS256", "rsa-1"), good_claims(), SIGN_PS256, rsa_key)),
        IDD_JWT_SIGNATURE);
}
END_TEST

/* A PSS signature with another salt length or MGF hash is a valid RSA-PSS signature but
 * not a PS256 one; a verifier that auto-detects the salt accepts signatures made under
 * parameters the algorithm does not allow. */
START_TEST(test_refuses_pss_parameters)
{
    const sign_as_t variants[] = {SIGN_PSS_SALT0, SIGN_PSS_SALTMAX, SIGN_PSS_MGF1_SHA1};
    for (size_t i = 0; i < IDD_ARRAY_LEN(variants); i++)
        ck_status(verify_free(
                      mint_obj(header_for("PS256", "rsa-1"), good_claims(), variants[i], rsa_key)),
                  IDD_JWT_SIGNATURE);
}
END_TEST

/* idd_jwks_t is a plain struct: a caller that fills it by hand with algs that do not fit
 * the key (ES256 on an RSA key) must still not get an RSA key used as an EC key. */
START_TEST(test_refuses_hand_built_mismatch)
{
    idd_jwk_t key = {.kid = "x", .algs = ALL_ALGS, .pkey = rsa_key};
    idd_jwks_t set = {&key, 1};
    idd_jwt_policy_t p = policy_default();
    char *token = mint_obj(header_for("ES256", "x"), good_claims(), SIGN_ES256, ec_key);
    ck_status(idd_jwt_verify(token, strlen(token), &set, &p, NULL), IDD_JWT_ALG);
    free(token);
    token = mint_obj(header_for("RS256", "x"), good_claims(), SIGN_RS256, rsa_key);
    ck_status(idd_jwt_verify(token, strlen(token), &set, &p, NULL), IDD_JWT_OK);
    /* No key set at all: nothing can be found. */
    ck_status(idd_jwt_verify(token, strlen(token), NULL, &p, NULL), IDD_JWT_KID_UNKNOWN);
    free(token);
}
END_TEST

/* ==== header attacks ==== */

/* A critical extension we do not implement changes what the token means (RFC 7515
 * §4.1.11); ignoring it would accept a token under rules its issuer did not intend. */
START_TEST(test_refuses_unknown_crit)
{
    json_t *h = header_for("ES256", "ec-1");
    json_object_set_new(h, "crit", json_pack("[s]", "http://example.org/must-check"));
    json_object_set_new(h, "http://example.org/must-check", json_true());
    ck_status(verify_free(mint_obj(h, good_claims(), SIGN_ES256, ec_key)), IDD_JWT_HEADER);
    /* b64:false (RFC 7797) would change what was signed. */
    h = header_for("ES256", "ec-1");
    json_object_set_new(h, "crit", json_pack("[s]", "b64"));
    json_object_set_new(h, "b64", json_false());
    ck_status(verify_free(mint_obj(h, good_claims(), SIGN_ES256, ec_key)), IDD_JWT_HEADER);
}
END_TEST

/* "crit": [] is forbidden by RFC 7515 §4.1.11; a header that breaks the rules this
 * plainly is not one to be lenient with. */
START_TEST(test_refuses_empty_crit)
{
    json_t *h = header_for("ES256", "ec-1");
    json_object_set_new(h, "crit", json_array());
    ck_status(verify_free(mint_obj(h, good_claims(), SIGN_ES256, ec_key)), IDD_JWT_HEADER);
}
END_TEST

/* jku: "fetch my keys from here". Following it lets the token's author supply the key
 * that verifies the token (and makes us fetch attacker URLs: SSRF). */
START_TEST(test_refuses_jku)
{
    json_t *h = header_for("ES256", "ec-1");
    json_object_set_new(h, "jku", json_string("https://attacker.example/jwks.json"));
    ck_status(verify_free(mint_obj(h, good_claims(), SIGN_ES256, ec_key)), IDD_JWT_HEADER);
}
END_TEST

/* An embedded jwk is the attacker's own public key: "verified" by the key it carries, any
 * forgery passes. Refused even when signed by a legitimate key. */
START_TEST(test_refuses_embedded_jwk)
{
    json_t *h = header_for("ES256", NULL);
    json_object_set_new(h, "jwk", jwk_of(ec_other, NULL, "ES256"));
    ck_status(verify_free(mint_obj(h, good_claims(), SIGN_ES256, ec_other)), IDD_JWT_HEADER);
    h = header_for("ES256", "ec-1");
    json_object_set_new(h, "jwk", jwk_of(ec_key, NULL, "ES256"));
    ck_status(verify_free(mint_obj(h, good_claims(), SIGN_ES256, ec_key)), IDD_JWT_HEADER);
}
END_TEST

/* x5u, like jku, points at a certificate chain chosen by the token's author. */
START_TEST(test_refuses_x5u)
{
    json_t *h = header_for("ES256", "ec-1");
    json_object_set_new(h, "x5u", json_string("https://attacker.example/chain.pem"));
    ck_status(verify_free(mint_obj(h, good_claims(), SIGN_ES256, ec_key)), IDD_JWT_HEADER);
}
END_TEST

/* x5c embeds a certificate chain: like jwk, a key supplied by the author. */
START_TEST(test_refuses_x5c)
{
    json_t *h = header_for("ES256", "ec-1");
    json_object_set_new(h, "x5c", json_pack("[s]", "MIIBszCCAVmgAwIBAgIUW"));
    ck_status(verify_free(mint_obj(h, good_claims(), SIGN_ES256, ec_key)), IDD_JWT_HEADER);
}
END_TEST

static const char *const bad_typs[] = {
    "JOSE", "logout+jwt", "dpop+jwt", "secevent+jwt", "application/jose", "JWT ", ""};
static const char *const good_typs[] = {
    "JWT", "jwt", "at+jwt", "AT+JWT", "application/at+jwt", "Application/JWT"};

/* Other JWT types (a logout token, a DPoP proof) may be signed by the same authority with
 * the same key; accepting one as a bearer access token is a cross-JWT confusion
 * (RFC 8725 §3.11). */
START_TEST(test_refuses_other_typ)
{
    json_t *h = header_for("ES256", "ec-1");
    json_object_set_new(h, "typ", json_string(bad_typs[_i]));
    ck_status(verify_free(mint_obj(h, good_claims(), SIGN_ES256, ec_key)), IDD_JWT_HEADER);
}
END_TEST

START_TEST(test_accepts_typ)
{
    json_t *h = header_for("ES256", "ec-1");
    json_object_set_new(h, "typ", json_string(good_typs[_i]));
    ck_status(verify_free(mint_obj(h, good_claims(), SIGN_ES256, ec_key)), IDD_JWT_OK);
    h = header_for("ES256", "ec-1");
    json_object_del(h, "typ"); /* typ is optional */
    ck_status(verify_free(mint_obj(h, good_claims(), SIGN_ES256, ec_key)), IDD_JWT_OK);
    h = header_for("ES256", "ec-1");
    json_object_set_new(h, "typ", json_integer(1));
    ck_status(verify_free(mint_obj(h, good_claims(), SIGN_ES256, ec_key)), IDD_JWT_HEADER);
}
END_TEST

/* ==== shape ==== */

/* A JWE (five segments) is not a JWS; treating its parts as header.payload.signature could
 * only go wrong. Four segments, or a JWS with an extra segment, are no better. */
START_TEST(test_refuses_jwe_shape)
{
    const char *jwe_header = "{\"alg\":\"RSA-OAEP\",\"enc\":\"A256GCM\",\"kid\":\"rsa-1\"}";
    char *h = b64url(jwe_header, strlen(jwe_header));
    char *jwe = NULL;
    ck_assert_int_ne(asprintf(&jwe, "%s.AAAA.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA", h), -1);
    ck_status(verify(jwe), IDD_JWT_MALFORMED);
    ck_status(idd_jwt_decode(jwe, strlen(jwe), NULL, NULL), IDD_JWT_MALFORMED);
    free(jwe);
    free(h);

    char *token = mint_good(2);
    char *longer = NULL;
    ck_assert_int_ne(asprintf(&longer, "%s.AAAA", token), -1);
    ck_status(verify(longer), IDD_JWT_MALFORMED);
    free(longer);
    free(token);
}
END_TEST

static const char *const bad_shapes[] = {"", ".", "..", "...", "abc", "abc.def", "a.b.c"};

START_TEST(test_refuses_bad_shape)
{
    ck_status(verify(bad_shapes[_i]), IDD_JWT_MALFORMED);
}
END_TEST

/* Builds an EdDSA token of exactly target bytes by growing a filler claim (EdDSA's
 * signature has a fixed size). */
static char *mint_of_length(size_t target)
{
    for (size_t fill = 0; fill < 4; fill++) {
        json_t *h = header_for("EdDSA", "ed-1");
        json_object_set_new(h, "x-fill", json_string(&"xxx"[3 - fill]));
        char *h_json = json_dumps(h, JSON_COMPACT);
        size_t h_len = B64URL_LEN(strlen(h_json));
        free(h_json);
        json_decref(h);
        json_t *c = good_claims();
        json_object_set_new(c, "pad", json_string(""));
        char *c_json = json_dumps(c, JSON_COMPACT);
        size_t base = strlen(c_json);
        free(c_json);
        json_decref(c);
        for (size_t pad = 0; pad < target; pad++) {
            size_t total = h_len + 1 + B64URL_LEN(base + pad) + 1 + B64URL_LEN(64);
            if (total > target)
                break;
            if (total != target)
                continue;
            char *padding = idd_xmalloc(pad + 1);
            memset(padding, 'p', pad);
            padding[pad] = '\0';
            h = header_for("EdDSA", "ed-1");
            json_object_set_new(h, "x-fill", json_string(&"xxx"[3 - fill]));
            c = good_claims();
            json_object_set_new(c, "pad", json_string(padding));
            free(padding);
            char *token = mint_obj(h, c, SIGN_EDDSA, ed_key);
            ck_assert_uint_eq(strlen(token), target);
            return token;
        }
    }
    ck_abort_msg("no token of %zu bytes", target);
    return NULL;
}

/* Size is checked before anything is decoded, so a huge token costs nothing to refuse. The
 * limit is exact: IDD_JWT_MAX bytes pass, one more does not. */
START_TEST(test_refuses_oversized)
{
    ck_status(verify_free(mint_of_length(IDD_JWT_MAX)), IDD_JWT_OK);
    char *token = mint_of_length(IDD_JWT_MAX + 1);
    ck_status(verify(token), IDD_JWT_MALFORMED);
    ck_status(idd_jwt_decode(token, strlen(token), NULL, NULL), IDD_JWT_MALFORMED);
    free(token);
}
END_TEST

/* Duplicate names let two parsers see two different tokens: one picks the first "kid" (or
 * "aud"), another the last. A signed token with duplicates is refused outright. */
START_TEST(test_refuses_duplicate_json_keys)
{
    json_t *claims = good_claims();
    char *good = json_dumps(claims, JSON_COMPACT);
    json_decref(claims);
    /* Control: the same texts without duplicates verify. */
    char *token = mint_raw("{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", good, SIGN_ES256, ec_key);
    ck_status(verify_free(token), IDD_JWT_OK);

    token = mint_raw("{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"kid\":\"rsa-1\"}", good, SIGN_ES256,
                     ec_key);
    ck_status(verify_free(token), IDD_JWT_MALFORMED);
    token =
        mint_raw("{\"alg\":\"ES256\",\"alg\":\"none\",\"kid\":\"ec-1\"}", good, SIGN_ES256, ec_key);
    ck_status(verify_free(token), IDD_JWT_MALFORMED);

    /* good ends in '}': reopen it and add a second aud. */
    char *dup = NULL;
    good[strlen(good) - 1] = '\0';
    ck_assert_int_ne(asprintf(&dup, "%s,\"aud\":\"https://evil.example\"}", good), -1);
    token = mint_raw("{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", dup, SIGN_ES256, ec_key);
    ck_status(verify_free(token), IDD_JWT_MALFORMED);
    free(dup);
    free(good);
}
END_TEST

static const char *const not_objects[] = {"[\"a\"]", "\"claims\"", "42",           "null",
                                          "true",    "",           "{\"a\":1} {}", "{\"a\":"};

/* The claims must be a JSON object: a verifier that reads claims out of an array or a
 * string by accident (or a truncated document) must never get that far. */
START_TEST(test_refuses_non_object_payload)
{
    char *token =
        mint_raw("{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", not_objects[_i], SIGN_ES256, ec_key);
    ck_status(verify_free(token), IDD_JWT_MALFORMED);
    json_t *claims = good_claims();
    char *good = json_dumps(claims, JSON_COMPACT);
    json_decref(claims);
    /* The header is held to the same rule (no signing key: the shape fails first). */
    token = mint_raw(not_objects[_i], good, SIGN_NONE, NULL);
    ck_status(verify_free(token), IDD_JWT_MALFORMED);
    free(good);
}
END_TEST

/* base64url is strict: padding, the standard alphabet's '+' and '/', or whitespace would
 * let one token have many spellings (and some decoders skip what they do not know). */
static char *edit_token(int how)
{
    char *token = mint_good(2);
    char *dot1 = strchr(token, '.');
    char *dot2 = strchr(dot1 + 1, '.');
    char *out = NULL;
    size_t h_len = (size_t)(dot1 - token);
    static const char *const pads[] = {"====", "=", "==", "="};

    switch (how) {
    case 0: /* header padded with '=' */
        ck_assert_int_ne(asprintf(&out, "%.*s%s%s", (int)h_len, token, pads[h_len % 4], dot1), -1);
        break;
    case 1: /* '+' in the payload */
        out = idd_xstrdup(token);
        out[dot1 - token + 1] = '+';
        break;
    case 2: /* '/' in the payload */
        out = idd_xstrdup(token);
        out[dot1 - token + 1] = '/';
        break;
    case 3: /* signature padded ("=="; 86 characters) */
        ck_assert_int_ne(asprintf(&out, "%s==", token), -1);
        break;
    case 4: /* a space in the payload */
        out = idd_xstrdup(token);
        out[dot2 - token - 1] = ' ';
        break;
    case 5: /* '+' in the signature */
        out = idd_xstrdup(token);
        out[strlen(out) - 3] = '+';
        break;
    default: /* a NUL inside the given length */
        out = idd_xstrdup(token);
        out[dot1 - token + 3] = '\0';
        break;
    }
    free(token);
    return out;
}

START_TEST(test_refuses_bad_base64url)
{
    char *token = edit_token(_i);
    if (_i == 6) {
        /* strlen would stop at the NUL; pass the real length. */
        size_t len = strlen(token) + 1 + strlen(token + strlen(token) + 1);
        ck_status(idd_jwt_verify(token, len, &jwks, NULL, NULL), IDD_JWT_MALFORMED);
    } else {
        ck_status(verify(token), IDD_JWT_MALFORMED);
    }
    free(token);
}
END_TEST

/* ==== claims ==== */

/* An expired token is a stolen token's most common form; exp + skew must be after now. */
START_TEST(test_refuses_expired)
{
    ck_status(verify_free(mint_es(claims_with("exp", json_integer(NOW - SKEW)))), IDD_JWT_EXPIRED);
    ck_status(verify_free(mint_es(claims_with("exp", json_integer(NOW - 86400)))), IDD_JWT_EXPIRED);
    ck_status(verify_free(mint_es(claims_with("exp", json_real((double)(NOW - SKEW) - 0.5)))),
              IDD_JWT_EXPIRED);
    ck_status(verify_free(mint_es(claims_with("exp", json_integer(INT64_MIN)))), IDD_JWT_EXPIRED);
}
END_TEST

/* Without exp a bearer token is valid forever; DocSpace requires exp, and so do we. */
START_TEST(test_refuses_missing_exp)
{
    ck_status(verify_free(mint_es(claims_with("exp", NULL))), IDD_JWT_EXPIRED);
    ck_status(verify_free(mint_es(claims_with("exp", json_null()))), IDD_JWT_EXPIRED);
}
END_TEST

/* A date that is not a number is not a date. Comparing "1800000300" as text, or parsing it
 * leniently, is how lifetimes get bypassed; each claim fails as its own check. */
START_TEST(test_refuses_dates_as_strings)
{
    ck_status(verify_free(mint_es(claims_with("exp", json_string("1800000300")))), IDD_JWT_EXPIRED);
    ck_status(verify_free(mint_es(claims_with("exp", json_true()))), IDD_JWT_EXPIRED);
    ck_status(verify_free(mint_es(claims_with("nbf", json_string("0")))), IDD_JWT_NOT_YET);
    ck_status(verify_free(mint_es(claims_with("iat", json_string("0")))), IDD_JWT_NOT_YET);
}
END_TEST

/* A token whose nbf is beyond the skew is meant for later; using it now defeats whatever
 * made the issuer delay it. */
START_TEST(test_refuses_future_nbf)
{
    ck_status(verify_free(mint_es(claims_with("nbf", json_integer(NOW + SKEW + 1)))),
              IDD_JWT_NOT_YET);
    ck_status(verify_free(mint_es(claims_with("nbf", json_real((double)(NOW + SKEW) + 0.5)))),
              IDD_JWT_NOT_YET);
}
END_TEST

/* A token "issued" in the future beyond the skew comes from a broken or manipulated clock
 * at the issuer, and its exp means nothing either. */
START_TEST(test_refuses_future_iat)
{
    ck_status(verify_free(mint_es(claims_with("iat", json_integer(NOW + SKEW + 1)))),
              IDD_JWT_NOT_YET);
}
END_TEST

/* The skew is a tolerance, not an error: clocks differ by seconds, and the boundaries are
 * exact (exp + skew > now, nbf and iat <= now + skew). */
START_TEST(test_accepts_within_skew)
{
    ck_status(verify_free(mint_es(claims_with("exp", json_integer(NOW - SKEW + 1)))), IDD_JWT_OK);
    ck_status(verify_free(mint_es(claims_with("exp", json_real((double)(NOW - SKEW) + 0.5)))),
              IDD_JWT_OK);
    ck_status(verify_free(mint_es(claims_with("nbf", json_integer(NOW + SKEW)))), IDD_JWT_OK);
    ck_status(verify_free(mint_es(claims_with("iat", json_integer(NOW + SKEW)))), IDD_JWT_OK);
    ck_status(verify_free(mint_es(claims_with("nbf", NULL))), IDD_JWT_OK);
    ck_status(verify_free(mint_es(claims_with("iat", NULL))), IDD_JWT_OK);
    /* A far-future exp does not overflow into the past. */
    ck_status(verify_free(mint_es(claims_with("exp", json_integer(INT64_MAX)))), IDD_JWT_OK);
    /* With no skew, the same boundaries move. */
    idd_jwt_policy_t p = policy_default();
    p.skew = 0;
    char *token = mint_es(claims_with("exp", json_integer(NOW + 1)));
    ck_status(verify_with(token, &p), IDD_JWT_OK);
    free(token);
    token = mint_es(claims_with("exp", json_integer(NOW)));
    ck_status(verify_with(token, &p), IDD_JWT_EXPIRED);
    free(token);
    token = mint_es(claims_with("nbf", json_integer(NOW + 1)));
    ck_status(verify_with(token, &p), IDD_JWT_NOT_YET);
    free(token);
}
END_TEST

static json_t *bad_iss(int i)
{
    switch (i) {
    case 0:
        return json_string("https://evil.example.org");
    case 1:
        return json_string(ISSUER "/");
    case 2:
        return json_string(ISSUER ".evil.example");
    case 3:
        return json_string("HTTPS://AUTH.EXAMPLE.ORG");
    case 4:
        return json_pack("[s]", ISSUER);
    case 5:
        return json_integer(1);
    default:
        return NULL; /* missing */
    }
}

/* Another authority's token (or a look-alike issuer) signed by a key that happens to be in
 * the set must not pass: iss is compared exactly. */
START_TEST(test_refuses_wrong_iss)
{
    ck_status(verify_free(mint_es(claims_with("iss", bad_iss(_i)))), IDD_JWT_ISSUER);
}
END_TEST

static json_t *bad_aud(int i)
{
    switch (i) {
    case 0:
        return json_string("https://elsewhere.example.org");
    case 1:
        return json_string(AUDIENCE ".evil.example");
    case 2:
        return json_string("https://docspace.example");
    case 3:
        return json_array();
    case 4:
        return json_pack("[s,s]", "https://a.example", "https://b.example");
    case 5:
        return json_pack("[s,i]", AUDIENCE, 1);
    case 6:
        return json_integer(1);
    case 7:
        return json_pack("{s:s}", "aud", AUDIENCE);
    default:
        return NULL; /* missing */
    }
}

/* A token the same authority issued for another service must not work here (token
 * forwarding): one audience must match exactly. */
START_TEST(test_refuses_wrong_aud)
{
    ck_status(verify_free(mint_es(claims_with("aud", bad_aud(_i)))), IDD_JWT_AUDIENCE);
}
END_TEST

START_TEST(test_accepts_aud_array)
{
    ck_status(verify_free(mint_es(
                  claims_with("aud", json_pack("[s,s]", "https://other-api.example", AUDIENCE)))),
              IDD_JWT_OK);
    /* Any of the policy's audiences will do. */
    ck_status(verify_free(mint_es(claims_with("aud", json_string("https://other.example.org")))),
              IDD_JWT_OK);
    idd_jwt_policy_t p = policy_default();
    p.n_audiences = 0;
    char *token = mint_es(good_claims());
    ck_status(verify_with(token, &p), IDD_JWT_AUDIENCE);
    free(token);
}
END_TEST

/* ==== runner ==== */

static Suite *jwt_verify_suite(void)
{
    Suite *s = suite_create("jwt_verify");

    TCase *tc = tcase_create("jwt");
    tcase_add_unchecked_fixture(tc, make_keys, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_status_names);
    tcase_add_test(tc, test_decode);
    tcase_add_loop_test(tc, test_accepts_each_alg, 0, (int)IDD_ARRAY_LEN(good_algs));
    tcase_add_test(tc, test_key_alg_refuses_other_alg);
    tcase_add_test(tc, test_kidless_needs_unique_key);
    tcase_add_loop_test(tc, test_refuses_alg_none, 0, (int)IDD_ARRAY_LEN(none_names));
    tcase_add_test(tc, test_refuses_hs256_key_confusion);
    tcase_add_test(tc, test_refuses_alg_not_allowed);
    tcase_add_test(tc, test_refuses_alg_key_mismatch);
    tcase_add_test(tc, test_refuses_missing_alg);
    tcase_add_test(tc, test_refuses_unknown_kid);
    tcase_add_test(tc, test_refuses_kid_path_traversal);
    tcase_add_test(tc, test_refuses_odd_kid);
    tcase_add_loop_test(tc, test_refuses_stripped_signature, 0, (int)IDD_ARRAY_LEN(good_algs));
    tcase_add_loop_test(tc, test_refuses_truncated_signature, 0, (int)IDD_ARRAY_LEN(good_algs));
    tcase_add_test(tc, test_refuses_es256_der_signature);
    tcase_add_loop_test(tc, test_refuses_tampered_payload, 0, (int)IDD_ARRAY_LEN(good_algs));
    tcase_add_test(tc, test_refuses_other_key);
    tcase_add_test(tc, test_refuses_padding_swap);
    tcase_add_test(tc, test_refuses_pss_parameters);
    tcase_add_test(tc, test_refuses_hand_built_mismatch);
    tcase_add_test(tc, test_refuses_unknown_crit);
    tcase_add_test(tc, test_refuses_empty_crit);
    tcase_add_test(tc, test_refuses_jku);
    tcase_add_test(tc, test_refuses_embedded_jwk);
    tcase_add_test(tc, test_refuses_x5u);
    tcase_add_test(tc, test_refuses_x5c);
    tcase_add_loop_test(tc, test_refuses_other_typ, 0, (int)IDD_ARRAY_LEN(bad_typs));
    tcase_add_loop_test(tc, test_accepts_typ, 0, (int)IDD_ARRAY_LEN(good_typs));
    tcase_add_test(tc, test_refuses_jwe_shape);
    tcase_add_loop_test(tc, test_refuses_bad_shape, 0, (int)IDD_ARRAY_LEN(bad_shapes));
    tcase_add_test(tc, test_refuses_oversized);
    tcase_add_test(tc, test_refuses_duplicate_json_keys);
    tcase_add_loop_test(tc, test_refuses_non_object_payload, 0, (int)IDD_ARRAY_LEN(not_objects));
    tcase_add_loop_test(tc, test_refuses_bad_base64url, 0, 7);
    tcase_add_test(tc, test_refuses_expired);
    tcase_add_test(tc, test_refuses_missing_exp);
    tcase_add_test(tc, test_refuses_dates_as_strings);
    tcase_add_test(tc, test_refuses_future_nbf);
    tcase_add_test(tc, test_refuses_future_iat);
    tcase_add_test(tc, test_accepts_within_skew);
    tcase_add_loop_test(tc, test_refuses_wrong_iss, 0, 7);
    tcase_add_loop_test(tc, test_refuses_wrong_aud, 0, 9);
    tcase_add_test(tc, test_accepts_aud_array);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(jwt_verify_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    free_keys();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
