// identityd's sign-in page: what a DocSpace login client does, in plain JavaScript. It reads
// /api/2.0/settings, computes DocSpace's passwordHash in the browser (WebCrypto PBKDF2, so the
// password itself never leaves the page), signs in, then shows who is signed in, the
// login-to-identity token and its claims, and signs out. The session lives in identityd's
// HttpOnly cookie: this script never sees it. Text from the server is only ever set as
// textContent, never parsed as HTML.
'use strict';

const $ = (id) => document.getElementById(id);

// One call to identityd's API on this origin: {status, body} (body is null when not JSON).
async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    return { status: 0, body: null };
  }
  let parsed = null;
  try {
    parsed = await response.json();
  } catch {
    parsed = null;
  }
  return { status: response.status, body: parsed };
}

// DocSpace's client hash: lowercase hex of PBKDF2-HMAC-SHA256(password, salt, iterations), of
// the size /settings gives (in bits).
async function clientHash(password, settings) {
  const text = new TextEncoder();
  const key = await crypto.subtle.importKey('raw', text.encode(password), 'PBKDF2', false,
                                            ['deriveBits']);
  const bits = await crypto.subtle.deriveBits(
      { name: 'PBKDF2', hash: 'SHA-256', salt: text.encode(settings.salt),
        iterations: settings.iterations },
      key, settings.size);
  return Array.from(new Uint8Array(bits), (b) => b.toString(16).padStart(2, '0')).join('');
}

// The claims of a compact JWS, pretty-printed (the page shows them; it verifies nothing).
function claimsOf(token) {
  const part = token.split('.')[1] || '';
  const base64 = part.replace(/-/g, '+').replace(/_/g, '/');
  const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
  try {
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    return JSON.stringify(JSON.parse(new TextDecoder().decode(bytes)), null, 2);
  } catch {
    return '(the token\'s claims could not be read)';
  }
}

function say(text) {
  $('status').textContent = text;
}

function fail(text) {
  const error = $('error');
  error.textContent = text;
  error.hidden = !text;
}

function messageOf(result) {
  const message = result.body && result.body.error && result.body.error.message;
  return typeof message === 'string' ? message : '';
}

function show(signedIn) {
  $('signin').hidden = signedIn;
  $('signed-in').hidden = !signedIn;
}

// The signed-in view: who (from @self, or the token's claims), the token and its claims.
async function showSignedIn() {
  const token = await api('GET', '/api/2.0/security/oauth2/token');
  if (token.status !== 200 || typeof token.body?.response !== 'string') {
    show(false);
    if (token.status !== 401)
      fail('Signed in, but identityd gave no token (status ' + token.status + '). Try again.');
    return;
  }
  const claims = claimsOf(token.body.response);
  const self = await api('GET', '/api/2.0/people/@self');
  let who = '';
  if (self.status === 200 && self.body?.response) {
    const user = self.body.response;
    who = user.email ? (user.firstName || '') + ' ' + (user.lastName || '') + ' <' + user.email +
                           '>'
                     : '';
  }
  if (!who) {
    try {
      const c = JSON.parse(claims);
      who = (c.user_name || '') + ' <' + (c.user_email || '') + '>';
    } catch {
      who = '';
    }
  }
  $('who').textContent = who.trim();
  $('token').value = token.body.response;
  $('claims').textContent = claims;
  show(true);
  fail('');
  say('Signed in.');
  $('signout-button').focus();
}

async function signIn(event) {
  event.preventDefault();
  fail('');
  const email = $('email').value.trim();
  const password = $('password').value;
  if (!email || !password) {
    fail('Enter your e-mail and your password.');
    (email ? $('password') : $('email')).focus();
    return;
  }
  const button = $('signin-button');
  button.disabled = true;
  say('Signing in…');
  try {
    const settings = await api('GET', '/api/2.0/settings');
    const hashSettings = settings.body?.response?.passwordHash;
    if (settings.status !== 200 || !hashSettings) {
      fail('identityd does not know this address (status ' + settings.status +
           '). Open the page at your portal\'s address.');
      return;
    }
    const passwordHash = await clientHash(password, hashSettings);
    const result = await api('POST', '/api/2.0/authentication',
                             { userName: email, passwordHash, session: false });
    $('password').value = '';
    if (result.status === 200 && result.body?.response?.tfa) {
      fail('This account signs in with a second step, which this page does not offer yet.');
    } else if (result.status === 200) {
      await showSignedIn();
      return;
    } else if (result.status === 401) {
      fail('The e-mail or the password is wrong. Check both and try again.');
    } else if (result.status === 403) {
      fail((messageOf(result) || 'Sign-in refused') + '. Wait a minute before you try again.');
    } else if (result.status === 0) {
      fail('identityd cannot be reached. Check your connection and try again.');
    } else {
      fail('identityd could not sign you in (status ' + result.status + '). Try again later.');
    }
    $('password').focus();
  } finally {
    button.disabled = false;
    if (!$('error').hidden)
      say('');
  }
}

async function signOut() {
  await api('POST', '/api/2.0/authentication/logout');
  $('token').value = '';
  $('claims').textContent = '';
  $('who').textContent = '';
  show(false);
  say('Signed out.');
  $('email').focus();
}

document.addEventListener('DOMContentLoaded', async () => {
  $('signin-form').addEventListener('submit', signIn);
  $('signout-button').addEventListener('click', signOut);
  const state = await api('GET', '/api/2.0/authentication');
  if (state.status === 200 && state.body?.response === true)
    await showSignedIn();
  else
    $('email').focus();
});
