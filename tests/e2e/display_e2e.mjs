// Drives real headless Chromium (playwright-core) through the portal and the
// desktop client as a person would: sign in, connect to the pool, type a
// command into the desktop. Then it tells the test (a file `ready` in
// `out`) that orield may be restarted, watches the client lose and regain
// its connection by itself, and types a second command. Called by
// browser_e2e_test with one JSON argument; prints one JSON line with what
// it saw and saves screenshots and the client's canvas (canvas.png) in `out`.
// Last (when the test has written `log-off`), it logs off from the desktop's
// toolbar and returns to the portal.
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { launchBrowser } from './browser.mjs';

const args = JSON.parse(process.argv[2]);

// Characters typed with Shift on a US keyboard, and the key they are on.
const SHIFTED = { '>': 'Period', '<': 'Comma', '|': 'Backslash', '_': 'Minus', ':': 'Semicolon', '"': 'Quote' };

// Types as a person does: Shift held down for shifted characters, so the
// desktop (which follows scancodes) sees the same keys a keyboard sends.
async function typeLikeAPerson(page, text) {
  for (const ch of text) {
    if (SHIFTED[ch]) {
      await page.keyboard.down('Shift');
      await page.keyboard.press(SHIFTED[ch]);
      await page.keyboard.up('Shift');
    } else {
      await page.keyboard.press(ch === ' ' ? 'Space' : ch);
    }
  }
  await page.keyboard.press('Enter');
}

const client = (page) => page.evaluate(() => ({ ...window.orielClient }));

const browser = await launchBrowser(args);
const result = { states: [] };
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 950 } });
  const page = await context.newPage();
  page.on('console', (m) => process.stderr.write(`[page] ${m.text()}\n`));
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  await page.goto(args.url + '/');
  await page.screenshot({ path: path.join(args.out, 'login.png') });
  await page.fill('#username', args.username);
  await page.fill('#password', args.password);
  await page.click('#login');
  const card = page.locator(`[data-pool-id="${args.pool}"]`);
  await card.waitFor({ timeout: 15000 });
  result.card = await card.innerText();
  await page.screenshot({ path: path.join(args.out, 'portal.png') });

  await card.getByRole('button', { name: /^connect/i }).click();
  await page.waitForURL(/desktop\.html/, { timeout: 15000 });
  result.url = page.url();
  await page.waitForFunction(() => window.orielClient.state === 'connected' && window.orielClient.frames > 0,
                             null, { timeout: 30000 });
  await page.locator('canvas#screen').click();
  await typeLikeAPerson(page, `echo ${args.word} >/dev/ttyS0`);
  // Let the echo reach the screen, then keep the canvas as it is now.
  await page.waitForTimeout(2000);
  const data = await page.evaluate(() => document.getElementById('screen').toDataURL('image/png'));
  writeFileSync(path.join(args.out, 'canvas.png'), Buffer.from(data.split(',')[1], 'base64'));
  await page.screenshot({ path: path.join(args.out, 'desktop.png') });
  result.first = await client(page);

  // The test restarts orield now; the client must notice and come back.
  writeFileSync(path.join(args.out, 'ready'), '');
  const seen = async (want, timeout) => {
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      const c = await client(page);
      if (result.states.at(-1) !== c.state) result.states.push(c.state);
      if (want(c)) return c;
      await page.waitForTimeout(100);
    }
    return null;
  };
  result.lost = await seen((c) => c.state !== 'connected', 60000);
  if (result.lost) await page.screenshot({ path: path.join(args.out, 'reconnecting.png') });
  result.back = await seen((c) => c.state === 'connected' && c.frames > result.first.frames, 120000);
  if (result.back) {
    await page.locator('canvas#screen').click();
    await typeLikeAPerson(page, `echo ${args.word2} >/dev/ttyS0`);
    await page.waitForTimeout(1000);
    await page.screenshot({ path: path.join(args.out, 'desktop-after.png') });
  }
  result.final = await client(page);
  // The test reads the guest's serial log before the logoff resets the desktop.
  writeFileSync(path.join(args.out, 'typed-again'), '');
  for (let i = 0; i < 600 && !existsSync(path.join(args.out, 'log-off')); i++) await page.waitForTimeout(100);

  // Log off from the desktop's toolbar (it asks first), then back to the
  // portal, where the pool offers a fresh desktop again.
  page.once('dialog', (d) => d.accept());
  await page.click('#logoff');
  await page.waitForFunction(() => window.orielClient.state === 'closed', null, { timeout: 15000 });
  result.loggedOff = await client(page);
  await page.screenshot({ path: path.join(args.out, 'logged-off.png') });
  await page.getByRole('link', { name: /back to your desktops/i }).first().click();
  const again = page.locator(`[data-pool-id="${args.pool}"][data-state="available"]`);
  await again.waitFor({ timeout: 15000 });
  result.cardAfter = await again.innerText();
  await page.screenshot({ path: path.join(args.out, 'portal-after.png') });
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
