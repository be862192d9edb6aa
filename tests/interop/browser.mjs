// What the browser scripts share: a failed expectation, and Debian's Chromium started headless
// through playwright-core.
import { chromium } from 'playwright-core';

export function check(ok, what) {
  if (!ok)
    throw new Error(what);
}

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.IDD_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // The test runs as root in CI, where Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}
