// Drives identityd's sign-in page in headless Chromium (Debian's, through playwright-core) as a
// person would: a wrong password, then the right one, a reload, sign-out. Reads the session
// cookie through the browser's own cookie store, never through the page. Prints one JSON
// object with what it saw on stdout and exits 0; anything unexpected exits 1 with the reason
// on stderr. Usage: node login.mjs BASE_URL EMAIL PASSWORD OUT_DIR
import { check, launchChromium } from './browser.mjs';

const [base, email, password, outDir] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node login.mjs BASE_URL EMAIL PASSWORD OUT_DIR');
  process.exit(2);
}


const browser = await launchChromium();
const seen = {};
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  // Exceptions thrown by the page's script (a 401 the page expects is not one).
  const scriptErrors = [];
  page.on('pageerror', (e) => scriptErrors.push(String(e)));

  const response = await page.goto(base + '/login');
  check(response.status() === 200, 'GET /login answered ' + response.status());
  seen.csp = response.headers()['content-security-policy'] || '';

  // The form is labelled: reach the fields by their labels, as assistive technology does.
  const emailField = page.getByLabel('E-mail');
  const passwordField = page.getByLabel('Password', { exact: true });
  await emailField.fill(email);
  await passwordField.fill(password + '-wrong');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor({ state: 'visible' });
  seen.wrongPasswordError = (await alert.textContent()).trim();
  check(/wrong/i.test(seen.wrongPasswordError), 'no clear error: ' + seen.wrongPasswordError);
  check((await context.cookies()).every((c) => c.name !== 'asc_auth_key'),
        'a cookie after a wrong password');

  // The keyboard alone signs in: focus is back on the password field.
  await passwordField.fill(password);
  await passwordField.press('Enter');
  await page.getByRole('heading', { name: 'Signed in' }).waitFor();
  seen.who = (await page.locator('#who').textContent()).trim();
  seen.token = await page.locator('#token').inputValue();
  seen.claims = JSON.parse(await page.locator('#claims').textContent());
  check(seen.claims.user_email === email, 'claims of another user: ' + seen.claims.user_email);

  const cookie = (await context.cookies()).find((c) => c.name === 'asc_auth_key');
  check(cookie !== undefined, 'no asc_auth_key cookie after signing in');
  seen.cookie = { httpOnly: cookie.httpOnly, sameSite: cookie.sameSite, secure: cookie.secure,
                  path: cookie.path };
  // The page's script cannot read it.
  seen.cookieVisibleToScript = await page.evaluate(() => document.cookie.includes('asc_auth_key'));

  await page.screenshot({ path: outDir + '/login-signed-in.png', fullPage: true });
  seen.screenshot = outDir + '/login-signed-in.png';

  // A reload keeps the session.
  await page.reload();
  await page.getByRole('heading', { name: 'Signed in' }).waitFor();
  seen.afterReload = (await page.locator('#who').textContent()).trim();

  // Signing out ends it: the cookie is gone and the form is back.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  seen.cookieAfterSignOut = (await context.cookies()).some((c) => c.name === 'asc_auth_key');
  await page.reload();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  seen.signedInAfterSignOutReload = await page.locator('#signed-in').isVisible();
  seen.scriptErrors = scriptErrors;
  process.stdout.write(JSON.stringify(seen) + '\n');
} catch (e) {
  console.error(String(e && e.stack || e));
  process.exitCode = 1;
} finally {
  await browser.close();
}
