#!/usr/bin/env python3
"""Writes the hand-made seed inputs of every fuzz target to tests/fuzz/corpus/<name>/seed-*.

Run again after changing it; the fuzzer's own finds (by scripts/fuzz) sit beside these
under libFuzzer's names and are left alone. The JWTs are signed with the P-256 key whose
public half fuzz_jwt.c holds (a fixed scalar: these are test keys, nothing else).
"""
import base64
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, "seed-" + name), "wb") as f:
        f.write(data)


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64(s):
    return base64.b64encode(s.encode()).decode()


KEY = "sk-" + "0123456789abcdef" * 4
SESSION = "A" * 20 + "-_" + "b" * 21  # 43 base64url characters

# credential: selector byte (1: Authorization, 0: ApiKeyBearer; 2: a cookie too), value
for name, sel, value in [
    ("basic", 1, "Basic " + b64("alice@example.com:secret")),
    ("basic-bare", 1, "Basic"),
    ("basic-lower", 1, "basic   " + b64("bob:pa:ss")),
    ("basic-no-colon", 1, "Basic " + b64("nocolon")),
    ("basic-nul", 1, "Basic " + base64.b64encode(b"a\0b:c").decode()),
    ("basic-bad-pad", 1, "Basic YWJj=="),
    ("bearer-key", 1, "Bearer " + KEY),
    ("bearer-jwt", 1, "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"),
    ("bearer-jwt-empty-sig", 3, "Bearer aGVhZA.Ym9keQ."),
    ("bearer-session", 1, "Bearer " + SESSION),
    ("raw-session", 3, "  " + SESSION + "\t"),
    ("apikey-header", 0, KEY),
    ("apikey-header-bearer", 2, " Bearer  " + KEY),
    ("cookie-only", 2, ""),
    ("b64url", 0, "_-8"),
]:
    write("credential", name, bytes([sel]) + value.encode())

for name, value in [
    ("one", "asc_auth_key=" + SESSION),
    ("several", "theme=dark; asc_auth_key=" + SESSION + "; lang=en"),
    ("quoted", 'asc_auth_key="' + SESSION + '"'),
    ("spaces", "  asc_auth_key \t=  " + SESSION + "  ;"),
    ("empty", "asc_auth_key="),
    ("no-eq", "asc_auth_key; x"),
    ("twice", "asc_auth_key=a; asc_auth_key=b"),
    ("lone-quote", 'asc_auth_key="'),
    ("semicolons", ";;;;"),
    ("other-first", "sid=1; asc_auth_key=2"),
]:
    write("cookie", name, value)

for name, value in [
    ("key", KEY),
    ("key-upper", KEY.upper()),
    ("key-name-perms", KEY + "\nbuild server\n*:read\nfiles:write\nfiles:write"),
    ("name-utf8", "x\nclé à molette ✓\naccounts.self:read"),
    ("name-blank", "x\n\u200b \u3000\n*"),
    ("name-control", "x\na\x1bb\n*:write"),
    ("name-long", "x\n" + "n" * 31 + "\nrooms:read"),
    ("perms-many", "x\nname\n" + "\n".join(["*", "*:read", "*:write", "accounts:read",
                                             "accounts:write", "accounts.self:read", "files:read",
                                             "rooms:write"])),
    ("perm-unknown", "x\nn\nadmin:write"),
    ("scopes", "accounts:write files:read"),
]:
    write("token", name, value)

# request: selector (0 authority, 1 last element, 2 X-Forwarded-For hop, 3 query), value
for name, sel, value in [
    ("host", 0, "docspace.example.com"),
    ("host-port", 0, "docspace.example.com:8443"),
    ("host-port-zero", 0, "a.example:0443"),
    ("host-v6", 0, "[2001:db8::1]:443"),
    ("host-v6-bare", 0, "[::1]"),
    ("host-bad", 0, "exa_mple.com:99999"),
    ("element", 1, "http, https ,\thttps "),
    ("element-empty", 1, ", ,"),
    ("hop-v4", 2, "203.0.113.7"),
    ("hop-v6", 2, "[2001:db8::7]"),
    ("hop-mapped", 2, "::ffff:198.51.100.2"),
    ("hop-bad", 2, "unknown"),
    ("query", 3, "a=1&origin=https%3A%2F%2Fportal.example.com&b=2"),
    ("query-plus", 3, "origin=a+b"),
    ("query-bad-escape", 3, "origin=%4"),
    ("query-none", 3, "originx=1&&"),
]:
    write("request", name, bytes([sel]) + value.encode())

for name, sel, value in [
    ("get", 0, "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"),
    ("post-length", 0, "POST /api HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n{}"),
    ("chunked", 0, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
    ("both", 0, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
    ("two-hosts", 0, "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"),
    ("two-lengths", 0, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"),
    ("length-sign", 0, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n"),
    ("te-list", 0, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
    ("http10", 1, "GET / HTTP/1.0\n\n"),
    ("no-host", 0, "\r\n\r\nGET / HTTP/1.1\r\nX: y\r\n\r\n"),
    ("folded", 0, "GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n"),
]:
    write("framing", name, bytes([sel]) + value.encode())


def sign_es256(header, claims):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    key = ec.derive_private_key(
        0x1D3A5C7E9F0B2D4F6A8C0E1F3B5D7F9A1C3E5A7B9D0F2E4C6A8B0D1F3E5A7C9B, ec.SECP256R1())
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(claims, separators=(",", ":")).encode()))
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


NOW = 1800000000
good = {"iss": "https://issuer.example", "aud": "identityd", "sub": "u1", "exp": NOW + 600,
        "iat": NOW - 10, "nbf": NOW - 10}
for name, header, claims in [
    ("valid", {"alg": "ES256", "kid": "fuzz", "typ": "JWT"}, good),
    ("valid-at", {"alg": "ES256", "kid": "fuzz", "typ": "at+jwt"}, dict(good, aud=["x", "identityd"])),
    ("expired", {"alg": "ES256", "kid": "fuzz"}, dict(good, exp=NOW - 3600)),
    ("future", {"alg": "ES256", "kid": "fuzz"}, dict(good, nbf=NOW + 3600)),
    ("issuer", {"alg": "ES256", "kid": "fuzz"}, dict(good, iss="https://other.example")),
    ("audience", {"alg": "ES256", "kid": "fuzz"}, dict(good, aud=["nobody"])),
    ("no-kid", {"alg": "ES256"}, good),
    ("crit", {"alg": "ES256", "kid": "fuzz", "crit": ["exp"]}, good),
    ("jku", {"alg": "ES256", "kid": "fuzz", "jku": "https://evil.example/jwks"}, good),
    ("kid-unknown", {"alg": "ES256", "kid": "other"}, good),
    ("rs256", {"alg": "RS256", "kid": "fuzz"}, good),
]:
    write("jwt", name, sign_es256(header, claims))
write("jwt", "none", b64url(b'{"alg":"none"}') + "." + b64url(json.dumps(good).encode()) + ".")
write("jwt", "hs256", b64url(b'{"alg":"HS256"}') + "." + b64url(b'{}') + "." + b64url(b"x" * 32))
write("jwt", "jwe", "a.b.c.d.e")
write("jwt", "dup", b64url(b'{"alg":"ES256","alg":"none"}') + "." + b64url(b"{}") + ".AA")

EC = {"kty": "EC", "crv": "P-256", "kid": "fuzz", "use": "sig",
      "x": "i6q4qpJOFguiZeq7n600mHClIoeblynkd2GUwxJMA3U",
      "y": "dGXFf2IffO1XxkwhZnpyVN1ksJEzUnCFzI-uKHvL7hQ"}
RSA_N = b64url(((0xC0FFEE << 2024) | 0x1234567).to_bytes(256, "big"))
RSA = {"kty": "RSA", "kid": "r1", "alg": "RS256", "n": RSA_N, "e": "AQAB"}
OKP = {"kty": "OKP", "crv": "Ed25519", "kid": "o1", "x": b64url(bytes(range(32)))}
for name, doc in [
    ("ec", {"keys": [EC]}),
    ("three", {"keys": [EC, RSA, OKP]}),
    ("ec-off-curve", {"keys": [dict(EC, y=b64url(b"\x01" * 32))]}),
    ("private", {"keys": [dict(EC, d=b64url(b"\x02" * 32))]}),
    ("enc", {"keys": [dict(EC, use="enc")]}),
    ("small-rsa", {"keys": [dict(RSA, n=b64url(b"\xc1" * 64))]}),
    ("key-ops", {"keys": [dict(EC, key_ops=["verify"]), dict(EC, kid="e2", key_ops=["sign"])]}),
    ("same-kid", {"keys": [EC, dict(OKP, kid="fuzz")]}),
    ("unknown-kty", {"keys": [{"kty": "oct", "k": "AAAA"}]}),
    ("empty", {"keys": []}),
    ("not-keys", {"key": []}),
]:
    write("jwks", name, json.dumps(doc))
write("jwks", "array", "[1,2]")

for name, doc in [
    ("signin", {"userName": "alice@example.com", "password": "secret", "rememberMe": True}),
    ("signin-hash", {"userName": "alice@example.com", "passwordHash": "a" * 64}),
    ("signin-code", {"userName": "a@b.c", "password": "p", "code": "123456"}),
    ("tfa-confirm", {"code": "000000", "confirmKey": "k"}),
    ("key", {"name": "build", "permissions": ["files:read", "rooms:write"], "expiresInDays": 30}),
    ("key-full", {"name": "all", "permissions": ["*"]}),
    ("key-bad", {"name": 5, "permissions": "files:read"}),
    ("null-members", {"userName": None, "password": None}),
]:
    write("body", name, json.dumps(doc))
write("body", "nul-inside", '{"userName":"a\\u0000b","password":"x"}')
write("body", "duplicate", '{"userName":"a","userName":"b"}')
write("body", "array", '[{"userName":"a"}]')
write("body", "deep", "[" * 100 + "]" * 100)

for name, text in [
    ("minimal", "listen: 127.0.0.1:8080\n"),
    ("empty", ""),
    ("null", "~\n"),
    ("list-top", "- a\n- b\n"),
    ("unknown-key", "listen: 127.0.0.1:8080\nnope: 1\n"),
    ("tenants", "tenants:\n  - id: 1\n    domains: [docspace.example.com]\n"
                "    origins: [https://portal.example.com]\ntrusted_proxies: [10.0.0.0/8, ::1]\n"),
    ("anchors", "a: &x {b: 1}\nc: *x\n"),
    ("bad-int", "threads: 99999999999999999999\n"),
    ("tabs", "listen:\t1\n"),
    ("database", "database: postgresql://user@localhost/identityd\n"),
    ("log", "log:\n  level: debug\n  format: json\n"),
]:
    write("config", name, text)

# The example configuration as shipped, with and without its comments: every key, valid.
with open(os.path.join(HERE, "..", "..", "config", "identityd.example.yaml")) as f:
    example = f.read()
write("config", "example", example)
write("config", "example-bare",
      "\n".join(l for l in example.splitlines() if l.strip() and not l.lstrip().startswith("#")))


# Dictionaries (libFuzzer's -dict, used by scripts/fuzz when tests/fuzz/<name>.dict exists):
# the words a parser looks for, which random mutation rarely spells.
def dictionary(target, words):
    with open(os.path.join(HERE, target + ".dict"), "w") as f:
        f.write("# written by tests/fuzz/seeds.py\n")
        for w in sorted(set(words)):
            # libFuzzer's escapes: \\, \" and \xNN only.
            quoted = "".join(c if 32 <= ord(c) < 127 and c not in '\\"' else
                             ("\\" + c if c in '\\"' else "\\x%02x" % ord(c)) for c in w)
            f.write('"%s"\n' % quoted)


keys = []
for line in example.splitlines():
    text = line.lstrip(" #-")
    if ":" in text:
        k = text.split(":", 1)[0]
        if k and k.replace("_", "").replace(".", "").isalnum():
            keys.append(k + ":")
dictionary("config", keys + ["true", "false", "~", "- ", "{", "}", "[", "]", "&a", "*a", "!!str",
                             "\n  ", "127.0.0.1:8080", "[::1]:8080", "10.0.0.0/8", "https://",
                             "postgresql://", "file:", "ES256", "RS256", "EdDSA", "HS256"])
jose = ["alg", "kid", "typ", "crit", "jku", "x5u", "jwk", "x5c", "enc", "cty", "b64", "iss",
        "aud", "exp", "nbf", "iat", "sub", "ES256", "RS256", "PS256", "EdDSA", "HS256", "none",
        "JWT", "at+jwt", "application/jwt", "keys", "kty", "EC", "RSA", "OKP", "oct", "crv",
        "P-256", "P-384", "Ed25519", "X25519", "use", "sig", "key_ops", "verify", "x", "y", "n",
        "e", "d", "AQAB"]
dictionary("jwks", ['"%s"' % w for w in jose] + [":", ",", "[", "]", "{", "}", "null", "1e999"])
dictionary("jwt", [b64url(('"%s"' % w).encode()) for w in jose] + [".", "eyJ", "fQ", "In0"])

# tfa: selector (0 code typed, 1 backup code, 2 confirm header, 3 base32), value
for name, sel, value in [
    ("code", 0, "123456"),
    ("code-spaces", 0, " \t654321\r\n"),
    ("code-short", 0, "12345"),
    ("code-letters", 0, "12a456"),
    ("backup", 1, "abcdef"),
    ("backup-used", 1, "ABC123"),
    ("backup-trim", 1, "  -_-_-_\n"),
    ("backup-alphabet", 1, "ab$def"),
    ("confirm", 2, "type=TfaAuth&uid=00000000-0000-0000-0000-000000000001&key=abc"),
    ("confirm-activation", 2, "type=tfaactivation&key="),
    ("confirm-empty", 2, "&&type&=x&key"),
    ("confirm-type", 2, "TFAAUTH"),
    ("base32", 3, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
    ("base32-lower", 3, "gezdgnbv"),
    ("base32-pad", 3, "GE======"),
    ("base32-bits", 3, "GF"),
]:
    write("tfa", name, bytes([sel]) + value.encode())

# useragent: selector (0 User-Agent; 1 IP list, then an address after a newline), value
for name, sel, value in [
    ("chrome", 0, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                  "Gecko) Chrome/120.0.6099.130 Safari/537.36"),
    ("safari-ios", 0, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
                      "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"),
    ("firefox-linux", 0, "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"),
    ("edge", 0, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like "
                "Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91"),
    ("android-opera", 0, "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/119.0 Mobile "
                         "Safari/537.36 OPR/79.0"),
    ("curl", 0, "curl/7.88.1"),
    ("cros", 0, "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) Chrome/120.0.0.0"),
    ("garbage", 0, "Chrome/\xff\x01 Firefox/999999999999999999999.1"),
    ("list", 1, "10.0.0.0/8, 192.168.1.1-192.168.1.9,::1\n192.168.1.5"),
    ("list-v6", 1, "2001:db8::/32 , ::ffff:10.0.0.1\n2001:db8::1"),
    ("list-bad", 1, "10.0.0.0/33,,x\n10.0.0.1"),
    ("list-range-back", 1, "10.0.0.9-10.0.0.1\n10.0.0.5"),
    ("list-empty", 1, "\n::1"),
]:
    write("useragent", name, bytes([sel]) + value.encode("latin-1"))

# session: selector (0 a token; else a User-Agent copied into at most that many bytes), value
for name, sel, value in [
    ("token", 0, SESSION.encode()),
    ("token-short", 0, SESSION[:-1].encode()),
    ("token-plus", 0, (SESSION[:-1] + "+").encode()),
    ("token-long", 0, (SESSION + "A").encode()),
    ("ua", 255, "Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0".encode()),
    ("ua-utf8-cut", 5, "abcd\u00e9\u20ac".encode()),
    ("ua-controls", 64, b"a\x00b\x1b[31mc\x7f\xc2\x85d"),
    ("ua-ill-formed", 64, b"\xff\xfe\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80 ok"),
    ("ua-empty-bound", 1, b"xyz"),
]:
    write("session", name, bytes([sel]) + value)

# discovery: selector (bit 0: allow_http), then the document, read for the authority
# https://issuer.example/realm
AUTHORITY = "https://issuer.example/realm"
DISCOVERY = {"issuer": AUTHORITY, "jwks_uri": AUTHORITY + "/protocol/openid-connect/certs",
             "introspection_endpoint": AUTHORITY + "/protocol/openid-connect/token/introspect",
             "token_endpoint": AUTHORITY + "/token", "response_types_supported": ["code"],
             "id_token_signing_alg_values_supported": ["ES256", "RS256"]}
for name, doc in [
    ("full", DISCOVERY),
    ("slash", dict(DISCOVERY, issuer=AUTHORITY + "/")),
    ("two-slashes", dict(DISCOVERY, issuer=AUTHORITY + "//")),
    ("minimal", {"issuer": AUTHORITY, "jwks_uri": "https://keys.example/jwks"}),
    ("no-introspection", {k: v for k, v in DISCOVERY.items() if k != "introspection_endpoint"}),
    ("no-jwks", {k: v for k, v in DISCOVERY.items() if k != "jwks_uri"}),
    ("no-issuer", {k: v for k, v in DISCOVERY.items() if k != "issuer"}),
    ("other-issuer", dict(DISCOVERY, issuer="https://evil.example/realm")),
    ("issuer-prefix", dict(DISCOVERY, issuer=AUTHORITY + "x")),
    ("issuer-short", dict(DISCOVERY, issuer=AUTHORITY[:-1])),
    ("issuer-case", dict(DISCOVERY, issuer=AUTHORITY.upper())),
    ("issuer-number", dict(DISCOVERY, issuer=1)),
    ("issuer-empty", dict(DISCOVERY, issuer="")),
    ("jwks-http", dict(DISCOVERY, jwks_uri="http://127.0.0.1:8080/jwks")),
    ("introspection-http", dict(DISCOVERY, introspection_endpoint="http://127.0.0.1:8080/i")),
    ("jwks-file", dict(DISCOVERY, jwks_uri="file:///etc/passwd")),
    ("jwks-null", dict(DISCOVERY, jwks_uri=None)),
    ("introspection-array", dict(DISCOVERY, introspection_endpoint=["https://a.example"])),
    ("empty", {}),
]:
    write("discovery", name, b"\x00" + json.dumps(doc).encode())
write("discovery", "allow-http", b"\x01" + json.dumps(
    dict(DISCOVERY, jwks_uri="http://127.0.0.1:8080/jwks",
         introspection_endpoint="HTTP://127.0.0.1:8080/i")).encode())
write("discovery", "allow-http-file", b"\x01" + json.dumps(
    dict(DISCOVERY, jwks_uri="file:///etc/passwd")).encode())
write("discovery", "array", "\0" + json.dumps([DISCOVERY]))
write("discovery", "nul", '\0{"issuer":"%s\\u0000x","jwks_uri":"https://k.example"}' % AUTHORITY)
write("discovery", "duplicate",
      '\0{"issuer":"https://evil.example","issuer":"%s","jwks_uri":"https://k"}' % AUTHORITY)
write("discovery", "trailing", "\0" + json.dumps(DISCOVERY) + " {}")
write("discovery", "truncated", "\0" + json.dumps(DISCOVERY)[:-1])

# introspect: selector (bit 0: a JWT; bits 1-2: status 200, 400, 401, 200; bit 3: configured
# audiences identityd and https://api.example, else the tenant's https://docspace.example),
# then the authority's answer. The fuzzer's clock reads NOW.
ACTIVE = {"active": True, "sub": "00000000-0000-0000-0000-000000000001", "client_id": "portal",
          "scope": "openid read files:write", "token_type": "Bearer", "exp": NOW + 600,
          "iat": NOW - 10, "nbf": NOW - 10, "iss": "https://issuer.example",
          "aud": "https://docspace.example", "email": "alice@example.com",
          "email_verified": True, "username": "alice"}
for name, sel, doc in [
    ("active", 0, ACTIVE),
    ("active-minimal", 0, {"active": True}),
    ("active-configured-aud", 8, dict(ACTIVE, aud=["other", "identityd"])),
    ("active-aud-array", 0, dict(ACTIVE, aud=["x", "https://docspace.example"])),
    ("active-scope-array", 0, dict(ACTIVE, scope=["read", "rooms:read", "profile"])),
    ("active-scp", 0, {"active": True, "scp": "write accounts.self:read"}),
    ("active-exp-soon", 0, dict(ACTIVE, exp=NOW + 5)),
    ("active-exp-skew", 0, dict(ACTIVE, exp=NOW - 60)),
    ("active-exp-real", 0, dict(ACTIVE, exp=NOW + 0.5)),
    ("active-exp-far", 0, dict(ACTIVE, exp=4102444800)),
    ("active-long-sub", 0, dict(ACTIVE, sub="s" * 200)),
    ("active-long-scope", 0, dict(ACTIVE, scope=" ".join(["files:read"] * 40))),
    ("expired", 0, dict(ACTIVE, exp=NOW - 3600)),
    ("exp-string", 0, dict(ACTIVE, exp=str(NOW + 600))),
    ("not-yet", 0, dict(ACTIVE, nbf=NOW + 3600)),
    ("other-issuer", 0, dict(ACTIVE, iss="https://evil.example")),
    ("other-aud", 0, dict(ACTIVE, aud="https://elsewhere.example")),
    ("aud-number", 0, dict(ACTIVE, aud=5)),
    ("active-string", 0, dict(ACTIVE, active="true")),
    ("active-one", 0, dict(ACTIVE, active=1)),
    ("inactive", 0, {"active": False}),
    ("jwt-inactive", 1, {"active": False}),
    ("jwt-unsupported", 3, {"error": "unsupported_token_type"}),
    ("opaque-unsupported", 2, {"error": "unsupported_token_type"}),
    ("jwt-invalid-request", 3, {"error": "invalid_request"}),
    ("unauthorized", 4, {"error": "invalid_client"}),
]:
    write("introspect", name, bytes([sel]) + json.dumps(doc).encode())
write("introspect", "array", b"\x00" + json.dumps([ACTIVE]).encode())
write("introspect", "not-json", b"\x00<html>502 Bad Gateway</html>")
write("introspect", "empty", b"\x00")
write("introspect", "duplicate-active", b'\x00{"active":false,"active":true}')

oidc = ["issuer", "jwks_uri", "introspection_endpoint", "token_endpoint", "https://", "http://",
        "https://issuer.example/realm", "https://issuer.example", "https://docspace.example",
        "identityd", "https://api.example", "active", "exp", "nbf", "iat", "iss", "aud", "sub",
        "scope", "scp", "client_id", "token_type", "email", "email_verified", "username",
        "error", "unsupported_token_type", "read", "write", ":read", ":write", "*:read"]
dictionary("discovery", ['"%s"' % w for w in oidc] + [":", ",", "[", "]", "{", "}", "null", "/"])
dictionary("introspect", ['"%s"' % w for w in oidc] +
           [":", ",", "[", "]", "{", "}", "null", "true", "false", str(NOW), "1e300",
            "9223372036854775807", "-1"])
