// A stand-in OAuth2/OpenID authority for identityd's refusal suite
// (tests/interop/check_oidc_refusals.c). It serves discovery, the JWKS that craft.mjs wrote,
// and an RFC 7662 introspection endpoint that believes every token: it answers with the
// claims decoded from the token's payload, unverified. So whatever identityd refuses, it
// refuses by its own checks, never because the authority said no. It also serves the
// attacker's URLs that crafted tokens point to (jku, x5u) and counts every request per
// path, so a test can prove identityd never fetched them.
//
//   node fake-authority.mjs JWKS_FILE [ATTACKER_JWKS_FILE]
//
// Listens on 127.0.0.1, port chosen by the kernel; prints one line
// {"issuer":"http://127.0.0.1:PORT","port":PORT} on stdout when ready. Files are read on each
// request (craft.mjs may write them after this starts). Exits 0 on SIGTERM or SIGINT.
//
//   GET  /.well-known/openid-configuration  {issuer, jwks_uri, introspection_endpoint}
//   GET  /jwks                              JWKS_FILE
//   POST /introspect                        Basic identityd:s3cret; form token=...
//   GET  /attacker-jwks, /attacker-x5u      the attacker's key (must never be fetched)
//   GET  /stats                             {"/path": count, ...} (not counted itself)
//
// Introspection answers: {"active": true, sub, scope, scp, exp, aud, client_id} from the
// payload of a three-segment token, with iss always this authority's issuer; {"active": false}
// when the token does not decode, or its claims carry x_introspect "inactive"; {"active":
// "true"} (a string, which RFC 7662 does not allow) when they carry x_introspect
// "active_string". Other x_introspect switches spoil one member of an otherwise active
// answer, so that a refusal can only come from identityd's check of the answer itself:
//   "wrong_iss"   iss "https://evil.example"
//   "expired"     exp ten minutes ago (beyond any sensible clock skew)
//   "other_aud"   aud "https://elsewhere.example"
//   "unsupported" 400 {"error": "unsupported_token_type"} instead of an answer
//   "slow"        the answer comes after 800 ms
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { argv, exit, stderr, stdout } from 'node:process';

if (argv.length < 3 || argv.length > 4) {
  stderr.write('usage: node fake-authority.mjs JWKS_FILE [ATTACKER_JWKS_FILE]\n');
  exit(2);
}
const jwksFile = argv[2];
const attackerFile = argv[3] ?? join(dirname(jwksFile), 'attacker-jwks.json');
const CLIENT_ID = 'identityd';
const CLIENT_SECRET = 's3cret';
const BODY_MAX = 64 * 1024;

const counts = {};
let issuer = '';

// Answers carry Cache-Control: no-store unless headers say otherwise; a header given as
// null is left out.
function send(res, status, body, headers = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const all = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  };
  res.writeHead(status, Object.fromEntries(Object.entries(all).filter(([, v]) => v !== null)));
  res.end(text);
}

// FAKE_MAX_AGE=N in the environment: discovery and JWKS answers carry
// Cache-Control: max-age=N (otherwise no Cache-Control at all).
const maxAge = process.env.FAKE_MAX_AGE;
// (no-store would make identityd treat the keys as stale at once, and refetch them once
// per jwks.min_refresh: then how often it fetches would depend on how fast the tests run.)
const cacheHeaders = maxAge ? { 'cache-control': `public, max-age=${maxAge}` } : { 'cache-control': null };

function sendFile(res, file, headers = {}) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    send(res, 404, { error: 'not_found' });
    return;
  }
  send(res, 200, text, headers);
}

// RFC 6749 §2.3.1: client id and secret are form-urlencoded, then joined and base64'd.
function clientAuthenticated(req) {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(req.headers.authorization ?? '');
  if (!m) return false;
  const plain = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = plain.indexOf(':');
  if (colon < 0) return false;
  try {
    return (
      decodeURIComponent(plain.slice(0, colon).replace(/\+/g, ' ')) === CLIENT_ID &&
      decodeURIComponent(plain.slice(colon + 1).replace(/\+/g, ' ')) === CLIENT_SECRET
    );
  } catch {
    return false;
  }
}

function introspection(token) {
  const parts = typeof token === 'string' ? token.split('.') : [];
  if (parts.length !== 3) return { active: false };
  let claims;
  try {
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    return { active: false };
  }
  if (claims === null || typeof claims !== 'object' || Array.isArray(claims))
    return { active: false };
  if (claims.x_introspect === 'inactive') return { active: false };
  const answer = {
    active: claims.x_introspect === 'active_string' ? 'true' : true,
    client_id: 'some-client',
    token_type: 'Bearer',
  };
  for (const name of ['sub', 'scope', 'scp', 'exp', 'aud'])
    if (claims[name] !== undefined) answer[name] = claims[name];
  // Always this authority's own issuer, whatever the token says: the introspection answer
  // vouches for the token, so identityd's refusal of a wrong iss must come from its own
  // check of the JWT.
  answer.iss = issuer;
  // Unless asked to spoil the answer (the token itself being good).
  if (claims.x_introspect === 'wrong_iss') answer.iss = 'https://evil.example';
  else if (claims.x_introspect === 'expired') answer.exp = Math.floor(Date.now() / 1000) - 600;
  else if (claims.x_introspect === 'other_aud') answer.aud = 'https://elsewhere.example';
  return answer;
}

function handle(req, res, body) {
  const path = new URL(req.url, 'http://x').pathname;
  if (path === '/stats' && req.method === 'GET') {
    send(res, 200, counts);
    return;
  }
  counts[path] = (counts[path] ?? 0) + 1;
  if (req.method === 'GET' && path === '/.well-known/openid-configuration') {
    send(res, 200, {
      issuer,
      jwks_uri: `${issuer}/jwks`,
      introspection_endpoint: `${issuer}/introspect`,
      id_token_signing_alg_values_supported: ['ES256', 'RS256'],
    }, cacheHeaders);
  } else if (req.method === 'GET' && path === '/jwks') {
    sendFile(res, jwksFile, cacheHeaders);
  } else if (req.method === 'GET' && (path === '/attacker-jwks' || path === '/attacker-x5u')) {
    sendFile(res, attackerFile);
  } else if (req.method === 'POST' && path === '/introspect') {
    if (!clientAuthenticated(req)) {
      send(res, 401, { error: 'invalid_client' }, { 'www-authenticate': 'Basic realm="fake"' });
      return;
    }
    const form = new URLSearchParams(body.toString('utf8'));
    const token = form.get('token');
    // x_introspect "unsupported": answer as authorities that never introspect JWTs do.
    let unsupported = false;
    try {
      unsupported = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')).x_introspect === 'unsupported';
    } catch {}
    if (unsupported) {
      send(res, 400, { error: 'unsupported_token_type' });
      return;
    }
    // A token whose claims carry x_introspect "slow" is answered after 800 ms, so that
    // concurrent checks of it overlap one call.
    const slow = introspection(token).active && token.split('.').length === 3 &&
      JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')).x_introspect === 'slow';
    if (slow) setTimeout(() => send(res, 200, introspection(token)), 800);
    else send(res, 200, introspection(token));
  } else {
    send(res, 404, { error: 'not_found' });
  }
}

const server = createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > BODY_MAX) {
      send(res, 413, { error: 'too_large' });
      req.destroy();
      return;
    }
    chunks.push(c);
  });
  req.on('end', () => {
    if (size <= BODY_MAX) handle(req, res, Buffer.concat(chunks));
  });
});
server.keepAliveTimeout = 1000;

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  issuer = `http://127.0.0.1:${port}`;
  stdout.write(`${JSON.stringify({ issuer, port })}\n`);
});

// Nothing to flush or persist: stop at once, so a test that kills the authority sees its
// port closed right away.
function stop() {
  server.closeAllConnections();
  exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
