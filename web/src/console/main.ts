// The admin console (console.html, served at /admin): sign in, the pages in
// a side bar (#/dashboard, #/pools/ID, ...), the live lists behind them.
// Tenant-admins get the same console without the pages only administrators
// may use (hosts, images, tenants); what they see is what the API returns
// for them, so another tenant's objects never reach the page.
import { ApiError, type Me, api, logout, token } from '../api';
import { handleSignIn } from '../sign_in';
import { type PageDef, type PageHandle, app } from './app';
import { LiveConnection, type LiveState, loadTopics, topicsFor } from './live';
import { auditPage } from './pages/audit';
import { dashboardPage } from './pages/dashboard';
import { desktopsPage } from './pages/desktops';
import { hostsPage } from './pages/hosts';
import { imagesPage } from './pages/images';
import { poolsPage } from './pages/pools';
import { sessionsPage } from './pages/sessions';
import { usagePage } from './pages/usage';
import { tenantsPage, usersPage } from './pages/users';
import { el, errorText, h, notify } from './ui';

const PAGES: PageDef[] = [dashboardPage, hostsPage, imagesPage, poolsPage, desktopsPage, sessionsPage, usersPage, tenantsPage, auditPage, usagePage];
const TICK_MS = 10000;  // relative times ("5 min ago") move on

let current: { def: PageDef; handle: PageHandle } | null = null;
let shown = '';  // the page routed to, also when it is refused
let live: LiveConnection | null = null;
let ticker: ReturnType<typeof setInterval> | undefined;

function showLogin(reason = ''): void {
  live?.stop();
  live = null;
  clearInterval(ticker);
  current?.handle.leave?.();
  current = null;
  app.me = null;
  app.store.clear();
  window.dispatchEvent(new Event('oriel-reset'));  // pages drop what they keep for later
  el('shell').hidden = true;
  el('top-nav').hidden = true;
  el('live').hidden = true;
  el('who').textContent = '';
  el('login-view').hidden = false;
  el('login-error').textContent = reason;
  el<HTMLInputElement>(el<HTMLInputElement>('username').value ? 'password' : 'username').focus();
}

function showLive(state: LiveState): void {
  const badge = el('live');
  badge.hidden = false;
  badge.dataset.state = state;
  badge.textContent = state === 'live' ? 'Live' : state === 'connecting' ? 'Connecting…' : 'Reconnecting: updates every 5 s';
}

async function start(): Promise<void> {
  let me: Me;
  try {
    me = await api<Me>('GET', '/api/v1/auth/me');
  } catch (e) {
    return showLogin(e instanceof ApiError && e.status === 401 ? '' : errorText(e));
  }
  if (me.role === 'user') {
    showLogin('');
    el('login-error').replaceChildren('The console is for administrators. ', h('a', { href: '/' }, 'Your desktops are in the portal.'));
    return;
  }
  app.me = me;
  el('login-view').hidden = true;
  el('shell').hidden = false;
  el('top-nav').hidden = false;
  el('who').textContent = `${me.username} (${me.role === 'admin' ? 'administrator' : 'tenant admin'})`;
  el('side-nav').replaceChildren(...PAGES.filter((p) => !p.adminOnly || me.role === 'admin')
    .map((p) => h('a', { href: `#/${p.id}`, dataset: { page: p.id } }, p.title)));
  const topics = topicsFor(me.role);
  showLive('connecting');
  await loadTopics(app.store, topics).catch((e) => notify('error', `Loading the lists failed: ${errorText(e)}`));
  live = new LiveConnection(app.store, topics, showLive, () => showLogin('Your sign-in has expired. Sign in again.'));
  live.start();
  ticker = setInterval(() => current?.handle.update(new Set()), TICK_MS);
  route();
}

function route(): void {
  if (!app.me) return;
  const hash = location.hash.replace(/^#\/?/, '');
  const [path, search = ''] = hash.split('?');
  const [id, ...params] = path.split('/').filter(Boolean).map(decodeURIComponent);
  const def = PAGES.find((p) => p.id === (id || 'dashboard'));
  shown = id || 'dashboard';
  current?.handle.leave?.();
  current = null;
  const root = h('div', { className: `page page-${def?.id ?? 'unknown'}` });
  el('page').replaceChildren(root);
  notify('info', '');
  for (const a of el('side-nav').querySelectorAll('a')) {
    if (a.dataset.page === def?.id) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!def || (def.adminOnly && app.me.role !== 'admin')) {
    el('page-title').textContent = def ? def.title : 'Not found';
    document.title = 'Oriel console';
    root.append(h('p', { className: 'empty' }, def ? 'This page is for administrators.' : `There is no page “${id}”.`));
    return;
  }
  el('page-title').textContent = def.title;
  document.title = `${def.title} — Oriel console`;
  current = { def, handle: def.mount({ root, params, query: new URLSearchParams(search) }) };
  el('content').focus({ preventScroll: true });
}

app.store.subscribe((topics) => current?.handle.update(topics));
window.addEventListener('hashchange', route);
window.addEventListener('oriel-signed-out', () => showLogin('Your sign-in has expired. Sign in again.'));
handleSignIn(start, errorText);
el('logout').onclick = async () => {
  await logout().catch(() => {});
  showLogin('You are signed out.');
};

declare global {
  interface Window {
    orielConsole: Record<string, unknown>;
  }
}
Object.defineProperty(window, 'orielConsole', {
  get: () => ({ live: live?.state ?? null, page: shown || null, role: app.me?.role ?? null }),
});

if (token()) void start();
else showLogin();
