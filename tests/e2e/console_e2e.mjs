// Drives real headless Chromium (playwright-core) through the admin console
// and the portal as people would: an administrator imports and uploads
// images, creates a pool and entitles a user; the user connects and logs off;
// a tenant-admin walks every page. Called by console_e2e_test with one JSON
// argument; prints one JSON line with what it saw and saves a screenshot of
// every page, at a laptop (1400×900) and a tablet (820×1180) size, in `out`.
import path from 'node:path';
import { launchBrowser } from './browser.mjs';

const args = JSON.parse(process.argv[2]);

const started = Date.now();
// Where the time goes, for whoever wonders why the test is slow.
const phase = (name) => process.stderr.write(`[console_e2e ${((Date.now() - started) / 1000).toFixed(1)} s] ${name}\n`);
const LAPTOP = { width: 1400, height: 900 };
const TABLET = { width: 820, height: 1180 };
const result = {};
// Every request of every page goes to orield: no CDN, no external font.
const external = [];

const browser = await launchBrowser(args);

async function newPage(tag) {
  const context = await browser.newContext({ viewport: LAPTOP });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') process.stderr.write(`[${tag}] ${m.text()}\n`); });
  page.on('pageerror', (e) => process.stderr.write(`[${tag} page error] ${e.message}\n`));
  page.on('request', (r) => {
    if (!r.url().startsWith(`${args.url}/`) && !/^(blob|data):/.test(r.url())) external.push(`${tag}: ${r.url()}`);
  });
  return page;
}

async function shot(page, name) {
  await page.waitForTimeout(100);  // let a bar's transition settle
  await page.screenshot({ path: path.join(args.out, `${name}.png`), fullPage: true });
}

async function signIn(page, where, who) {
  await page.goto(args.url + where);
  await page.fill('#username', who.username);
  await page.fill('#password', who.password);
  await page.click('#login');
}

async function consolePage(page, hash, id) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForFunction((want) => window.orielConsole.page === want, id);
  await page.waitForTimeout(150);
}

const dialog = (page) => page.locator('dialog[open]');

// The result line of the action about to run: cleared first, so that an
// earlier message is never taken for this one's.
async function clearFlash(page) {
  await page.evaluate(() => { const f = document.getElementById('flash'); f.className = 'flash'; f.hidden = true; });
}
async function flashResult(page) {
  const f = page.locator('#flash.ok, #flash.error');
  await f.waitFor({ timeout: 30000 });
  return { kind: (await f.getAttribute('class')).replace('flash ', ''), text: (await f.locator('.flash-text').innerText()).trim() };
}

// Polls a progress bar in the transfers row that mentions `name` until it
// says Ready (or Failed); returns the values seen and the last text.
async function followTransfer(page, name, timeout = 90000) {
  const row = page.locator('tr[data-key^="import-"]', { hasText: name });
  const seen = [];
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    if (await row.count()) {
      // The text first: once it says Ready, the bar read after it is final.
      const text = await row.innerText();
      const value = Number(await row.locator('[role="progressbar"]').getAttribute('aria-valuenow'));
      if (seen.at(-1) !== value) seen.push(value);
      if (/Ready|Failed/.test(text)) return { values: seen, final: value, text };
    }
    await page.waitForTimeout(200);
  }
  return { values: seen, final: seen.at(-1) ?? null, text: 'timed out' };
}

async function bootFields(d) {
  await d.getByLabel('Boot').selectOption('kernel');
  await d.getByLabel('Kernel path').fill(args.guest.kernel);
  await d.getByLabel('Initrd path').fill(args.guest.initrd);
  await d.getByLabel('Kernel command line').fill(args.guest.cmdline);
}

async function adminImports(page) {
  await consolePage(page, '#/images', 'images');
  await page.getByRole('button', { name: 'Import from the server' }).click();
  let d = dialog(page);
  await d.getByLabel('Name').fill('Guest from path');
  await d.getByLabel('Path on the server').fill(args.guest.disk);
  await d.getByLabel('Format').selectOption('raw');
  await d.getByLabel('Boot').selectOption('uefi');  // no kernel to copy: this image is only imported
  await shot(page, 'admin-laptop-import-dialog');
  await d.getByRole('button', { name: 'Import' }).click();
  result.pathImport = await followTransfer(page, 'Guest from path');
  // The dialog's default owner is every tenant: the pool below is built on an image imported the same way.
  const owner = page.locator('table[aria-label="Images"] tbody tr', { hasText: 'Guest from path' }).locator('td[data-label="Owner"]');
  result.pathImport.owner = (await owner.innerText()).trim();
  if (result.pathImport.owner !== 'Shared') throw new Error(`the Owner column of Guest from path says "${result.pathImport.owner}", not "Shared"`);

  // A fresh upload from the browser, in chunks: offsets are watched on the wire.
  const offsets = { fresh: [], resumed: [] };
  page.on('request', (r) => {
    const m = /\/api\/v1\/uploads\/([^/?]+)\?offset=(\d+)/.exec(r.url());
    if (m && r.method() === 'PUT') (m[1] === args.resume.id ? offsets.resumed : offsets.fresh).push(Number(m[2]));
  });
  await page.getByRole('button', { name: 'Upload a file' }).click();
  d = dialog(page);
  await d.getByLabel('File').setInputFiles(args.vhd);
  await d.getByLabel('Name').fill('Guest uploaded');
  result.detectedFormat = await d.getByLabel('Format').inputValue();
  await bootFields(d);
  await d.getByRole('button', { name: 'Upload' }).click();
  result.upload = await followTransfer(page, 'Guest uploaded');
  result.upload.chunks = offsets.fresh.length;
  result.upload.increasing = offsets.fresh.every((o, i) => i === 0 || o > offsets.fresh[i - 1]);

  // The upload a crashed browser left half-way: choose the same file again.
  const stopped = page.locator(`tr[data-key="upload-${args.resume.id}"]`);
  await stopped.waitFor({ timeout: 10000 });
  result.stoppedText = await stopped.innerText();
  await shot(page, 'admin-laptop-images-transfers');
  await stopped.locator('input[type="file"]').setInputFiles(args.resume.file);
  result.resumed = await followTransfer(page, 'Guest resumed');
  result.resumed.firstOffset = offsets.resumed[0] ?? null;
  await shot(page, 'admin-laptop-images');

  // An image's details.
  await page.getByRole('button', { name: 'Details of Guest uploaded' }).click();
  result.details = await dialog(page).locator('dl.details').innerText();
  await shot(page, 'admin-laptop-image-details');
  await dialog(page).getByRole('button', { name: 'Close', exact: true }).click();
  await dialog(page).waitFor({ state: 'detached' });

  // An action the API refuses shows the API's reason.
  const base = page.locator('tr', { hasText: 'Base image' });
  await base.getByRole('button', { name: /^Delete/ }).click();
  await dialog(page).getByRole('button', { name: 'Delete image' }).click();
  await page.locator('#flash.error').waitFor({ timeout: 10000 });
  result.errorShown = await page.locator('#flash').innerText();
  await shot(page, 'admin-laptop-error');
}

async function adminPool(page) {
  await consolePage(page, '#/pools', 'pools');
  await page.getByRole('button', { name: 'New pool' }).click();
  const d = dialog(page);
  await d.getByLabel('Name').fill('Acme desktops');
  await d.getByLabel('Tenant').selectOption({ label: args.tenant });
  await d.getByLabel('Image').selectOption({ label: 'Guest uploaded' });
  await d.getByLabel('Type').selectOption('pooled');
  await d.getByLabel('Desktops at most').fill('1');
  await d.getByLabel('Kept ready').fill('1');
  await d.getByLabel('vCPUs').fill('1');
  await d.getByLabel('Memory (MiB)').fill('192');
  await shot(page, 'admin-laptop-new-pool');
  await d.getByRole('button', { name: 'Create pool' }).click();
  await page.getByRole('link', { name: 'Acme desktops' }).click();
  await page.waitForFunction(() => /#\/pools\/p-/.test(location.hash));
  result.poolHash = await page.evaluate(() => location.hash);
  await page.getByLabel('User of the tenant').selectOption({ label: `${args.user.username} (user)` });
  await page.getByRole('button', { name: 'Entitle', exact: true }).click();
  const row = page.locator('table[aria-label="Entitled users"] tbody tr', { hasText: args.user.username });
  await row.waitFor({ timeout: 10000 });
  result.pool = { entitled: (await row.locator('td').first().innerText()).trim() };
  await shot(page, 'admin-laptop-pool');
}

async function adminDesktops(page) {
  await consolePage(page, '#/desktops', 'desktops');
  const card = page.locator('article.desktop-card[data-state="running"]', { hasText: 'Acme desktops' });
  await card.waitFor({ timeout: 120000 });
  result.thumbnail = await page.waitForFunction(() => [...document.querySelectorAll('article.desktop-card img')]
    .some((i) => i.naturalWidth > 0 && i.closest('article').textContent.includes('Acme desktops')), null, { timeout: 20000 })
    .then(() => true, () => false);
  await shot(page, 'admin-laptop-desktops');
  await card.getByRole('button', { name: /^Open the console/ }).first().click();
  await page.waitForFunction(() => document.querySelector('dialog[open] img.console-screen')?.naturalWidth > 0, null, { timeout: 20000 });
  await shot(page, 'admin-laptop-console-view');
  await dialog(page).getByRole('button', { name: 'Close', exact: true }).click();
}

// The user's visit, watched from the console's sessions page meanwhile.
async function userVisit(admin) {
  const page = await newPage('user');
  await signIn(page, '/', args.user);
  const card = page.locator('article.card', { hasText: 'Acme desktops' });
  await card.waitFor({ timeout: 15000 });
  await shot(page, 'user-laptop-portal');
  await card.getByRole('button', { name: /^connect/i }).click();
  await page.waitForURL(/desktop\.html/, { timeout: 15000 });
  await page.waitForFunction(() => window.orielClient.state === 'connected' && window.orielClient.frames > 0, null, { timeout: 60000 });
  await page.waitForTimeout(1000);
  await shot(page, 'user-laptop-desktop');
  result.user = { state: (await page.evaluate(() => window.orielClient)).state, frames: (await page.evaluate(() => window.orielClient)).frames };

  await consolePage(admin, '#/sessions', 'sessions');
  const row = admin.locator('table[aria-label="Sessions"] tbody tr', { hasText: args.user.username });
  result.liveSession = { appeared: await row.waitFor({ timeout: 15000 }).then(() => true, () => false) };
  await shot(admin, 'admin-laptop-sessions');

  page.once('dialog', (d) => d.accept());
  await page.click('#logoff');
  await page.waitForFunction(() => window.orielClient.state === 'closed', null, { timeout: 15000 });
  result.user.loggedOff = (await page.evaluate(() => window.orielClient)).message;
  await page.getByRole('link', { name: /back to your desktops/i }).first().click();
  await page.locator('article.card[data-state="available"]', { hasText: 'Acme desktops' }).waitFor({ timeout: 15000 });
  await shot(page, 'user-laptop-portal-after');
  result.liveSession.gone = await row.waitFor({ state: 'detached', timeout: 15000 }).then(() => true, () => false);
  await page.context().close();
}

const ADMIN_PAGES = ['dashboard', 'hosts', 'images', 'pools', 'desktops', 'sessions', 'users', 'tenants', 'audit', 'usage'];

async function everyPage(page, who, pages, size, check = async () => {}) {
  await page.setViewportSize(size === 'tablet' ? TABLET : LAPTOP);
  for (const id of pages) {
    await consolePage(page, `#/${id}`, id);
    await check(id);
    await shot(page, `${who}-${size}-${id}`);
  }
  await consolePage(page, result.poolHash, 'pools');
  await page.locator('table[aria-label="Entitled users"]').waitFor();
  await check('pool');
  await shot(page, `${who}-${size}-pool`);
}

// The audit log filtered by action, and paged.
async function auditPages(page) {
  await consolePage(page, '#/audit', 'audit');
  const rows = 'table[aria-label="Audit events"] tbody tr';
  await page.getByLabel('Action', { exact: true }).fill('pool.create');
  await page.getByRole('button', { name: 'Filter', exact: true }).click();
  await page.waitForFunction((sel) => {
    const r = [...document.querySelectorAll(sel)];
    return r.length > 0 && r.every((tr) => tr.querySelector('code')?.textContent === 'pool.create');
  }, rows, { timeout: 10000 });
  const filtered = await page.locator(rows).count();
  await shot(page, 'admin-laptop-audit-filtered');
  await page.getByLabel('Action', { exact: true }).fill('');
  await page.getByLabel('Per page').selectOption('25');
  await page.getByRole('button', { name: 'Filter', exact: true }).click();
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 25, rows, { timeout: 10000 });
  const first = await page.locator(rows).evaluateAll((trs) => trs.map((tr) => tr.dataset.key));
  await page.getByRole('button', { name: 'Older', exact: true }).click();
  await page.getByText(/^Page 2:/).waitFor({ timeout: 10000 });
  const second = await page.locator(rows).evaluateAll((trs) => trs.map((tr) => tr.dataset.key));
  result.audit = { filtered, firstPage: first.length, secondPage: second.length, overlap: second.filter((k) => first.includes(k)).length };
}

// The usage report as the CSV file the browser saves.
async function usageCsv(page) {
  await consolePage(page, '#/usage', 'usage');
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 15000 }),
    page.getByRole('button', { name: 'Download CSV' }).click(),
  ]);
  const { readFile } = await import('node:fs/promises');
  return { name: download.suggestedFilename(), text: await readFile(await download.path(), 'utf8') };
}

// Keyboard only: a side bar link, a button that opens a dialog, Escape.
async function keyboard(page) {
  await consolePage(page, '#/dashboard', 'dashboard');
  await page.locator('#side-nav a[data-page="pools"]').focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => window.orielConsole.page === 'pools', null, { timeout: 5000 });
  await page.getByRole('button', { name: 'New pool' }).focus();
  await page.keyboard.press('Enter');
  await dialog(page).waitFor({ timeout: 5000 });
  const focusInDialog = await page.evaluate(() => !!document.activeElement?.closest('dialog[open]'));
  await page.keyboard.press('Escape');
  const closed = await dialog(page).waitFor({ state: 'detached', timeout: 5000 }).then(() => true, () => false);
  return { page: 'pools', focusInDialog, closed };
}

// The last actions of the administrator: edit the pool, log the other
// tenant's user off, put the host into maintenance (and back). Each shows
// its result or the server's error text.
async function adminActions(page) {
  await consolePage(page, result.poolHash, 'pools');
  await page.getByRole('button', { name: 'Edit', exact: true }).click();
  let d = dialog(page);
  await d.getByText('More settings').click();
  await d.getByLabel('Idle timeout (minutes, 0 for never)').fill('30');
  await clearFlash(page);
  await d.getByRole('button', { name: 'Save' }).click();
  const edit = await flashResult(page);
  edit.idle = await page.locator('dl.details dt', { hasText: 'Idle timeout' }).locator('xpath=following-sibling::dd[1]').innerText();

  await consolePage(page, '#/sessions', 'sessions');
  const bob = page.locator('table[aria-label="Sessions"] tbody tr', { hasText: 'bob-globex' });
  await clearFlash(page);
  await bob.getByRole('button', { name: /^Log off/ }).click();
  await dialog(page).getByRole('button', { name: 'Log off' }).click();
  const logoff = await flashResult(page);
  logoff.gone = await bob.waitFor({ state: 'detached', timeout: 15000 }).then(() => true, () => false);

  await consolePage(page, '#/hosts', 'hosts');
  const host = page.locator('table[aria-label="Hosts"] tbody tr').first();
  await clearFlash(page);
  await host.getByRole('button', { name: /^Maintenance for/ }).click();
  await dialog(page).getByRole('button', { name: 'Start maintenance' }).click();
  const maintenance = await flashResult(page);
  await shot(page, 'admin-laptop-host-maintenance');
  let activate = null;
  if (maintenance.kind === 'ok') {
    const button = host.getByRole('button', { name: /^Activate/ });
    if (await button.waitFor({ timeout: 60000 }).then(() => true, () => false)) {
      await clearFlash(page);
      await button.click();
      activate = await flashResult(page);
    } else {
      activate = { kind: 'none', text: `no Activate button; the row says: ${await host.innerText()}` };
    }
  }
  result.actions = { edit, logoff, maintenance, activate };
}

// The tenant-admin sees the console of their tenant: every page, every
// answer of the API and every message of the event stream is checked for
// the other tenant's names and ids.
async function tenantAdminWalk() {
  const page = await newPage('tenant-admin');
  const leaks = [];
  let responses = 0, frames = 0, watching = true;
  const scan = (where, text) => {
    for (const f of args.forbidden) if (watching && text.includes(f)) leaks.push(`${where}: ${f}`);
  };
  page.on('response', async (r) => {
    if (!r.url().includes('/api/') || !/json|csv|text/.test(r.headers()['content-type'] ?? '')) return;
    responses++;
    scan(`response ${r.url()}`, await r.text().catch(() => ''));
  });
  page.on('websocket', (ws) => ws.on('framereceived', (f) => { frames++; scan('event stream', String(f.payload)); }));
  await signIn(page, '/admin', args.tenantAdmin);
  await page.waitForFunction(() => window.orielConsole.live === 'live', null, { timeout: 15000 });
  const nav = await page.locator('#side-nav a').allInnerTexts();
  const pages = ['dashboard', 'pools', 'desktops', 'sessions', 'users', 'audit', 'usage'];
  const visited = [];
  const check = async (id) => {
    visited.push(id);
    scan(`page ${id}`, await page.content());
  };
  for (const size of ['laptop', 'tablet']) await everyPage(page, 'tenant-admin', pages, size, check);
  const csv = await usageCsv(page);
  scan('usage CSV', csv.text);
  await page.setViewportSize(LAPTOP);
  await consolePage(page, '#/hosts', 'hosts');
  const hostsPage = (await page.locator('#page').innerText()).trim();
  watching = false;  // the next page names the other pool's id itself
  await consolePage(page, `#/pools/${args.forbidden[3]}`, 'pools');
  await page.waitForFunction(() => document.querySelector('#page .error')?.textContent, null, { timeout: 10000 });
  const otherPool = await page.locator('#page .error').first().innerText();
  await shot(page, 'tenant-admin-laptop-other-pool');
  result.tenantAdmin = { nav, pages: [...new Set(visited)], leaks, responses, frames, hostsPage, otherPool };
  await page.context().close();
}

try {
  const admin = await newPage('admin');
  await signIn(admin, '/admin', args.admin);
  await admin.waitForFunction(() => window.orielConsole.live === 'live', null, { timeout: 15000 });
  await shot(admin, 'admin-laptop-signed-in');
  phase('signed in');
  await adminImports(admin);
  phase('imported and uploaded');
  await adminPool(admin);
  phase('pool created');
  await adminDesktops(admin);
  phase('desktop seen');
  await userVisit(admin);
  phase('user visited');
  for (const size of ['laptop', 'tablet']) await everyPage(admin, 'admin', ADMIN_PAGES, size);
  await consolePage(admin, '#/pools', 'pools');
  await admin.getByRole('button', { name: 'New pool' }).click();
  await shot(admin, 'admin-tablet-new-pool');
  await admin.keyboard.press('Escape');
  await dialog(admin).waitFor({ state: 'detached' });
  await admin.setViewportSize(LAPTOP);
  phase('admin pages');
  await auditPages(admin);
  result.csv = await usageCsv(admin);
  result.keyboard = await keyboard(admin);
  phase('audit, usage, keyboard');
  await tenantAdminWalk();
  phase('tenant-admin pages');
  await adminActions(admin);
  phase('pool edit, logoff, maintenance');
} finally {
  await browser.close();
}
result.external = external;
console.log(JSON.stringify(result));
