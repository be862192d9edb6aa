// A real OpenID authority for identityd's interop suites: oidc-provider on 127.0.0.1.
//
//   node provider.mjs [--port N]      (0, the default, picks an ephemeral port)
//
// When it is ready it prints one line on stdout, {"issuer":"http://127.0.0.1:PORT","port":PORT},
// and serves oidc-provider's own endpoints (discovery, /jwks, /token, /token/introspection,
// /token/revocation) with two confidential clients:
//   identityd / s3cret     the resource server: introspects tokens (client_secret_basic)
//   app / app-secret       the client tokens are issued to: client_credentials, revocation
// The signing keys (one ES256, one RS256) are generated at start. Tokens live in one in-memory
// store shared by every Provider instance, so that they outlive a key rotation.
//
// Test-only endpoints, outside the provider's routes (JSON in, JSON out):
//   POST /test/token  {sub, scope, format: "jwt"|"opaque", resource?, alg?: "ES256"|"RS256",
//                      iat?, exp?, client_id?}
//        → {access_token, expires_in, kid?}   minted through the provider's AccessToken model
//   POST /test/revoke {token}  → {revoked: true}  through the provider's revocation endpoint,
//                                                authenticated as the token's client
//   POST /test/rotate          → {kids: [...]}   fresh signing keys; the old ones leave the JWKS
// Rotation swaps a new Provider instance behind the same node HTTP server: the port, the
// clients and the token store stay.
import * as http from 'node:http';
import { parseArgs } from 'node:util';

import * as jose from 'jose';
import Provider from 'oidc-provider';

const { values: args } = parseArgs({ options: { port: { type: 'string', default: '0' } } });

const CLIENTS = [
  {
    client_id: 'identityd',
    client_secret: 's3cret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: [],
    response_types: [],
    redirect_uris: [],
  },
  {
    client_id: 'app',
    client_secret: 'app-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  },
];
const CLIENT_SECRETS = Object.fromEntries(CLIENTS.map((c) => [c.client_id, c.client_secret]));

// ---- the token store: one Map for every Provider instance --------------------------------

const store = new Map(); // "Model:id" -> { payload, expiresAt (ms) }

class SharedAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
    store.set(this.key(id), { payload: structuredClone(payload), expiresAt });
  }

  async find(id) {
    const entry = store.get(this.key(id));
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= Date.now()) {
      store.delete(this.key(id));
      return undefined;
    }
    return structuredClone(entry.payload);
  }

  async findByUid(uid) {
    for (const [key, entry] of store) {
      if (key.startsWith(`${this.model}:`) && entry.payload.uid === uid) return this.find(key.slice(this.model.length + 1));
    }
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const [key, entry] of store) {
      if (key.startsWith(`${this.model}:`) && entry.payload.userCode === userCode) return this.find(key.slice(this.model.length + 1));
    }
    return undefined;
  }

  async consume(id) {
    const entry = store.get(this.key(id));
    if (entry !== undefined) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const [key, entry] of store) {
      if (entry.payload.grantId === grantId) store.delete(key);
    }
  }
}

// ---- keys ------------------------------------------------------------------------------------

async function signingKey(alg) {
  const { privateKey } = await jose.generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  const jwk = await jose.exportJWK(privateKey);
  jwk.kid = `${alg.toLowerCase()}-${(await jose.calculateJwkThumbprint(jwk)).slice(0, 16)}`;
  jwk.alg = alg;
  jwk.use = 'sig';
  return jwk;
}

async function freshJwks() {
  return { keys: [await signingKey('ES256'), await signingKey('RS256')] };
}

// ---- the provider ----------------------------------------------------------------------------

let issuer; // set once the port is known
let current; // { provider, callback, kids }

function resourceServerInfo(resource, { scope = 'openid read write', format = 'jwt', alg = 'ES256' } = {}) {
  return {
    audience: resource,
    scope,
    accessTokenTTL: 600,
    accessTokenFormat: format,
    ...(format === 'jwt' ? { jwt: { sign: { alg } } } : {}),
  };
}

async function makeProvider() {
  const jwks = await freshJwks();
  const provider = new Provider(issuer, {
    adapter: SharedAdapter,
    clients: CLIENTS,
    jwks,
    features: {
      devInteractions: { enabled: false },
      introspection: { enabled: true },
      revocation: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        // Any absolute http(s) URL is a resource server whose audience is that URL: the
        // token endpoint then issues ES256 JWT access tokens for it (client_credentials).
        getResourceServerInfo: (ctx, resource) => resourceServerInfo(resource),
      },
    },
    ttl: { AccessToken: 600, ClientCredentials: 600 },
    // Silence the development-only cookie key warning; nothing here uses cookies.
    cookies: { keys: ['interop-test-cookie-key'] },
  });
  provider.on('server_error', (ctx, err) => console.error('provider server_error:', err));
  provider.on('introspection.error', (ctx, err) => console.error('introspection error:', err.message));
  provider.on('revocation.error', (ctx, err) => console.error('revocation error:', err.message));
  return { provider, callback: provider.callback(), kids: jwks.keys.map((k) => k.kid) };
}

// ---- test-only endpoints -------------------------------------------------------------------

function readJson(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > 65536) reject(new Error('body too large'));
    });
    req.on('end', () => {
      try {
        resolve(body === '' ? {} : JSON.parse(body));
      } catch (err) {
        reject(err);
      }
    });
    req.on('error', reject);
  });
}

function send(res, status, obj) {
  const text = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function mintToken(body) {
  const { provider } = current;
  const {
    sub, scope, format = 'jwt', resource, alg = 'ES256', iat, exp, client_id: clientId = 'app',
  } = body;
  if (format !== 'jwt' && format !== 'opaque') throw new Error('format must be "jwt" or "opaque"');
  if (format === 'jwt' && !resource) throw new Error('a JWT access token needs a resource (its audience)');
  const client = await provider.Client.find(clientId);
  if (!client) throw new Error(`no client ${clientId}`);
  const token = new provider.AccessToken({
    client,
    accountId: sub,
    scope,
    ...(resource
      ? { resourceServer: new provider.ResourceServer(resource, resourceServerInfo(resource, { scope, format, alg })) }
      : {}),
    ...(iat !== undefined ? { iat } : {}),
    ...(exp !== undefined ? { exp } : {}),
  });
  const value = await token.save();
  const out = { access_token: value, expires_in: token.exp ? token.exp - Math.floor(Date.now() / 1000) : token.expiration };
  if (format === 'jwt') out.kid = jose.decodeProtectedHeader(value).kid;
  return out;
}

// Revokes through the provider's own revocation endpoint (RFC 7009), as the token's client.
async function revokeToken({ token }) {
  const { provider } = current;
  const stored = await provider.AccessToken.find(token);
  const clientId = stored?.clientId ?? 'app';
  const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(CLIENT_SECRETS[clientId])}`).toString('base64');
  const response = await fetch(`${issuer}/token/revocation`, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
  });
  if (response.status !== 200) throw new Error(`revocation endpoint answered ${response.status}: ${await response.text()}`);
  return { revoked: true, found: stored !== undefined };
}

async function rotate() {
  current = await makeProvider();
  return { kids: current.kids };
}

async function admin(req, res) {
  try {
    if (req.method !== 'POST') {
      send(res, 405, { error: 'POST only' });
      return;
    }
    const body = await readJson(req);
    switch (req.url) {
      case '/test/token': send(res, 200, await mintToken(body)); break;
      case '/test/revoke': send(res, 200, await revokeToken(body)); break;
      case '/test/rotate': send(res, 200, await rotate()); break;
      default: send(res, 404, { error: 'no such test endpoint' });
    }
  } catch (err) {
    console.error(`${req.url}:`, err);
    send(res, 400, { error: String(err?.message ?? err) });
  }
}

// ---- one HTTP server for every provider instance -------------------------------------------

const server = http.createServer((req, res) => {
  if (req.url.startsWith('/test/')) {
    admin(req, res);
    return;
  }
  if (current === undefined) {
    send(res, 503, { error: 'starting' });
    return;
  }
  current.callback(req, res);
});

server.listen(Number(args.port), '127.0.0.1', async () => {
  const { port } = server.address();
  issuer = `http://127.0.0.1:${port}`;
  current = await makeProvider();
  process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
