/*
 * External JWTs (jose/jwt_verify.c): the compact parser (idd_jwt_decode) and the whole
 * verification (idd_jwt_verify: header checks, key selection, signature, times, issuer and
 * audience) against a fixed JWKS of one P-256 key, kid "fuzz". The seeds in
 * corpus/jwt/ are signed with that key's private half (tests/fuzz/seeds.py), so the
 * fuzzer starts past the signature and reaches the claims checks.
 *
 * Input: the token.
 *
 * Promises checked: decode and verify agree on what is malformed; a verified token's
 * claims are an object whose iss is the issuer and whose exp is in the future; a status
 * always has a name.
 */
#include <string.h>

#include <jansson.h>

#include "identityd/core/jwa.h"
#include "identityd/jose/jwks.h"

#include "fuzz.h"

#define NOW 1800000000
#define ISSUER "https://issuer.example"

static const char jwks_json[] =
    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"fuzz\",\"use\":\"sig\","
    "\"x\":\"i6q4qpJOFguiZeq7n600mHClIoeblynkd2GUwxJMA3U\","
    "\"y\":\"dGXFf2IffO1XxkwhZnpyVN1ksJEzUnCFzI-uKHvL7hQ\"}]}";

static idd_jwks_t keys;

static const idd_jwks_t *the_keys(void)
{
    static bool loaded;
    if (!loaded) {
        FUZZ_CHECK(idd_jwks_parse(jwks_json, strlen(jwks_json), &keys) == 0 && keys.n == 1);
        loaded = true;
    }
    return &keys;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *token = (const char *)data;
    json_t *header = NULL, *claims = NULL;
    idd_jwt_status_t decoded = idd_jwt_decode(token, size, &header, &claims);
    if (decoded == IDD_JWT_OK) {
        FUZZ_CHECK(json_is_object(header) && json_is_object(claims));
        FUZZ_CHECK(size <= IDD_JWT_MAX);
    } else {
        FUZZ_CHECK(decoded == IDD_JWT_MALFORMED && header == NULL && claims == NULL);
    }
    json_decref(header);
    json_decref(claims);

    static const char *const audiences[] = {"identityd", "https://docspace.example"};
    idd_jwt_policy_t policy = {
        .algs = IDD_JWA_EXTERNAL,
        .issuer = ISSUER,
        .audiences = audiences,
        .n_audiences = 2,
        .now = NOW,
        .skew = 60,
    };
    json_t *verified = NULL;
    idd_jwt_status_t st = idd_jwt_verify(token, size, the_keys(), &policy, &verified);
    FUZZ_CHECK(idd_jwt_status_name(st) != NULL);
    if (decoded != IDD_JWT_OK)
        FUZZ_CHECK(st == IDD_JWT_MALFORMED);
    if (st == IDD_JWT_OK) {
        FUZZ_CHECK(json_is_object(verified));
        const char *iss = json_string_value(json_object_get(verified, "iss"));
        FUZZ_CHECK(iss != NULL && strcmp(iss, ISSUER) == 0);
        json_t *exp = json_object_get(verified, "exp");
        FUZZ_CHECK(json_is_number(exp) && json_number_value(exp) > NOW - 60);
    } else {
        FUZZ_CHECK(verified == NULL);
    }
    json_decref(verified);
    return 0;
}
