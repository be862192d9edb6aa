// identityd's sign-in page: what a DocSpace login client does, in plain JavaScript. It reads
// /api/2.0/settings, computes DocSpace's passwordHash in the browser (WebCrypto PBKDF2, so the
// password itself never leaves the page), signs in, then shows who is signed in, the
// login-to-identity token and its claims, and signs out. When the account signs in with a second
// factor, the same page asks for it: on the first time, it shows the QR code and key to link an
// authenticator app, takes a code, then shows the backup codes once; afterwards, it takes a code
// from the app or a backup code. The session lives in identityd's HttpOnly cookie, and so does
// the confirm key of a half-done sign-in: this script never sees either. Text from the server is
// only ever set as textContent, never parsed as HTML.
'use strict';

const $ = (id) => document.getElementById(id);

// The second step under way: its confirm type and the `confirm` header naming it
// ("type=TfaAuth&uid=..."), or null.
let pending = null;

// One call to identityd's API on this origin: {status, body} (body is null when not JSON).
// confirm, when given, is sent as the `confirm` header of the two-factor step.
async function api(method, path, body, confirm) {
  const init = { method, credentials: 'same-origin', headers: {} };
  if (confirm)
    init.headers.confirm = confirm;
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

// Shows one of the page's views: 'signin', 'tfa', 'backup' or 'signed-in'.
function show(view) {
  for (const id of ['signin', 'tfa', 'backup', 'signed-in'])
    $(id).hidden = id !== view;
}

// The signed-in view: who (from @self, or the token's claims), the token and its claims.
async function showSignedIn() {
  const token = await api('GET', '/api/2.0/security/oauth2/token');
  if (token.status !== 200 || typeof token.body?.response !== 'string') {
    show('signin');
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
  show('signed-in');
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
      await startSecondStep(result.body.response);
      return;
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

// The confirm header of a challenge: the query string of its confirmUrl when that names one of
// the two types and a user id, else null.
function confirmOf(challenge) {
  if (typeof challenge.confirmUrl !== 'string')
    return null;
  let url;
  try {
    url = new URL(challenge.confirmUrl, location.origin);
  } catch {
    return null;
  }
  const type = url.searchParams.get('type');
  const uid = url.searchParams.get('uid');
  if ((type !== 'TfaActivation' && type !== 'TfaAuth') || !/^[0-9a-f-]{36}$/i.test(uid || ''))
    return null;
  return { type, header: 'type=' + type + '&uid=' + uid };
}

// Back to the first step, forgetting the second (its confirm cookie expires on its own).
function restart(message) {
  pending = null;
  $('tfa-code').value = '';
  $('tfa-qr').removeAttribute('src');
  $('tfa-key').textContent = '';
  show('signin');
  fail(message || '');
  say('');
  $('email').focus();
}

// Shows the second step for a sign-in that answered tfa:true: linking an app first when the
// challenge is an activation, then the code field.
async function startSecondStep(challenge) {
  const confirm = confirmOf(challenge);
  if (!confirm) {
    fail('identityd asked for a second step this page does not know. Try again later.');
    $('password').focus();
    return;
  }
  pending = confirm;
  const activation = confirm.type === 'TfaActivation';
  $('tfa-code').value = '';
  // Backup codes hold letters: a numeric keypad only while none exists yet.
  $('tfa-code').inputMode = activation ? 'numeric' : 'text';
  $('tfa-auth-hint').hidden = activation;
  $('tfa-setup').hidden = true;
  if (activation) {
    const setup = await api('GET', '/api/2.0/settings/tfaapp/setup', undefined, confirm.header);
    const info = setup.body?.response;
    const image = info?.qrCodeSetupImageUrl;
    const key = info?.manualEntryKey;
    if (setup.status !== 200 || typeof image !== 'string' ||
        !image.startsWith('data:image/png;base64,') || typeof key !== 'string') {
      restart(setup.status === 401
                  ? 'This sign-in has expired. Sign in again with your e-mail and password.'
                  : 'identityd could not start linking your app (status ' + setup.status +
                        '). Sign in again in a minute.');
      return;
    }
    $('tfa-qr').src = image;
    // In groups of four, as apps show keys; they ignore the spaces.
    $('tfa-key').textContent = key.replace(/(.{4})(?=.)/g, '$1 ');
    $('tfa-setup').hidden = false;
  }
  show('tfa');
  fail('');
  say(activation ? 'Link your authenticator app, then type its code.'
                 : 'Type the code from your authenticator app.');
  $('tfa-code').focus();
}

// Sends the code of the second step: the signed-in view, or the backup codes when this linked
// the app.
async function verifyCode(event) {
  event.preventDefault();
  fail('');
  if (!pending) {
    restart('Sign in again with your e-mail and password.');
    return;
  }
  const field = $('tfa-code');
  const code = field.value.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9_-]{6}$/.test(code)) {
    fail('Type the 6-digit code from your app, or one of your 6-character backup codes.');
    field.focus();
    return;
  }
  const button = $('tfa-button');
  button.disabled = true;
  say('Checking the code…');
  try {
    const result = await api('POST', '/api/2.0/settings/tfaapp/validate',
                             { code, session: false }, pending.header);
    field.value = '';
    if (result.status === 200 && typeof result.body?.response === 'boolean') {
      pending = null;
      if (result.body.response)
        await showBackupCodes();
      else
        await showSignedIn();
      return;
    }
    if (result.status === 400) {
      fail('That code is not right: type the current 6-digit code from your app, or a backup ' +
           'code.');
    } else if (result.status === 403) {
      fail('Too many codes were tried. Wait a minute, then type the current code from your ' +
           'app.');
    } else if (result.status === 401) {
      restart('This sign-in has expired. Sign in again with your e-mail and password.');
      return;
    } else if (result.status === 0) {
      fail('identityd cannot be reached. Check your connection and try again.');
    } else {
      fail('identityd could not check the code (status ' + result.status +
           '). Try again later.');
    }
    field.focus();
  } finally {
    button.disabled = false;
    if (!$('error').hidden)
      say('');
  }
}

// After linking the app: its five backup codes, once, then on to the signed-in view.
async function showBackupCodes() {
  const result = await api('GET', '/api/2.0/settings/tfaappcodes');
  const list = $('backup-codes');
  list.replaceChildren();
  const codes = Array.isArray(result.body?.response) ? result.body.response : [];
  for (const entry of codes) {
    if (typeof entry?.code !== 'string')
      continue;
    const item = document.createElement('li');
    item.textContent = entry.code;
    list.append(item);
  }
  show('backup');
  if (result.status !== 200 || list.childElementCount === 0) {
    fail('Your app is linked, but identityd could not show your backup codes (status ' +
         result.status + '). Continue, and ask your administrator for new ones.');
  } else {
    fail('');
  }
  say('Your app is linked.');
  $('backup-title').focus();
}

// Leaves the backup codes for the signed-in view, taking them off the page.
async function continueSignedIn() {
  $('backup-codes').replaceChildren();
  await showSignedIn();
}

async function signOut() {
  await api('POST', '/api/2.0/authentication/logout');
  $('token').value = '';
  $('claims').textContent = '';
  $('who').textContent = '';
  show('signin');
  say('Signed out.');
  $('email').focus();
}

document.addEventListener('DOMContentLoaded', async () => {
  $('signin-form').addEventListener('submit', signIn);
  $('signout-button').addEventListener('click', signOut);
  $('tfa-form').addEventListener('submit', verifyCode);
  $('tfa-cancel').addEventListener('click', () => restart(''));
  $('continue-button').addEventListener('click', continueSignedIn);
  const state = await api('GET', '/api/2.0/authentication');
  if (state.status === 200 && state.body?.response === true)
    await showSignedIn();
  else
    $('email').focus();
});
