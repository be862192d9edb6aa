// The benchmark's peer: GET /api/2.0/security/oauth2/token for API keys, written the plain
// Node way (node:http, jose), to put identityd's figures beside those of a common
// implementation of the same endpoint. It does what identityd does on that path, minus the
// store: the key is checked for its form, its digest (HMAC-SHA256 under the pepper, over
// "apikey:" and the key) is looked up in a Map, and a token with DocSpace's claims, in
// identityd's order, is signed with the same ES256 key and wrapped in the same envelope.
//
//   node server.mjs CONFIG.json
//
// CONFIG: {"port": N, "workers": N, "pepper_file": F, "key_file": PKCS8_PEM, "kid": K,
//          "token_ttl": S, "keys": [{"digest": HEX, "tenant_id": N,
//          "user": {"id", "first_name", "last_name", "email", "role"}}]}
// Listens on 127.0.0.1:port (0: one the kernel picks, shared by the workers) with `workers`
// processes (node:cluster); prints "ready on 127.0.0.1:PORT" once every worker listens. Run
// by scripts/bench, not by ctest.
import cluster from 'node:cluster';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { argv, exit, stderr, stdout } from 'node:process';
import { importPKCS8, SignJWT } from 'jose';

const config = JSON.parse(readFileSync(argv[2], 'utf8'));

if (cluster.isPrimary) {
  let listening = 0;
  for (let i = 0; i < config.workers; i++) cluster.fork();
  cluster.on('listening', (worker, address) => {
    if (++listening === config.workers) stdout.write(`ready on 127.0.0.1:${address.port}\n`);
  });
  cluster.on('exit', (worker, code) => {
    stderr.write(`peer: worker ${worker.process.pid} exited ${code}\n`);
    exit(1);
  });
  const stop = () => {
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
    exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  // identityd's pepper rule: the file's bytes without trailing whitespace.
  const raw = readFileSync(config.pepper_file);
  let end = raw.length;
  while (end > 0 && ' \t\n\r\v\f'.includes(String.fromCharCode(raw[end - 1]))) end--;
  const pepper = raw.subarray(0, end);
  const key = await importPKCS8(readFileSync(config.key_file, 'utf8'), 'ES256');
  const byDigest = new Map(config.keys.map((k) => [k.digest, k]));
  const PATH = '/api/2.0/security/oauth2/token';
  const KEY_FORM = /^sk-[0-9a-f]{64}$/;

  const send = (res, status, body) => {
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    });
    res.end(body);
  };
  const error = (res, status, message) =>
    send(res, status, JSON.stringify({ error: { message }, status: 1, statusCode: status }));

  const token = async (entry, origin) => {
    const u = entry.user;
    const now = Math.floor(Date.now() / 1000);
    const name = [u.first_name, u.last_name].filter((s) => s).join(' ');
    const claims = {
      sub: u.id,
      user_id: u.id,
      user_name: name,
      user_email: u.email,
      tenant_id: String(entry.tenant_id),
      tenant_url: origin,
      is_admin: String(u.role === 'admin'),
      is_guest: String(u.role === 'guest'),
      is_public: 'true',
      iss: origin,
      aud: origin,
      exp: now + config.token_ttl,
      iat: now,
      jti: randomBytes(16).toString('base64url'),
    };
    return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: config.kid }).sign(key);
  };

  createServer({ keepAlive: true }, async (req, res) => {
    if (req.method !== 'GET' || req.url !== PATH) return error(res, 404, 'Not found');
    const auth = req.headers.authorization ?? '';
    const apikey = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!KEY_FORM.test(apikey)) return error(res, 401, 'Unauthorized');
    const digest = createHmac('sha256', pepper).update('apikey:').update(apikey).digest('hex');
    const entry = byDigest.get(digest);
    if (entry === undefined) return error(res, 401, 'Unauthorized');
    const origin = `http://${req.headers.host}`;
    let jwt;
    try {
      jwt = await token(entry, origin);
    } catch {
      return error(res, 500, 'Token signing failed');
    }
    send(res, 200, JSON.stringify({
      response: jwt,
      count: 1,
      links: [{ href: origin + req.url, action: 'GET' }],
      status: 0,
      statusCode: 200,
    }));
  }).listen(config.port, '127.0.0.1');
}
