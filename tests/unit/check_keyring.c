/*
 * The keyring: loading keys from a hand-built configuration, refusing the configurations
 * that would produce tokens nobody can verify (or anybody can forge), the JWKS it renders
 * and the files idd_key_generate writes. The JWK values are compared with the public key
 * read back from the PEM file through a different OpenSSL path than the keyring uses, and
 * every JWK is checked to carry no private member: a JWKS that leaked "d" would hand every
 * reader the signing key.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "identityd/core/b64.h"
#include "identityd/core/buf.h"
#include "identityd/core/common.h"
#include "identityd/config/config.h"
#include "identityd/token/keyring.h"
#include "identityd/token/machinekey.h"

#include "vectors.h"

static char dir[] = "/tmp/idd-keyring-XXXXXX";
static char es_pem[512], es2_pem[512], rs_pem[512], ed_pem[512];
static char rsa1024_pem[512], p384_pem[512], pub_pem[512], enc_pem[512], junk_pem[512];
static char mk_file[512], mk_empty_file[512];

#define CFG_PATH "/etc/identityd/test.yaml"

/* ---- a hand-built configuration ---- */

static idd_config_t *cfg_new(void)
{
    idd_config_t *cfg = idd_xcalloc(1, sizeof(*cfg));
    cfg->path = idd_xstrdup(CFG_PATH);
    return cfg;
}

static idd_key_config_t *cfg_add(idd_config_t *cfg, const char *kid, idd_alg_t alg,
                                 const char *file, idd_key_state_t state, int line)
{
    cfg->keys = idd_xrealloc(cfg->keys, (cfg->n_keys + 1) * sizeof(*cfg->keys));
    idd_key_config_t *k = &cfg->keys[cfg->n_keys++];
    memset(k, 0, sizeof(*k));
    k->kid = idd_xstrdup(kid);
    k->alg = alg;
    k->file = idd_xstrdup(file);
    k->state = state;
    k->line = line;
    return k;
}

static idd_key_config_t *cfg_add_hs(idd_config_t *cfg, const char *kid, const char *machine_key,
                                    const char *machine_key_file, idd_key_state_t state, int line)
{
    idd_key_config_t *k = cfg_add(cfg, kid, IDD_ALG_HS256, NULL, state, line);
    k->machine_key = idd_xstrdup(machine_key);
    k->machine_key_file = idd_xstrdup(machine_key_file);
    return k;
}

static void cfg_free(idd_config_t *cfg)
{
    for (size_t i = 0; i < cfg->n_keys; i++) {
        free(cfg->keys[i].kid);
        free(cfg->keys[i].file);
        free(cfg->keys[i].machine_key);
        free(cfg->keys[i].machine_key_file);
    }
    free(cfg->keys);
    free(cfg->path);
    free(cfg);
}

static idd_keyring_t *load_ok(idd_config_t *cfg)
{
    idd_keyring_t *kr = NULL;
    char err[512] = "";
    int rc = idd_keyring_load(cfg, &kr, err, sizeof(err));
    ck_assert_msg(rc == 0, "load failed: %s", err);
    ck_assert_ptr_nonnull(kr);
    return kr;
}

/* Loads cfg expecting failure rc, and an error that names the config file and line. */
static void load_refused(idd_config_t *cfg, int want_rc, int line, const char *needle)
{
    idd_keyring_t *kr = (idd_keyring_t *)&kr; /* must be reset to NULL */
    char err[512] = "";
    char where[128];
    int rc = idd_keyring_load(cfg, &kr, err, sizeof(err));
    ck_assert_msg(rc == want_rc, "rc %d, want %d (%s)", rc, want_rc, err);
    ck_assert_ptr_null(kr);
    snprintf(where, sizeof(where), CFG_PATH ":%d: ", line);
    ck_assert_msg(strncmp(err, where, strlen(where)) == 0, "error \"%s\" lacks \"%s\"", err, where);
    if (needle != NULL)
        ck_assert_msg(strstr(err, needle) != NULL, "error \"%s\" lacks \"%s\"", err, needle);
}

/* ---- key files made once for the whole suite ---- */

static void write_pem(EVP_PKEY *pkey, const char *path, const EVP_CIPHER *cipher, int public)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    if (public)
        ck_assert_int_eq(PEM_write_PUBKEY(f, pkey), 1);
    else
        ck_assert_int_eq(PEM_write_PKCS8PrivateKey(f, pkey, cipher, cipher ? "pass" : NULL,
                                                   cipher ? 4 : 0, NULL, NULL),
                         1);
    fclose(f);
    /* Key files are secret files: only their owner may read them. */
    ck_assert_int_eq(chmod(path, 0600), 0);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(chmod(path, 0600), 0);
}

static void make_files(void)
{
    char err[512];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(es_pem, sizeof(es_pem), "%s/es.pem", dir);
    snprintf(es2_pem, sizeof(es2_pem), "%s/es2.pem", dir);
    snprintf(rs_pem, sizeof(rs_pem), "%s/rs.pem", dir);
    snprintf(ed_pem, sizeof(ed_pem), "%s/ed.pem", dir);
    snprintf(rsa1024_pem, sizeof(rsa1024_pem), "%s/rsa1024.pem", dir);
    snprintf(p384_pem, sizeof(p384_pem), "%s/p384.pem", dir);
    snprintf(pub_pem, sizeof(pub_pem), "%s/pub.pem", dir);
    snprintf(enc_pem, sizeof(enc_pem), "%s/enc.pem", dir);
    snprintf(junk_pem, sizeof(junk_pem), "%s/junk.pem", dir);
    snprintf(mk_file, sizeof(mk_file), "%s/machinekey", dir);
    snprintf(mk_empty_file, sizeof(mk_empty_file), "%s/machinekey-empty", dir);

    ck_assert_int_eq(idd_key_generate(IDD_ALG_ES256, es_pem, err, sizeof(err)), 0);
    ck_assert_int_eq(idd_key_generate(IDD_ALG_ES256, es2_pem, err, sizeof(err)), 0);
    ck_assert_int_eq(idd_key_generate(IDD_ALG_RS256, rs_pem, err, sizeof(err)), 0);
    ck_assert_int_eq(idd_key_generate(IDD_ALG_EDDSA, ed_pem, err, sizeof(err)), 0);

    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    ck_assert_ptr_nonnull(k);
    write_pem(k, rsa1024_pem, NULL, 0);
    EVP_PKEY_free(k);
    k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    ck_assert_ptr_nonnull(k);
    write_pem(k, p384_pem, NULL, 0);
    write_pem(k, pub_pem, NULL, 1);
    EVP_PKEY_free(k);
    k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ck_assert_ptr_nonnull(k);
    write_pem(k, enc_pem, EVP_aes_256_cbc(), 0);
    EVP_PKEY_free(k);
    write_text(junk_pem,
               "-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n");
    write_text(mk_file, "111\r\n \t\n");
    write_text(mk_empty_file, " \n");
}

static void remove_files(void)
{
    const char *files[] = {es_pem,  es2_pem, rs_pem,   ed_pem,  rsa1024_pem,  p384_pem,
                           pub_pem, enc_pem, junk_pem, mk_file, mk_empty_file};
    for (size_t i = 0; i < IDD_ARRAY_LEN(files); i++)
        unlink(files[i]);
    rmdir(dir);
}

static EVP_PKEY *read_pem(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(pkey);
    return pkey;
}

static size_t b64url_member(json_t *jwk, const char *name, unsigned char *out, size_t cap)
{
    json_t *v = json_object_get(jwk, name);
    ck_assert_msg(json_is_string(v), "member %s missing or not a string", name);
    const char *text = json_string_value(v);
    size_t n = 0;
    ck_assert_uint_le(IDD_B64_DECODED_MAX(strlen(text)), cap);
    ck_assert_int_eq(idd_b64url_decode(out, &n, text, strlen(text)), 0);
    return n;
}

static void assert_members(json_t *jwk, const char *const *want, size_t n)
{
    ck_assert_uint_eq(json_object_size(jwk), n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(json_is_string(json_object_get(jwk, want[i])), "member %s missing", want[i]);
    /* Private members of RFC 7518 §6.2.2 and §6.3.2, and the symmetric "k". */
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
    for (size_t i = 0; i < IDD_ARRAY_LEN(private_members); i++)
        ck_assert_msg(json_object_get(jwk, private_members[i]) == NULL,
                      "private member %s published", private_members[i]);
}

/* The JWKS of a keyring whose only key is this one, parsed; returns its single JWK. */
static json_t *single_jwk(idd_keyring_t *kr, json_t **doc)
{
    size_t len = 0;
    const char *text = idd_keyring_jwks(kr, &len);
    ck_assert_uint_eq(strlen(text), len);
    *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    ck_assert_ptr_nonnull(*doc);
    ck_assert_uint_eq(json_object_size(*doc), 1);
    json_t *keys = json_object_get(*doc, "keys");
    ck_assert(json_is_array(keys));
    ck_assert_uint_eq(json_array_size(keys), 1);
    return json_array_get(keys, 0);
}

/* ---- JWK output ---- */

START_TEST(test_jwk_es256)
{
    idd_config_t *cfg = cfg_new();
    cfg_add(cfg, "ec-1", IDD_ALG_ES256, es_pem, IDD_KEY_ACTIVE, 5);
    idd_keyring_t *kr = load_ok(cfg);
    json_t *doc;
    json_t *jwk = single_jwk(kr, &doc);

    static const char *const members[] = {"kty", "kid", "alg", "use", "crv", "x", "y"};
    assert_members(jwk, members, IDD_ARRAY_LEN(members));
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "kty")), "EC");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "kid")), "ec-1");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "alg")), "ES256");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "use")), "sig");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "crv")), "P-256");

    /* x and y are the point's coordinates: compare with the uncompressed encoding 04‖X‖Y
     * read from the PEM file as an octet string. */
    unsigned char x[48], y[48], point[133];
    size_t point_len = 0;
    ck_assert_uint_eq(b64url_member(jwk, "x", x, sizeof(x)), 32);
    ck_assert_uint_eq(b64url_member(jwk, "y", y, sizeof(y)), 32);
    EVP_PKEY *pkey = read_pem(es_pem);
    ck_assert_int_eq(EVP_PKEY_set_utf8_string_param(
                         pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "uncompressed"),
                     1);
    ck_assert_int_eq(EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, point,
                                                     sizeof(point), &point_len),
                     1);
    ck_assert_uint_eq(point_len, 65);
    ck_assert_int_eq(point[0], 0x04);
    ck_assert_mem_eq(x, point + 1, 32);
    ck_assert_mem_eq(y, point + 33, 32);

    EVP_PKEY_free(pkey);
    json_decref(doc);
    idd_keyring_free(kr);
    cfg_free(cfg);
}
END_TEST

/* RFC 7518 §6.2.1.2: x and y are always 32 bytes, left-padded with zeros. A key whose x
 * (loop 0) or y (loop 1) starts with a zero byte (1 in 256) shows whether the padding is
 * there; such a key is searched for here rather than hoped for. */
START_TEST(test_jwk_es256_pads_coordinates)
{
    size_t zero_at = _i == 0 ? 1 : 33;
    char path[600];
    unsigned char point[133];
    size_t point_len = 0;
    EVP_PKEY *pkey = NULL;
    int found = 0;

    for (int i = 0; i < 20000 && !found; i++) {
        EVP_PKEY_free(pkey);
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        ck_assert_ptr_nonnull(pkey);
        ck_assert_int_eq(EVP_PKEY_set_utf8_string_param(
                             pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "uncompressed"),
                         1);
        ck_assert_int_eq(EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, point,
                                                         sizeof(point), &point_len),
                         1);
        found = point[zero_at] == 0;
    }
    ck_assert_msg(found, "no P-256 key with a leading zero coordinate byte");
    snprintf(path, sizeof(path), "%s/leading-zero.pem", dir);
    write_pem(pkey, path, NULL, 0);
    EVP_PKEY_free(pkey);

    idd_config_t *cfg = cfg_new();
    cfg_add(cfg, "lz", IDD_ALG_ES256, path, IDD_KEY_ACTIVE, 5);
    idd_keyring_t *kr = load_ok(cfg);
    json_t *doc;
    json_t *jwk = single_jwk(kr, &doc);
    unsigned char x[48], y[48];
    ck_assert_uint_eq(b64url_member(jwk, "x", x, sizeof(x)), 32);
    ck_assert_uint_eq(b64url_member(jwk, "y", y, sizeof(y)), 32);
    ck_assert_mem_eq(x, point + 1, 32);
    ck_assert_mem_eq(y, point + 33, 32);

    json_decref(doc);
    idd_keyring_free(kr);
    cfg_free(cfg);
    unlink(path);
}
END_TEST

START_TEST(test_jwk_rs256)
{
    idd_config_t *cfg = cfg_new();
    cfg_add(cfg, "rsa-1", IDD_ALG_RS256, rs_pem, IDD_KEY_ACTIVE, 5);
    idd_keyring_t *kr = load_ok(cfg);
    json_t *doc;
    json_t *jwk = single_jwk(kr, &doc);

    static const char *const members[] = {"kty", "kid", "alg", "use", "n", "e"};
    assert_members(jwk, members, IDD_ARRAY_LEN(members));
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "kty")), "RSA");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "alg")), "RS256");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "use")), "sig");
    /* e = 65537, minimal big-endian. */
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "e")), "AQAB");

    unsigned char n[600], want[600];
    size_t n_len = b64url_member(jwk, "n", n, sizeof(n));
    ck_assert_uint_eq(n_len, 384); /* 3072 bits, no leading zero byte */
    ck_assert_int_ne(n[0], 0);
    EVP_PKEY *pkey = read_pem(rs_pem);
    BIGNUM *bn = NULL;
    ck_assert_int_eq(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &bn), 1);
    ck_assert_int_eq(BN_bn2bin(bn, want), 384);
    ck_assert_mem_eq(n, want, 384);

    BN_free(bn);
    EVP_PKEY_free(pkey);
    json_decref(doc);
    idd_keyring_free(kr);
    cfg_free(cfg);
}
END_TEST

START_TEST(test_jwk_eddsa)
{
    idd_config_t *cfg = cfg_new();
    cfg_add(cfg, "ed-1", IDD_ALG_EDDSA, ed_pem, IDD_KEY_ACTIVE, 5);
    idd_keyring_t *kr = load_ok(cfg);
    json_t *doc;
    json_t *jwk = single_jwk(kr, &doc);

    static const char *const members[] = {"kty", "kid", "alg", "use", "crv", "x"};
    assert_members(jwk, members, IDD_ARRAY_LEN(members));
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "kty")), "OKP");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "crv")), "Ed25519");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "alg")), "EdDSA");

    unsigned char x[48], pub[32];
    size_t pub_len = sizeof(pub);
    ck_assert_uint_eq(b64url_member(jwk, "x", x, sizeof(x)), 32);
    EVP_PKEY *pkey = read_pem(ed_pem);
    ck_assert_int_eq(EVP_PKEY_get_raw_public_key(pkey, pub, &pub_len), 1);
    ck_assert_mem_eq(x, pub, 32);

    EVP_PKEY_free(pkey);
    json_decref(doc);
    idd_keyring_free(kr);
    cfg_free(cfg);
}
END_TEST

/* An HS256 key is a shared secret: it has no public form and never enters the JWKS, even
 * when it is the active key. Published keys are in the JWKS, in config order. */
START_TEST(test_jwks_skips_hs256)
{
    idd_config_t *cfg = cfg_new();
    cfg_add_hs(cfg, "docspace-hs", "111", NULL, IDD_KEY_ACTIVE, 3);
    cfg_add(cfg, "ec-1", IDD_ALG_ES256, es_pem, IDD_KEY_PUBLISHED, 7);
    cfg_add(cfg, "rsa-1", IDD_ALG_RS256, rs_pem, IDD_KEY_PUBLISHED, 11);
    cfg_add(cfg, "ed-1", IDD_ALG_EDDSA, ed_pem, IDD_KEY_PUBLISHED, 15);
    idd_keyring_t *kr = load_ok(cfg);

    size_t len;
    const char *text = idd_keyring_jwks(kr, &len);
    ck_assert_ptr_null(strstr(text, "docspace-hs"));
    ck_assert_ptr_null(strstr(text, "HS256"));
    ck_assert_ptr_null(strstr(text, "\"oct\""));
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    ck_assert_ptr_nonnull(doc);
    json_t *keys = json_object_get(doc, "keys");
    ck_assert_uint_eq(json_array_size(keys), 3);
    static const char *const kids[] = {"ec-1", "rsa-1", "ed-1"};
    for (size_t i = 0; i < 3; i++)
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(keys, i), "kid")),
                         kids[i]);

    /* idd_key_jwk refuses the HS256 key and leaves the buffer as it was. */
    const idd_key_t *hs = idd_keyring_find(kr, "docspace-hs");
    ck_assert_ptr_nonnull(hs);
    idd_buf_t b;
    idd_buf_init(&b);
    idd_buf_puts(&b, "before");
    ck_assert_int_eq(idd_key_jwk(hs, &b), IDD_EINVAL);
    ck_assert_str_eq(b.data, "before");
    ck_assert_uint_eq(b.len, 6);
    /* ...and renders an asymmetric one exactly as the JWKS has it. */
    idd_buf_reset(&b);
    ck_assert_int_eq(idd_key_jwk(idd_keyring_find(kr, "ed-1"), &b), 0);
    ck_assert_ptr_nonnull(strstr(text, b.data));
    idd_buf_dispose(&b);

    json_decref(doc);
    idd_keyring_free(kr);
    cfg_free(cfg);
}
END_TEST

/* A kid with JSON metacharacters is escaped in the JWKS, not spliced into it. */
START_TEST(test_jwks_escapes_kid)
{
    idd_config_t *cfg = cfg_new();
    cfg_add(cfg, "a\"b\\c", IDD_ALG_EDDSA, ed_pem, IDD_KEY_ACTIVE, 5);
    idd_keyring_t *kr = load_ok(cfg);
    json_t *doc;
    json_t *jwk = single_jwk(kr, &doc);
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "kid")), "a\"b\\c");
    json_decref(doc);
    idd_keyring_free(kr);
    cfg_free(cfg);
}
END_TEST

/* ---- loading and its refusals ---- */

START_TEST(test_lookup)
{
    idd_config_t *cfg = cfg_new();
    cfg_add(cfg, "ec-old", IDD_ALG_ES256, es2_pem, IDD_KEY_PUBLISHED, 3);
    cfg_add(cfg, "ec-new", IDD_ALG_ES256, es_pem, IDD_KEY_ACTIVE, 8);
    cfg_add_hs(cfg, "hs", "111", NULL, IDD_KEY_PUBLISHED, 13);
    idd_keyring_t *kr = load_ok(cfg);

    ck_assert_uint_eq(idd_keyring_count(kr), 3);
    ck_assert_str_eq(idd_keyring_active(kr)->kid, "ec-new");
    ck_assert_int_eq(idd_keyring_active(kr)->state, IDD_KEY_ACTIVE);
    ck_assert_str_eq(idd_keyring_at(kr, 0)->kid, "ec-old");
    ck_assert_int_eq(idd_keyring_at(kr, 0)->state, IDD_KEY_PUBLISHED);
    ck_assert_str_eq(idd_keyring_at(kr, 2)->kid, "hs");
    ck_assert_ptr_null(idd_keyring_at(kr, 3));
    ck_assert_ptr_eq(idd_keyring_find(kr, "ec-old"), idd_keyring_at(kr, 0));
    ck_assert_ptr_null(idd_keyring_find(kr, "ec-"));
    ck_assert_ptr_null(idd_keyring_find(kr, "EC-NEW"));
    ck_assert_ptr_nonnull(idd_keyring_at(kr, 0)->pkey);
    ck_assert_ptr_null(idd_keyring_at(kr, 0)->secret);
    ck_assert_ptr_null(idd_keyring_at(kr, 2)->pkey);

    idd_keyring_free(kr);
    idd_keyring_free(NULL);
    cfg_free(cfg);
}
END_TEST

static void secret_is_vector_111(const idd_key_t *key)
{
    unsigned char want[256];
    for (size_t i = 0; i < 256; i++) {
        unsigned v;
        ck_assert_int_eq(sscanf(VECTOR_MACHINE_KEY_111_HEX + 2 * i, "%2x", &v), 1);
        want[i] = (unsigned char)v;
    }
    ck_assert_ptr_nonnull(key->secret);
    ck_assert_uint_eq(key->secret_len, 256);
    ck_assert_mem_eq(key->secret, want, 256);
    ck_assert_ptr_null(key->pkey);
}

/* The HS256 secret is DocSpace's derivation of the machine key, inline or from a file whose
 * trailing newline and whitespace are not part of the key. */
START_TEST(test_hs256_machine_key)
{
    idd_config_t *cfg = cfg_new();
    cfg_add_hs(cfg, "inline", "111", NULL, IDD_KEY_ACTIVE, 3);
    cfg_add_hs(cfg, "from-file", NULL, mk_file, IDD_KEY_PUBLISHED, 6);
    idd_keyring_t *kr = load_ok(cfg);
    secret_is_vector_111(idd_keyring_find(kr, "inline"));
    secret_is_vector_111(idd_keyring_find(kr, "from-file"));
    idd_keyring_free(kr);
    cfg_free(cfg);
}
END_TEST

START_TEST(test_hs256_refusals)
{
    idd_config_t *cfg = cfg_new();
    cfg_add_hs(cfg, "both", "111", mk_file, IDD_KEY_ACTIVE, 4);
    load_refused(cfg, IDD_ECONFIG, 4, "exactly one");
    cfg_free(cfg);

    cfg = cfg_new();
    cfg_add_hs(cfg, "neither", NULL, NULL, IDD_KEY_ACTIVE, 5);
    load_refused(cfg, IDD_ECONFIG, 5, NULL);
    cfg_free(cfg);

    /* An empty machine key derives a key anybody can compute. */
    cfg = cfg_new();
    cfg_add_hs(cfg, "empty", NULL, mk_empty_file, IDD_KEY_ACTIVE, 6);
    load_refused(cfg, IDD_ECONFIG, 6, "empty");
    cfg_free(cfg);

    cfg = cfg_new();
    cfg_add_hs(cfg, "missing", NULL, "/nonexistent/machinekey", IDD_KEY_ACTIVE, 7);
    load_refused(cfg, IDD_EIO, 7, "/nonexistent/machinekey");
    cfg_free(cfg);
}
END_TEST

/* Key files are secrets: a copy readable by another account on the host lets it sign tokens.
 * Both kinds (PEM and machine key) are refused when group or others may read them, and the
 * error points at the line of the key that names the file. */
START_TEST(test_shared_key_files_refused)
{
    static const mode_t modes[] = {0640, 0604, 0644, 0660};
    for (size_t i = 0; i < IDD_ARRAY_LEN(modes); i++) {
        ck_assert_int_eq(chmod(es_pem, modes[i]), 0);
        idd_config_t *cfg = cfg_new();
        idd_key_config_t *k = cfg_add(cfg, "ec-1", IDD_ALG_ES256, es_pem, IDD_KEY_ACTIVE, 5);
        k->file_line = 8;
        load_refused(cfg, IDD_ECONFIG, 8, "group or others");
        cfg_free(cfg);

        ck_assert_int_eq(chmod(mk_file, modes[i]), 0);
        cfg = cfg_new();
        k = cfg_add_hs(cfg, "hs", NULL, mk_file, IDD_KEY_ACTIVE, 3);
        k->machine_key_file_line = 4;
        load_refused(cfg, IDD_ECONFIG, 4, "chmod 600");
        cfg_free(cfg);
    }
    ck_assert_int_eq(chmod(es_pem, 0400), 0);
    ck_assert_int_eq(chmod(mk_file, 0400), 0);
    idd_config_t *cfg = cfg_new();
    cfg_add(cfg, "ec-1", IDD_ALG_ES256, es_pem, IDD_KEY_ACTIVE, 5);
    cfg_add_hs(cfg, "hs", NULL, mk_file, IDD_KEY_PUBLISHED, 9);
    idd_keyring_free(load_ok(cfg));
    cfg_free(cfg);
    ck_assert_int_eq(chmod(es_pem, 0600), 0);
    ck_assert_int_eq(chmod(mk_file, 0600), 0);

    /* A link (as secret mounts present keys) is judged by the file it leads to. */
    char link_path[600];
    snprintf(link_path, sizeof(link_path), "%s.link", es_pem);
    ck_assert_int_eq(symlink(es_pem, link_path), 0);
    cfg = cfg_new();
    cfg_add(cfg, "ec-1", IDD_ALG_ES256, link_path, IDD_KEY_ACTIVE, 5);
    idd_keyring_free(load_ok(cfg));
    ck_assert_int_eq(chmod(es_pem, 0644), 0);
    load_refused(cfg, IDD_ECONFIG, 5, "group or others");
    ck_assert_int_eq(chmod(es_pem, 0600), 0);
    cfg_free(cfg);
    unlink(link_path);
}
END_TEST

/* Two active keys would make the signing key depend on load order. */
START_TEST(test_two_active_refused)
{
    idd_config_t *cfg = cfg_new();
    cfg_add(cfg, "a", IDD_ALG_ES256, es_pem, IDD_KEY_ACTIVE, 12);
    cfg_add(cfg, "b", IDD_ALG_EDDSA, ed_pem, IDD_KEY_ACTIVE, 17);
    load_refused(cfg, IDD_ECONFIG, 17, "line 12");
    cfg_free(cfg);
}
END_TEST

START_TEST(test_no_active_refused)
{
    idd_config_t *cfg = cfg_new();
    cfg_add(cfg, "a", IDD_ALG_ES256, es_pem, IDD_KEY_PUBLISHED, 12);
    cfg_add(cfg, "b", IDD_ALG_EDDSA, ed_pem, IDD_KEY_PUBLISHED, 17);
    load_refused(cfg, IDD_ECONFIG, 12, "active");
    cfg_free(cfg);

    /* No keys at all: the error names the file. */
    cfg = cfg_new();
    idd_keyring_t *kr = NULL;
    char err[256] = "";
    ck_assert_int_eq(idd_keyring_load(cfg, &kr, err, sizeof(err)), IDD_ECONFIG);
    ck_assert_ptr_null(kr);
    ck_assert_int_eq(strncmp(err, CFG_PATH ": ", strlen(CFG_PATH) + 2), 0);
    cfg_free(cfg);
}
END_TEST

/* Duplicate kids would make a token's kid name two keys. */
START_TEST(test_duplicate_kid_refused)
{
    idd_config_t *cfg = cfg_new();
    cfg_add(cfg, "same", IDD_ALG_ES256, es_pem, IDD_KEY_ACTIVE, 20);
    cfg_add(cfg, "other", IDD_ALG_ES256, es2_pem, IDD_KEY_PUBLISHED, 24);
    cfg_add(cfg, "same", IDD_ALG_EDDSA, ed_pem, IDD_KEY_PUBLISHED, 28);
    load_refused(cfg, IDD_ECONFIG, 28, "'same'");
    cfg_free(cfg);
}
END_TEST

static const struct {
    idd_alg_t alg;
    const char *file;
    const char *needle;
} mismatches[] = {
    {IDD_ALG_ES256, ed_pem, "ED25519"},     {IDD_ALG_ES256, rs_pem, "RSA"},
    {IDD_ALG_ES256, p384_pem, "secp384r1"}, {IDD_ALG_RS256, es_pem, "EC"},
    {IDD_ALG_RS256, ed_pem, "ED25519"},     {IDD_ALG_EDDSA, es_pem, "EC"},
    {IDD_ALG_EDDSA, rs_pem, "RSA"},
};

/* A key file whose type does not match its alg is refused at load: the alternative is a
 * service that starts and then fails (or signs something else) on the first request. */
START_TEST(test_type_mismatch_refused)
{
    idd_config_t *cfg = cfg_new();
    cfg_add(cfg, "filler", IDD_ALG_EDDSA, ed_pem, IDD_KEY_PUBLISHED, 2);
    cfg_add(cfg, "wrong", mismatches[_i].alg, mismatches[_i].file, IDD_KEY_ACTIVE, 9);
    load_refused(cfg, IDD_ECONFIG, 9, mismatches[_i].needle);
    cfg_free(cfg);
}
END_TEST

/* RSA below 2048 bits is factorable with enough effort: refused for RS256. */
START_TEST(test_rsa_1024_refused)
{
    idd_config_t *cfg = cfg_new();
    cfg_add(cfg, "weak", IDD_ALG_RS256, rsa1024_pem, IDD_KEY_ACTIVE, 33);
    load_refused(cfg, IDD_ECONFIG, 33, "2048");
    cfg_free(cfg);
}
END_TEST

START_TEST(test_unusable_files_refused)
{
    /* A public key cannot sign. */
    idd_config_t *cfg = cfg_new();
    cfg_add(cfg, "pub", IDD_ALG_ES256, pub_pem, IDD_KEY_ACTIVE, 40);
    load_refused(cfg, IDD_ECONFIG, 40, pub_pem);
    cfg_free(cfg);

    /* An encrypted key is refused rather than prompting for a passphrase at start. */
    cfg = cfg_new();
    cfg_add(cfg, "enc", IDD_ALG_ES256, enc_pem, IDD_KEY_ACTIVE, 41);
    load_refused(cfg, IDD_ECONFIG, 41, "unencrypted");
    cfg_free(cfg);

    cfg = cfg_new();
    cfg_add(cfg, "junk", IDD_ALG_ES256, junk_pem, IDD_KEY_ACTIVE, 42);
    load_refused(cfg, IDD_ECONFIG, 42, NULL);
    cfg_free(cfg);

    cfg = cfg_new();
    cfg_add(cfg, "missing", IDD_ALG_ES256, "/nonexistent/key.pem", IDD_KEY_ACTIVE, 43);
    load_refused(cfg, IDD_EIO, 43, "/nonexistent/key.pem");
    cfg_free(cfg);

    /* A PEM alg without a file. */
    cfg = cfg_new();
    cfg_add(cfg, "nofile", IDD_ALG_RS256, NULL, IDD_KEY_ACTIVE, 44);
    load_refused(cfg, IDD_ECONFIG, 44, NULL);
    cfg_free(cfg);
}
END_TEST

/* ---- generation ---- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char text[8192];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* A key list that has a count but no rows (only a hand-built configuration can have one)
 * counts as no keys: with rotation on, the keyring loads empty instead of reading row 0. */
START_TEST(test_count_without_rows)
{
    idd_config_t *cfg = cfg_new();
    cfg->n_keys = 2;
    cfg->keys = NULL;
    cfg->rotation_every = 3600;
    idd_keyring_t *kr = load_ok(cfg);
    ck_assert_uint_eq(idd_keyring_count(kr), 0);
    ck_assert_ptr_null(idd_keyring_active(kr));
    idd_keyring_free(kr);
    cfg->n_keys = 0;
    cfg_free(cfg);
}
END_TEST

START_TEST(test_generate)
{
    static const struct {
        idd_alg_t alg;
        const char *type;
        int bits;
    } kinds[] = {
        {IDD_ALG_ES256, "EC", 256}, {IDD_ALG_RS256, "RSA", 3072}, {IDD_ALG_EDDSA, "ED25519", 256}};
    char path[600], err[512];

    for (size_t i = 0; i < IDD_ARRAY_LEN(kinds); i++) {
        snprintf(path, sizeof(path), "%s/gen-%zu.pem", dir, i);
        ck_assert_int_eq(idd_key_generate(kinds[i].alg, path, err, sizeof(err)), 0);

        /* Only the owner may read a private key, from the moment it exists. */
        struct stat st;
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0600);

        /* PKCS#8, unencrypted. */
        ck_assert_int_eq(strncmp(slurp(path), "-----BEGIN PRIVATE KEY-----\n", 28), 0);
        EVP_PKEY *pkey = read_pem(path);
        ck_assert(EVP_PKEY_is_a(pkey, kinds[i].type));
        ck_assert_int_eq(EVP_PKEY_get_bits(pkey), kinds[i].bits);
        EVP_PKEY_free(pkey);

        /* An existing file is never overwritten. */
        char before[8192];
        snprintf(before, sizeof(before), "%s", slurp(path));
        ck_assert_int_eq(idd_key_generate(kinds[i].alg, path, err, sizeof(err)), IDD_EEXIST);
        ck_assert_ptr_nonnull(strstr(err, path));
        ck_assert_str_eq(slurp(path), before);
        unlink(path);
    }

    /* HS256 has nothing to generate (the machine key is DocSpace's) and creates no file. */
    snprintf(path, sizeof(path), "%s/gen-hs.pem", dir);
    ck_assert_int_eq(idd_key_generate(IDD_ALG_HS256, path, err, sizeof(err)), IDD_EINVAL);
    ck_assert_int_ne(access(path, F_OK), 0);

    /* A folder that does not exist. */
    ck_assert_int_eq(idd_key_generate(IDD_ALG_ES256, "/nonexistent/x.pem", err, sizeof(err)),
                     IDD_EIO);
}
END_TEST

static Suite *keyring_suite(void)
{
    Suite *s = suite_create("keyring");
    TCase *tc = tcase_create("keyring");
    tcase_add_unchecked_fixture(tc, make_files, remove_files);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_jwk_es256);
    tcase_add_loop_test(tc, test_jwk_es256_pads_coordinates, 0, 2);
    tcase_add_test(tc, test_jwk_rs256);
    tcase_add_test(tc, test_jwk_eddsa);
    tcase_add_test(tc, test_jwks_skips_hs256);
    tcase_add_test(tc, test_jwks_escapes_kid);
    tcase_add_test(tc, test_lookup);
    tcase_add_test(tc, test_hs256_machine_key);
    tcase_add_test(tc, test_hs256_refusals);
    tcase_add_test(tc, test_shared_key_files_refused);
    tcase_add_test(tc, test_two_active_refused);
    tcase_add_test(tc, test_no_active_refused);
    tcase_add_test(tc, test_duplicate_kid_refused);
    tcase_add_loop_test(tc, test_type_mismatch_refused, 0, (int)IDD_ARRAY_LEN(mismatches));
    tcase_add_test(tc, test_rsa_1024_refused);
    tcase_add_test(tc, test_unusable_files_refused);
    tcase_add_test(tc, test_generate);
    tcase_add_test(tc, test_count_without_rows);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(keyring_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
