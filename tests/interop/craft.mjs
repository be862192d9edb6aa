// Crafts the tokens of identityd's OIDC refusal suite (tests/interop/check_oidc_refusals.c)
// with jose, an implementation independent of identityd: two valid access tokens of a
// stand-in authority, and one token per attack of RFC 8725 (JWT best current practice) and
// the classic JWT-library mistakes. Each is what an attacker can really send: where jose
// refuses to build something malformed, the compact string is assembled by hand.
//
//   node craft.mjs OUTDIR ISSUER AUDIENCE SUB
//
// Writes (fresh keys on every run):
//   OUTDIR/jwks.json          the authority's public keys: ES256 (P-256) kid "ec-1" (with
//                             "alg") and RSA 2048 kid "rsa-1" (no "alg"), use "sig"
//   OUTDIR/attacker-jwks.json the attacker's own public key (served by fake-authority.mjs at
//                             /attacker-jwks, which the jku token points to)
//   OUTDIR/tokens.json        { name: compact token }
// Names and what each one tries are listed in TOKENS below; check_oidc_refusals.c explains
// each attack next to its assertion.
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { argv, exit, stderr } from 'node:process';
import {
  CompactEncrypt,
  CompactSign,
  SignJWT,
  base64url,
  exportJWK,
  exportPKCS8,
  exportSPKI,
  generateKeyPair,
  importPKCS8,
  importSPKI,
} from 'jose';

if (argv.length !== 6) {
  stderr.write('usage: node craft.mjs OUTDIR ISSUER AUDIENCE SUB\n');
  exit(2);
}
const [outdir, issuer, audience, sub] = argv.slice(2);

const now = Math.floor(Date.now() / 1000);
const enc = new TextEncoder();
const b64json = (obj) => base64url.encode(enc.encode(JSON.stringify(obj)));

const ec = await generateKeyPair('ES256', { extractable: true });
const rsa = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
const attacker = await generateKeyPair('ES256', { extractable: true });

async function publicJwk(pair, kid, alg) {
  return { ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' };
}
const ecJwk = await publicJwk(ec, 'ec-1', 'ES256');
// Without "alg", as many authorities publish RSA keys: then the key type allows RS256 and
// PS256 alike, and only identityd's allow-list (oidc.algorithms) stands against PS256.
const { alg: _omitted, ...rsaJwk } = await publicJwk(rsa, 'rsa-1', 'RS256');
const attackerJwk = await publicJwk(attacker, 'attacker-1', 'ES256');

// The claims of a good access token; each attack overrides what it needs.
function claims(extra = {}) {
  return {
    iss: issuer,
    aud: audience,
    sub,
    scope: 'read write',
    iat: now,
    exp: now + 300,
    jti: randomUUID(),
    ...extra,
  };
}

// Signs claims (fields set to undefined are dropped) under a protected header with jose.
async function sign(header, body, key) {
  const payload = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
  return new SignJWT(payload).setProtectedHeader(header).sign(key);
}

const es = (body, extraHeader = {}) =>
  sign({ alg: 'ES256', typ: 'JWT', kid: 'ec-1', ...extraHeader }, body, ec.privateKey);
const rs = (body, extraHeader = {}) =>
  sign({ alg: 'RS256', typ: 'JWT', kid: 'rsa-1', ...extraHeader }, body, rsa.privateKey);

const tokens = {};

// Valid: must be accepted.
tokens.valid_es256 = await es(claims());
tokens.valid_rs256 = await rs(claims());
// aud as an array containing the configured audience among others (RFC 7519 §4.1.3).
tokens.valid_aud_array = await es(claims({ aud: ['https://other.test', audience] }));
// Valid, and never presented before the authority goes down (so nothing has cached it).
tokens.valid_spare = await es(claims());
// Valid signature and claims, but nobody with this sub exists in identityd's store.
tokens.valid_unknown_sub = await es(claims({ sub: randomUUID() }));

// alg "none": no signature at all (RFC 8725 §2.1, §3.1).
tokens.alg_none = `${b64json({ alg: 'none', typ: 'JWT' })}.${b64json(claims())}.`;
// HS256 keyed with the authority's RSA public key (PEM as published): a verifier that lets
// the header pick the algorithm would run HMAC with public bytes (RFC 8725 §2.1).
const rsaPem = await exportSPKI(rsa.publicKey);
tokens.hs256_with_public_key = await sign(
  { alg: 'HS256', typ: 'JWT', kid: 'rsa-1' },
  claims(),
  enc.encode(rsaPem),
);
// The same with the public JWK's JSON as the secret (what a JWK-based verifier holds).
tokens.hs256_with_public_jwk = await sign(
  { alg: 'HS256', typ: 'JWT', kid: 'rsa-1' },
  claims(),
  enc.encode(JSON.stringify(rsaJwk)),
);
// Algorithm and key disagree: an RS256 signature presented under the EC key's kid.
tokens.alg_key_mismatch = await sign(
  { alg: 'RS256', typ: 'JWT', kid: 'ec-1' },
  claims(),
  rsa.privateKey,
);
// PS256 with the authority's own RSA key: a valid signature in an algorithm identityd is
// not configured to accept (oidc.algorithms: [ES256, RS256]).
tokens.alg_not_allowed = await sign(
  { alg: 'PS256', typ: 'JWT', kid: 'rsa-1' },
  claims(),
  await importPKCS8(await exportPKCS8(rsa.privateKey), 'PS256'),
);
// Signed with the authority's real key under a kid its JWKS does not have.
tokens.unknown_kid = await es(claims(), { kid: 'no-such-key' });
// kid used as a path: a verifier that reads key files named by kid would read /etc/passwd.
tokens.kid_traversal = await es(claims(), { kid: '../../../../etc/passwd' });
// Expired ten minutes ago (beyond the 120 s skew).
tokens.expired = await es(claims({ iat: now - 900, exp: now - 600 }));
// Not valid for another ten minutes.
tokens.future_nbf = await es(claims({ nbf: now + 600 }));
// Issued in the future (iat beyond the skew): minted by a clock or a forger, not yet usable.
tokens.future_iat = await es(claims({ iat: now + 600, exp: now + 900 }));
// Another issuer, and the authority's issuer with a trailing slash (exact match only).
tokens.wrong_iss = await es(claims({ iss: 'https://attacker.example' }));
tokens.wrong_iss_slash = await es(claims({ iss: `${issuer}/` }));
// Minted by the authority for another service (token substitution, RFC 8725 §2.8, §3.9).
tokens.wrong_aud = await es(claims({ aud: 'https://other-service.test' }));
tokens.missing_aud = await es(claims({ aud: undefined }));
// No exp: a token that never expires.
tokens.missing_exp = await es(claims({ exp: undefined }));
// A real token with its signature segment emptied.
const [vh, vp] = tokens.valid_es256.split('.');
tokens.stripped_signature = `${vh}.${vp}.`;
// The valid token's signature under a payload with more scope than was signed.
tokens.swapped_payload = `${vh}.${b64json(claims({ scope: 'read write admin' }))}.${tokens.valid_es256.split('.')[2]}`;
// A critical header extension the verifier cannot understand (RFC 7515 §4.1.11).
const critHeader = { alg: 'ES256', typ: 'JWT', kid: 'ec-1', crit: ['x-unknown'], 'x-unknown': true };
tokens.unknown_crit = await new CompactSign(enc.encode(JSON.stringify(claims())))
  .setProtectedHeader(critHeader)
  // jose refuses to sign a crit it does not know unless told this one is understood.
  .sign(ec.privateKey, { crit: { 'x-unknown': true } });
// A real JWE (five segments) encrypted to the authority's RSA key, carrying good claims.
tokens.jwe_shaped = await new CompactEncrypt(enc.encode(JSON.stringify(claims())))
  .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: 'rsa-1', cty: 'JWT' })
  .encrypt(await importSPKI(rsaPem, 'RSA-OAEP-256'));
// Validly signed, but padded past 8192 bytes (identityd's IDD_JWT_MAX).
tokens.oversized = await es(claims({ pad: 'A'.repeat(8192) }));
// jku: "fetch my key from here" pointing at the attacker's JWKS; signed by the attacker's
// key under the authority's kid (RFC 8725 §3.10: never follow header-supplied URLs).
tokens.jku_header = await sign(
  { alg: 'ES256', typ: 'JWT', kid: 'ec-1', jku: `${issuer}/attacker-jwks` },
  claims(),
  attacker.privateKey,
);
// x5u: the same through a certificate URL.
tokens.x5u_header = await sign(
  { alg: 'ES256', typ: 'JWT', kid: 'ec-1', x5u: `${issuer}/attacker-x5u` },
  claims(),
  attacker.privateKey,
);
// jwk: the attacker's own public key embedded in the header, signed by that key.
tokens.embedded_jwk = await sign(
  { alg: 'ES256', typ: 'JWT', jwk: { kty: attackerJwk.kty, crv: attackerJwk.crv, x: attackerJwk.x, y: attackerJwk.y } },
  claims(),
  attacker.privateKey,
);
// Signed by a key the authority never had, under the authority's kid.
tokens.foreign_key = await sign({ alg: 'ES256', typ: 'JWT', kid: 'ec-1' }, claims(), attacker.privateKey);
// Introspection disagrees: fake-authority.mjs answers {"active": false} for a token whose
// claims carry x_introspect "inactive" (revoked at the authority), and {"active": "true"}
// (a string, not the boolean) for "active_string".
tokens.introspection_inactive = await es(claims({ x_introspect: 'inactive' }));
// The same again (another jti), for a machine too busy to use the first twice within
// negative_ttl.
tokens.introspection_inactive_2 = await es(claims({ x_introspect: 'inactive' }));
tokens.introspection_inactive_3 = await es(claims({ x_introspect: 'inactive' }));
tokens.introspection_active_string = await es(claims({ x_introspect: 'active_string' }));
// For user_claim: email — the user's address, verified or not by the authority, under a
// sub that names nobody identityd knows.
tokens.email_verified = await es(claims({ sub: 'someone-else', email: 'admin@example.com', email_verified: true }));
tokens.email_unverified = await es(claims({ sub: 'someone-else', email: 'admin@example.com', email_verified: false }));
tokens.email_verified_as_string = await es(claims({ sub: 'someone-else', email: 'admin@example.com', email_verified: 'true' }));
// Valid tokens whose introspection answer is spoiled (see fake-authority.mjs): its iss is
// another issuer's, its exp ten minutes past, its aud another service's.
tokens.introspection_wrong_iss = await es(claims({ x_introspect: 'wrong_iss' }));
tokens.introspection_expired = await es(claims({ x_introspect: 'expired' }));
tokens.introspection_other_aud = await es(claims({ x_introspect: 'other_aud' }));
// Valid for three seconds only: an introspection verdict on it must not outlive its exp.
// The longer-lived ones are for a machine too busy to use the first twice within its life.
tokens.short_lived = await es(claims({ exp: now + 3 }));
tokens.short_lived_10 = await es(claims({ exp: now + 10 }));
tokens.short_lived_30 = await es(claims({ exp: now + 30 }));
// Scopes, for the token endpoint (which needs *:read): scp instead of scope, as a string and
// as an array; a resource-bound read; OpenID scopes only; plain "read".
tokens.scp_string = await es(claims({ scope: undefined, scp: 'read' }));
tokens.scp_array = await es(claims({ scope: undefined, scp: ['write'] }));
tokens.scope_resource_read = await es(claims({ scope: 'files:read' }));
tokens.scope_openid_profile = await es(claims({ scope: 'openid profile' }));
tokens.scope_read = await es(claims({ scope: 'read' }));
// A valid token the authority refuses to introspect with 400 unsupported_token_type.
tokens.introspection_unsupported = await es(claims({ x_introspect: 'unsupported' }));
// A valid token the authority is slow to introspect (see fake-authority.mjs).
tokens.slow_introspection = await es(claims({ x_introspect: 'slow' }));

if (tokens.oversized.length <= 8192) throw new Error('oversized token is not oversized');
if (tokens.jwe_shaped.split('.').length !== 5) throw new Error('JWE is not five segments');

writeFileSync(join(outdir, 'jwks.json'), `${JSON.stringify({ keys: [ecJwk, rsaJwk] })}\n`);
writeFileSync(join(outdir, 'attacker-jwks.json'), `${JSON.stringify({ keys: [{ ...attackerJwk, kid: 'ec-1' }] })}\n`);
writeFileSync(join(outdir, 'tokens.json'), `${JSON.stringify(tokens, null, 1)}\n`);
// Nothing secret is kept: the private keys die with this process.
