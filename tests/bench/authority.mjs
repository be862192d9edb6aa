// The benchmark's external authority: a static OpenID discovery document and JWKS on
// loopback, and one ES256 access token for identityd's `oidc:` section to accept. It makes
// a fresh P-256 key at start (node:crypto alone, no packages), signs the token with it and
// serves the public half. Run by scripts/bench, not by ctest.
//
//   node authority.mjs SUB AUDIENCE
//
// Listens on 127.0.0.1, port chosen by the kernel, and prints one line once ready:
// {"issuer":"http://127.0.0.1:PORT","token":"<JWT for SUB, aud AUDIENCE, valid 1 hour>"}.
// Discovery and JWKS answers carry Cache-Control: max-age=3600, so identityd fetches them
// once. Exits on SIGTERM or SIGINT.
import { generateKeyPairSync, sign } from 'node:crypto';
import { createServer } from 'node:http';
import { argv, exit, stderr, stdout } from 'node:process';

if (argv.length !== 4) {
  stderr.write('usage: node authority.mjs SUB AUDIENCE\n');
  exit(2);
}
const [sub, audience] = argv.slice(2);
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const kid = 'bench-authority';
const jwks = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' }] });
const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

const server = createServer((req, res) => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  let body;
  if (req.url === '/.well-known/openid-configuration') body = JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` });
  else if (req.url === '/jwks') body = jwks;
  else {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'public, max-age=3600',
  });
  res.end(body);
});
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'ES256', typ: 'JWT', kid })}.${b64({ iss: issuer, sub, aud: audience, scope: 'read write', iat: now, exp: now + 3600 })}`;
  const sig = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  stdout.write(`${JSON.stringify({ issuer, token: `${input}.${sig.toString('base64url')}` })}\n`);
});
const stop = () => {
  server.close(() => exit(0));
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
