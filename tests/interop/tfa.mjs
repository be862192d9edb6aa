// Drives the two-factor steps of identityd's sign-in page in headless Chromium (Debian's, through
// playwright-core), for a user whom two-factor sign-in already applies to and who has no app
// linked: sign in, link an app (reading the key the page shows and computing the codes here, as
// the app would), a wrong code then the right one, the backup codes, the signed-in view, sign
// out, sign in again with one of the backup codes, and once more with wrong codes until the
// limit refuses them. Prints one JSON object with what it saw on stdout and exits 0; anything
// unexpected exits 1 with the reason on stderr.
// Usage: node tfa.mjs BASE_URL EMAIL PASSWORD OUT_DIR
import { createHmac } from 'node:crypto';
import { check, launchChromium } from './browser.mjs';

const [base, email, password, outDir] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node tfa.mjs BASE_URL EMAIL PASSWORD OUT_DIR');
  process.exit(2);
}


// RFC 4648 base32 (upper case, no padding; spaces ignored) to bytes.
function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = text.replace(/\s+/g, '');
  const bytes = [];
  let bits = 0, value = 0;
  for (const c of clean) {
    const v = alphabet.indexOf(c);
    check(v >= 0, 'not a base32 key: ' + clean);
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(bytes);
}

// RFC 6238 (over RFC 4226): HMAC-SHA1 of the 30-second step count, dynamic truncation, six
// digits.
function totp(key, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', key).update(counter).digest();
  const at = mac[mac.length - 1] & 0x0f;
  const number = mac.readUInt32BE(at) & 0x7fffffff;
  return String(number % 1000000).padStart(6, '0');
}

const stepNow = () => Math.floor(Date.now() / 1000 / 30);

// A six-digit code that none of the steps around now accepts, whatever the clock does meanwhile.
function wrongCode(key) {
  const near = new Set();
  for (let d = -3; d <= 3; d++)
    near.add(totp(key, stepNow() + d));
  let n = (Number(totp(key, stepNow())) + 500000) % 1000000;
  while (near.has(String(n).padStart(6, '0')))
    n = (n + 1) % 1000000;
  return String(n).padStart(6, '0');
}

const browser = await launchChromium();
const seen = {};
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  const scriptErrors = [];
  page.on('pageerror', (e) => scriptErrors.push(String(e)));
  const cookieNamed = async (name) => (await context.cookies()).find((c) => c.name === name);
  const codeField = page.getByLabel('Code from your app', { exact: true });
  const secondStep = page.getByRole('heading', { name: 'Second step: your authenticator app' });
  const signedIn = page.getByRole('heading', { name: 'Signed in' });
  const alert = page.getByRole('alert');

  const response = await page.goto(base + '/login');
  check(response.status() === 200, 'GET /login answered ' + response.status());
  seen.csp = response.headers()['content-security-policy'] || '';

  async function signInWithPassword() {
    await page.getByLabel('E-mail').fill(email);
    const passwordField = page.getByLabel('Password', { exact: true });
    await passwordField.fill(password);
    await passwordField.press('Enter');
    await secondStep.waitFor();
    // Focus moves to the code field once the step is ready.
    await page.waitForFunction(() => document.activeElement?.id === 'tfa-code');
  }

  // ---- first sign-in: linking an app ----
  await signInWithPassword();
  check(await cookieNamed('asc_auth_key') === undefined, 'a session before the second step');
  const qr = page.getByRole('img', { name: 'QR code for your authenticator app' });
  await qr.waitFor({ state: 'visible' });
  seen.qrSrc = (await qr.getAttribute('src')).slice(0, 22);
  // The image loads (the CSP lets data: images in): wait for it to decode, then read its size.
  await page.waitForFunction(() => document.getElementById('tfa-qr').complete);
  seen.qrNaturalWidth = await qr.evaluate((img) => img.naturalWidth);
  seen.codeField = await codeField.evaluate(
      (input) => ({ inputMode: input.inputMode, autocomplete: input.autocomplete,
                    maxLength: input.maxLength }));
  const key = base32Decode(await page.locator('#tfa-key').textContent());
  seen.keyBytes = key.length;
  await page.screenshot({ path: outDir + '/login-tfa-setup.png', fullPage: true });
  seen.setupScreenshot = outDir + '/login-tfa-setup.png';

  // A wrong code: an alert that says what to do, no session, the field ready for another try.
  await codeField.fill(wrongCode(key));
  await codeField.press('Enter');
  await alert.waitFor({ state: 'visible' });
  seen.wrongCodeError = (await alert.textContent()).trim();
  check(await cookieNamed('asc_auth_key') === undefined, 'a session after a wrong code');
  await page.waitForFunction(() => document.activeElement?.id === 'tfa-code');

  // The right one, as the app shows it now: the backup codes, once.
  await codeField.fill(totp(key, stepNow()));
  await codeField.press('Enter');
  await page.getByRole('heading', { name: 'Your backup codes' }).waitFor();
  seen.backupCodes = await page.locator('#backup-codes li').allTextContents();
  seen.keepSafe = /somewhere safe/.test(await page.locator('#backup').textContent());
  seen.alertAfterRightCode = await alert.isVisible();
  await page.screenshot({ path: outDir + '/login-tfa-backup-codes.png', fullPage: true });
  seen.codesScreenshot = outDir + '/login-tfa-backup-codes.png';

  // On to the signed-in view, by the keyboard.
  await page.getByRole('button', { name: 'Continue' }).focus();
  await page.keyboard.press('Enter');
  await signedIn.waitFor();
  seen.who = (await page.locator('#who').textContent()).trim();
  seen.claims = JSON.parse(await page.locator('#claims').textContent());
  const cookie = await cookieNamed('asc_auth_key');
  check(cookie !== undefined, 'no asc_auth_key cookie after the second step');
  seen.cookie = { httpOnly: cookie.httpOnly, sameSite: cookie.sameSite, path: cookie.path };
  seen.confirmCookieLeft = (await cookieNamed('asc_confirm_key_TfaActivation')) !== undefined;
  seen.codesLeftOnPage = await page.locator('#backup-codes li').count();

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  seen.cookieAfterSignOut = (await cookieNamed('asc_auth_key')) !== undefined;

  // ---- second sign-in: the app is linked; a backup code stands in for it ----
  await signInWithPassword();
  seen.secondStepShowsQr = await page.locator('#tfa-setup').isVisible();
  seen.secondStepInputMode = await codeField.evaluate((input) => input.inputMode);
  const backup = seen.backupCodes[0] || '';
  await codeField.fill(backup);
  await codeField.press('Enter');
  await signedIn.waitFor();
  seen.whoAfterBackupCode = (await page.locator('#who').textContent()).trim();
  seen.cookieAfterBackupCode = (await cookieNamed('asc_auth_key')) !== undefined;
  // identityd now counts that code as spent.
  const codes = await page.evaluate(async () => {
    const r = await fetch('/api/2.0/settings/tfaappcodes', { credentials: 'same-origin' });
    return (await r.json()).response;
  });
  seen.backupCodeUsed = codes.find((c) => c.code === backup)?.isUsed === true;

  // ---- third sign-in: wrong codes until identityd stops checking them ----
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await signInWithPassword();
  const tries = [];
  // The limit is 5 codes a minute: the 6th wrong one is refused at the latest.
  for (let i = 0; i < 7 && !/wait a minute/i.test(tries[tries.length - 1] || ''); i++) {
    await codeField.fill(wrongCode(key));
    await codeField.press('Enter');
    // Submitting hides the alert and disables the button until identityd has answered.
    await page.waitForFunction(() => !document.getElementById('tfa-button').disabled &&
                                     !document.getElementById('error').hidden);
    tries.push((await alert.textContent()).trim());
  }
  seen.tooManyError = tries[tries.length - 1];
  seen.tooManyAfter = tries.length;
  seen.cookieAfterTooMany = (await cookieNamed('asc_auth_key')) !== undefined;
  seen.scriptErrors = scriptErrors;
  process.stdout.write(JSON.stringify(seen) + '\n');
} catch (e) {
  console.error(String(e && e.stack || e));
  process.exitCode = 1;
} finally {
  await browser.close();
}
