// Verifies one compact JWT with jose, an implementation independent of identityd, the way a
// consumer of identityd's tokens would: against identityd's JWKS (ES256, RS256, EdDSA) or,
// for DocSpace-compatible tokens, with the raw HS256 secret. jose checks the signature, the
// algorithm against the key, exp and nbf; the caller may also ask it to check iss, aud and
// typ. On success prints {"header": ..., "payload": ...} as one JSON line and exits 0; any
// failure prints a message on stderr and exits 1, so a C test can tell the two apart.
//
//   node verify.mjs --token T (--jwks URL | --secret-hex HEX) [--alg ALG]
//                   [--issuer ISS] [--audience AUD] [--typ TYP]
//
// Only loopback URLs are fetched (the JWKS of the identityd under test).
import { argv, exit, stderr, stdout } from 'node:process';
import { parseArgs } from 'node:util';
import { createRemoteJWKSet, jwtVerify } from 'jose';

function fail(message) {
  stderr.write(`verify.mjs: ${message}\n`);
  exit(1);
}

let options;
try {
  ({ values: options } = parseArgs({
    args: argv.slice(2),
    options: {
      token: { type: 'string' },
      jwks: { type: 'string' },
      'secret-hex': { type: 'string' },
      alg: { type: 'string' },
      issuer: { type: 'string' },
      audience: { type: 'string' },
      typ: { type: 'string' },
    },
    strict: true,
  }));
} catch (e) {
  fail(e.message);
}

if (!options.token) fail('--token is required');
if ((options.jwks === undefined) === (options['secret-hex'] === undefined))
  fail('exactly one of --jwks and --secret-hex is required');

let key;
if (options.jwks !== undefined) {
  const url = new URL(options.jwks);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname))
    fail(`refusing a non-loopback JWKS URL: ${options.jwks}`);
  key = createRemoteJWKSet(url, { timeoutDuration: 5000, cooldownDuration: 0 });
} else {
  const hex = options['secret-hex'];
  if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex))
    fail('--secret-hex must be an even number of hex digits');
  key = Uint8Array.from(Buffer.from(hex, 'hex'));
}

const verifyOptions = {};
if (options.alg) verifyOptions.algorithms = [options.alg];
// A raw secret only ever verifies HMAC: never let the token pick anything else for it.
else if (options['secret-hex'] !== undefined) verifyOptions.algorithms = ['HS256'];
if (options.issuer) verifyOptions.issuer = options.issuer;
if (options.audience) verifyOptions.audience = options.audience;
if (options.typ) verifyOptions.typ = options.typ;

try {
  const { payload, protectedHeader } = await jwtVerify(options.token, key, verifyOptions);
  stdout.write(`${JSON.stringify({ header: protectedHeader, payload })}\n`);
  exit(0);
} catch (e) {
  fail(`${e.code ?? e.name}: ${e.message}`);
}
