/*
 * Parsing an external authority's JWKS: every key that is unusable or hostile (wrong use,
 * private members, weak or off-curve keys, inconsistent alg) is skipped, never fatal, and
 * what is kept can verify only the algorithms it was published for.
 */
#include "jose_test.h"

START_TEST(test_jwks_keeps_usable_keys)
{
    /* Four usable keys; P-384, RSA-1024, use:enc, a private JWK, oct and an unknown kty
     * are all skipped without failing the document. */
    ck_assert_uint_eq(jwks.n, 4);
    ck_assert_str_eq(jwks.keys[0].kid, "rsa-1");
    ck_assert_uint_eq(jwks.keys[0].algs, IDD_JWA_RS256 | IDD_JWA_PS256);
    ck_assert_str_eq(jwks.keys[1].kid, "rsa-rs256");
    ck_assert_uint_eq(jwks.keys[1].algs, IDD_JWA_RS256);
    ck_assert_str_eq(jwks.keys[2].kid, "ec-1");
    ck_assert_uint_eq(jwks.keys[2].algs, IDD_JWA_ES256);
    ck_assert_str_eq(jwks.keys[3].kid, "ed-1");
    ck_assert_uint_eq(jwks.keys[3].algs, IDD_JWA_EDDSA);
    /* The parsed keys are the very public keys that were published. */
    ck_assert_int_eq(EVP_PKEY_eq(jwks.keys[0].pkey, rsa_key), 1);
    ck_assert_int_eq(EVP_PKEY_eq(jwks.keys[2].pkey, ec_key), 1);
    ck_assert_int_eq(EVP_PKEY_eq(jwks.keys[3].pkey, ed_key), 1);
}
END_TEST

START_TEST(test_jwks_find)
{
    const idd_jwk_t *k = idd_jwks_find(&jwks, "ec-1");
    ck_assert_ptr_nonnull(k);
    ck_assert_ptr_eq(k, &jwks.keys[2]);
    ck_assert_ptr_eq(idd_jwks_find(&jwks, "ed-1"), &jwks.keys[3]);
    ck_assert_ptr_null(idd_jwks_find(&jwks, "ec-"));
    ck_assert_ptr_null(idd_jwks_find(&jwks, "EC-1"));
    ck_assert_ptr_null(idd_jwks_find(&jwks, ""));
    ck_assert_ptr_null(idd_jwks_find(&jwks, NULL));
    ck_assert_ptr_null(idd_jwks_find(NULL, "ec-1"));
    /* Skipped keys are not findable. */
    ck_assert_ptr_null(idd_jwks_find(&jwks, "ec-384"));
    ck_assert_ptr_null(idd_jwks_find(&jwks, "rsa-1024"));
    ck_assert_ptr_null(idd_jwks_find(&jwks, "rsa-enc"));
    ck_assert_ptr_null(idd_jwks_find(&jwks, "ec-private"));
    ck_assert_ptr_null(idd_jwks_find(&jwks, "oct-1"));
    ck_assert_ptr_null(idd_jwks_find(&jwks, "xyz-1"));
}
END_TEST

/* An encryption key published in the same set must not verify signatures: RFC 7517 §4.2
 * separates the two, and mixing them is how one key's compromise spreads to both uses. */
START_TEST(test_jwks_skips_use_enc)
{
    json_t *jwk = jwk_of(rsa_key, "k", NULL);
    json_object_set_new(jwk, "use", json_string("enc"));
    ck_assert_uint_eq(parse_one(jwk), 0);
    ck_assert_uint_eq(parse_one(jwk_of(rsa_key, "k", NULL)), 1); /* use: sig is kept */
    jwk = jwk_of(rsa_key, "k", NULL);
    json_object_del(jwk, "use");
    ck_assert_uint_eq(parse_one(jwk), 1); /* and so is a key without use */
}
END_TEST

/* key_ops, when given, must allow verification, for the same reason as use. */
START_TEST(test_jwks_skips_key_ops_without_verify)
{
    json_t *jwk = jwk_of(ec_key, "k", NULL);
    json_object_set_new(jwk, "key_ops", json_pack("[s]", "encrypt"));
    ck_assert_uint_eq(parse_one(jwk), 0);
    jwk = jwk_of(ec_key, "k", NULL);
    json_object_set_new(jwk, "key_ops", json_pack("[s]", "verify"));
    ck_assert_uint_eq(parse_one(jwk), 1);
}
END_TEST

static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

/* A JWK with private members means the publisher is leaking its signing key: whoever
 * has the JWKS could mint tokens. Such a key is not trusted for anything. */
START_TEST(test_jwks_skips_private_members)
{
    json_t *jwk = jwk_of(_i == 0 ? ec_key : rsa_key, "k", NULL);
    json_object_set_new(jwk, private_members[_i], json_string("AQAB"));
    ck_assert_uint_eq(parse_one(jwk), 0);
    ck_assert_uint_eq(parse_one(jwk_of(_i == 0 ? ec_key : rsa_key, "k", NULL)), 1);
}
END_TEST

/* Only P-256 is implemented; a P-384 key must not be half-used as if it were ES256. */
START_TEST(test_jwks_skips_p384)
{
    ck_assert_uint_eq(parse_one(jwk_of(ec384_key, "k", NULL)), 0);
    ck_assert_uint_eq(parse_one(jwk_of(ec384_key, "k", "ES384")), 0);
    /* Even relabelled as P-256, its 48-byte coordinates do not fit. */
    json_t *jwk = jwk_of(ec384_key, "k", NULL);
    json_object_set_new(jwk, "crv", json_string("P-256"));
    ck_assert_uint_eq(parse_one(jwk), 0);
}
END_TEST

/* A 1024-bit modulus is within reach of a determined factoring effort (RFC 7518 §3.3 asks
 * for 2048 bits); a token signed with it proves little. */
START_TEST(test_jwks_skips_rsa1024)
{
    ck_assert_uint_eq(parse_one(jwk_of(rsa1024_key, "k", NULL)), 0);
    ck_assert_uint_eq(parse_one(jwk_of(rsa1024_key, "k", "RS256")), 0);
    ck_assert_uint_eq(parse_one(jwk_of(rsa_key, "k", "RS256")), 1);
}
END_TEST

/* Key types we do not implement (symmetric "oct" above all: an HMAC key in a public
 * document is a secret anybody can read) are skipped, not guessed at. */
START_TEST(test_jwks_skips_unknown_kty)
{
    ck_assert_uint_eq(parse_one(json_pack("{s:s, s:s}", "kty", "oct", "k", "c2VjcmV0")), 0);
    ck_assert_uint_eq(parse_one(json_pack("{s:s, s:s}", "kty", "XYZ", "kid", "x")), 0);
    json_t *jwk = jwk_of(ed_key, "k", NULL);
    json_object_del(jwk, "kty");
    ck_assert_uint_eq(parse_one(jwk), 0);
    jwk = jwk_of(ed_key, "k", NULL);
    json_object_set_new(jwk, "crv", json_string("Ed448"));
    ck_assert_uint_eq(parse_one(jwk), 0);
    jwk = jwk_of(ed_key, "k", NULL);
    json_object_set_new(jwk, "kty", json_string("rsa")); /* names are case-sensitive */
    ck_assert_uint_eq(parse_one(jwk), 0);
    ck_assert_uint_eq(parse_one(json_string("not a key")), 0);
    /* Skips are logged at debug with the kid; a kid with control characters goes through
     * the same path (and is printed with them replaced). */
    idd_log_set_level(IDD_LOG_DEBUG);
    ck_assert_uint_eq(parse_one(json_pack("{s:s, s:s}", "kty", "XYZ", "kid", "x\ny\x1b[2J")), 0);
    idd_log_set_level(IDD_LOG_INFO);
}
END_TEST

/* The invalid-curve attack: a "public key" that is not a point of P-256 lives on another
 * curve, often of small order. We hold no EC private key, but such a key is corrupt or
 * hostile either way, and must not be able to "verify" anything. */
START_TEST(test_jwks_skips_off_curve_point)
{
    json_t *jwk = jwk_of(ec_key, "k", NULL);
    size_t len = 0;
    unsigned char y[64];
    BIGNUM *bn = NULL;
    ck_assert_int_eq(EVP_PKEY_get_bn_param(ec_key, OSSL_PKEY_PARAM_EC_PUB_Y, &bn), 1);
    len = (size_t)BN_bn2binpad(bn, y, 32);
    BN_free(bn);
    y[31] ^= 0x01; /* (x, y^1) is on the curve only if y^1 = ±y, which it is not */
    set_b64(jwk, "y", y, len);
    ck_assert_uint_eq(parse_one(jwk), 0);
    ck_assert_uint_eq(parse_one(jwk_of(ec_key, "k", NULL)), 1);
}
END_TEST

/* Coordinates must have the field's full length, leading zeros kept (RFC 7518 §6.2.1.2):
 * one key, one encoding. A key whose x starts with a zero byte is published both ways. */
START_TEST(test_jwks_skips_short_coordinate)
{
    EVP_PKEY *pkey = NULL;
    unsigned char x[32];
    for (int tries = 0; tries < 8192; tries++) {
        BIGNUM *bn = NULL;
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        ck_assert_ptr_nonnull(pkey);
        ck_assert_int_eq(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &bn), 1);
        ck_assert_int_eq(BN_bn2binpad(bn, x, 32), 32);
        BN_free(bn);
        if (x[0] == 0)
            break;
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    ck_assert_ptr_nonnull(pkey);
    ck_assert_uint_eq(parse_one(jwk_of(pkey, "k", NULL)), 1);
    json_t *jwk = jwk_of(pkey, "k", NULL);
    set_b64(jwk, "x", x + 1, 31);
    ck_assert_uint_eq(parse_one(jwk), 0);
    EVP_PKEY_free(pkey);
}
END_TEST

/* Only P-256 is implemented: a key on another 256-bit curve (secp256k1 has coordinates of
 * the same size) or with no crv must not be read as a P-256 point. */
START_TEST(test_jwks_skips_other_crv)
{
    json_t *jwk = jwk_of(ec_key, "k", NULL);
    json_object_set_new(jwk, "crv", json_string("secp256k1"));
    ck_assert_uint_eq(parse_one(jwk), 0);
    jwk = jwk_of(ec_key, "k", NULL);
    json_object_del(jwk, "crv");
    ck_assert_uint_eq(parse_one(jwk), 0);
    jwk = jwk_of(ec_key, "k", NULL);
    json_object_set_new(jwk, "crv", json_string("p-256"));
    ck_assert_uint_eq(parse_one(jwk), 0);
}
END_TEST

/* e = 1 makes "RSA" the identity (any message is its own signature); an even e is not RSA.
 * A huge e only makes every verification slow. */
START_TEST(test_jwks_skips_bad_rsa_exponent)
{
    static const unsigned char one[] = {1}, two[] = {2}, big[] = {1, 0, 0, 0, 0, 0, 0, 0, 1};
    static const struct {
        const unsigned char *e;
        size_t len;
    } bad[] = {{one, sizeof(one)}, {two, sizeof(two)}, {big, sizeof(big)}, {one, 0}};
    for (size_t i = 0; i < IDD_ARRAY_LEN(bad); i++) {
        json_t *jwk = jwk_of(rsa_key, "k", NULL);
        set_b64(jwk, "e", bad[i].e, bad[i].len);
        ck_assert_msg(parse_one(jwk) == 0, "exponent %zu accepted", i);
    }
    json_t *jwk = jwk_of(rsa_key, "k", NULL);
    json_object_del(jwk, "n");
    ck_assert_uint_eq(parse_one(jwk), 0);
}
END_TEST

/* A JWK whose "alg" does not fit its kty or crv is self-contradictory: honouring either
 * half could let a token pick the algorithm. Also HS256 on an RSA key, the key-confusion
 * setup written into the JWKS itself. */
static const struct {
    int key; /* 0 rsa, 1 ec, 2 ed */
    const char *alg;
} bad_alg[] = {
    {0, "ES256"}, {0, "EdDSA"}, {0, "HS256"}, {0, "none"},  {0, "RS512"}, {1, "RS256"},
    {1, "PS256"}, {1, "ES384"}, {1, "EdDSA"}, {2, "ES256"}, {2, "RS256"}, {2, "HS256"},
};

START_TEST(test_jwks_skips_inconsistent_alg)
{
    EVP_PKEY *keys[] = {rsa_key, ec_key, ed_key};
    ck_assert_uint_eq(parse_one(jwk_of(keys[bad_alg[_i].key], "k", bad_alg[_i].alg)), 0);
    json_t *jwk = jwk_of(keys[bad_alg[_i].key], "k", NULL);
    json_object_set_new(jwk, "alg", json_integer(1));
    ck_assert_uint_eq(parse_one(jwk), 0);
    ck_assert_uint_eq(parse_one(jwk_of(keys[bad_alg[_i].key], "k", NULL)), 1);
}
END_TEST

START_TEST(test_jwks_alg_narrows_key)
{
    idd_jwks_t set;
    json_t *doc = json_pack("{s:[o,o,o,o]}", "keys", jwk_of(rsa_key, "a", "PS256"),
                            jwk_of(ec_key, "b", "ES256"), jwk_of(ed_key, "c", "EdDSA"),
                            jwk_of(rsa_key, "d", NULL));
    char *text = json_dumps(doc, JSON_COMPACT);
    ck_assert_int_eq(idd_jwks_parse(text, strlen(text), &set), 0);
    ck_assert_uint_eq(set.n, 4);
    ck_assert_uint_eq(set.keys[0].algs, IDD_JWA_PS256);
    ck_assert_uint_eq(set.keys[1].algs, IDD_JWA_ES256);
    ck_assert_uint_eq(set.keys[2].algs, IDD_JWA_EDDSA);
    ck_assert_uint_eq(set.keys[3].algs, IDD_JWA_RS256 | IDD_JWA_PS256);
    idd_jwks_dispose(&set);
    ck_assert_uint_eq(set.n, 0);
    ck_assert_ptr_null(set.keys);
    idd_jwks_dispose(&set); /* twice is harmless */
    idd_jwks_dispose(NULL);
    free(text);
    json_decref(doc);
}
END_TEST

START_TEST(test_jwks_keeps_key_without_kid)
{
    idd_jwks_t set;
    json_t *doc = json_pack("{s:[o]}", "keys", jwk_of(ed_key, NULL, NULL));
    char *text = json_dumps(doc, JSON_COMPACT);
    ck_assert_int_eq(idd_jwks_parse(text, strlen(text), &set), 0);
    ck_assert_uint_eq(set.n, 1);
    ck_assert_str_eq(set.keys[0].kid, "");
    ck_assert_ptr_eq(idd_jwks_find(&set, ""), &set.keys[0]);
    idd_jwks_dispose(&set);
    free(text);
    json_decref(doc);

    /* A kid that cannot be stored whole is skipped rather than cut (a cut kid could
     * collide with another key's). */
    char long_kid[129];
    memset(long_kid, 'k', 128);
    long_kid[128] = '\0';
    ck_assert_uint_eq(parse_one(jwk_of(ed_key, long_kid, NULL)), 0);
    long_kid[127] = '\0';
    ck_assert_uint_eq(parse_one(jwk_of(ed_key, long_kid, NULL)), 1);
}
END_TEST

static const char *const not_jwks[] = {
    "",
    "not json",
    "[]",
    "{}",
    "{\"keys\":{}}",
    "{\"keys\":\"x\"}",
    "{\"keys\":[]} trailing",
    "{\"keys\":[],\"keys\":[]}",
    "null",
};

/* Anything but an object with a "keys" array is not a JWKS: an HTML error page or a
 * truncated body must not become an empty set silently. */
START_TEST(test_jwks_refuses_non_jwks)
{
    idd_jwks_t set = {(idd_jwk_t *)&set, 99};
    ck_assert_int_eq(idd_jwks_parse(not_jwks[_i], strlen(not_jwks[_i]), &set), IDD_EINVAL);
    ck_assert_ptr_null(set.keys);
    ck_assert_uint_eq(set.n, 0);
}
END_TEST

START_TEST(test_jwks_refuses_oversized_and_null)
{
    idd_jwks_t set;
    size_t big = 1024 * 1024 + 1;
    char *text = idd_xmalloc(big + 1);
    /* {"keys":[]} followed by spaces up to 1 MiB + 1 bytes: valid JSON, too big. */
    memset(text, ' ', big);
    memcpy(text, "{\"keys\":[]}", 11);
    text[big] = '\0';
    ck_assert_int_eq(idd_jwks_parse(text, big, &set), IDD_EINVAL);
    ck_assert_int_eq(idd_jwks_parse(text, big - 1, &set), 0); /* exactly 1 MiB is fine */
    ck_assert_uint_eq(set.n, 0);
    idd_jwks_dispose(&set);
    free(text);
    ck_assert_int_eq(idd_jwks_parse(NULL, 0, &set), IDD_EINVAL);
    ck_assert_int_eq(idd_jwks_parse("{\"keys\":[]}", 11, NULL), IDD_EINVAL);
}
END_TEST

/* ==== algorithm names and statuses ==== */

static Suite *jwks_suite(void)
{
    Suite *s = suite_create("jwks");

    TCase *tc = tcase_create("jwks");
    tcase_add_unchecked_fixture(tc, make_keys, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_jwks_keeps_usable_keys);
    tcase_add_test(tc, test_jwks_find);
    tcase_add_test(tc, test_jwks_skips_use_enc);
    tcase_add_test(tc, test_jwks_skips_key_ops_without_verify);
    tcase_add_loop_test(tc, test_jwks_skips_private_members, 0,
                        (int)IDD_ARRAY_LEN(private_members));
    tcase_add_test(tc, test_jwks_skips_p384);
    tcase_add_test(tc, test_jwks_skips_rsa1024);
    tcase_add_test(tc, test_jwks_skips_unknown_kty);
    tcase_add_test(tc, test_jwks_skips_off_curve_point);
    tcase_add_test(tc, test_jwks_skips_short_coordinate);
    tcase_add_test(tc, test_jwks_skips_other_crv);
    tcase_add_test(tc, test_jwks_skips_bad_rsa_exponent);
    tcase_add_loop_test(tc, test_jwks_skips_inconsistent_alg, 0, (int)IDD_ARRAY_LEN(bad_alg));
    tcase_add_test(tc, test_jwks_alg_narrows_key);
    tcase_add_test(tc, test_jwks_keeps_key_without_kid);
    tcase_add_loop_test(tc, test_jwks_refuses_non_jwks, 0, (int)IDD_ARRAY_LEN(not_jwks));
    tcase_add_test(tc, test_jwks_refuses_oversized_and_null);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(jwks_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    free_keys();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
