// The user portal (index.html): sign in, see the desktops I may use with
// their state, connect, disconnect, log off, restart my desktop. Refreshes
// itself every few seconds; every action shows its result or its error.
import { ApiError, type Desktop, type Me, type Pool, type Session, api, desktopPage, logout, token } from './api';
import { handleSignIn } from './sign_in';

const REFRESH_MS = 5000;

function el<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page has no #${id}`);
  return e as T;
}

function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> & { dataset?: Record<string, string> } = {},
                                                  ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  const { dataset, ...rest } = props;
  Object.assign(e, rest);
  if (dataset) Object.assign(e.dataset, dataset);
  e.append(...children);
  return e;
}

let me: Me | null = null;
let timer: ReturnType<typeof setTimeout> | undefined;

function showMessage(text: string, kind: 'error' | 'info' = 'error'): void {
  const m = el('message');
  m.textContent = text;
  m.className = `message ${kind}`;
  m.hidden = !text;
}

function showLogin(reason = ''): void {
  clearTimeout(timer);
  me = null;
  el('app').hidden = true;
  el('nav').hidden = true;
  el('who').textContent = '';
  el('login-view').hidden = false;
  el('login-error').textContent = reason;
  el<HTMLInputElement>(el<HTMLInputElement>('username').value ? 'password' : 'username').focus();
}

async function showPortal(): Promise<void> {
  try {
    me = await api<Me>('GET', '/api/v1/auth/me');
  } catch (e) {
    return showLogin(e instanceof ApiError && e.status === 401 ? '' : String(e));
  }
  el('login-view').hidden = true;
  el('app').hidden = false;
  el('nav').hidden = false;
  el('who').textContent = `${me.username} (${me.role})`;
  el('console-link').hidden = me.role === 'user';
  await refresh();
}

async function refresh(): Promise<void> {
  clearTimeout(timer);
  try {
    const [pools, sessions] = await Promise.all([
      api<Pool[]>('GET', '/api/v1/pools'),
      api<Session[]>('GET', me?.role === 'user' ? '/api/v1/sessions' : `/api/v1/sessions?user_id=${me?.id ?? ''}`),
    ]);
    const desktops = await Promise.all(sessions.map((s) =>
      api<Desktop>('GET', `/api/v1/desktops/${s.desktop_id}`).catch(() => null)));
    render(pools, sessions, desktops);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return showLogin('Your sign-in has expired. Sign in again.');
    showMessage(e instanceof Error ? e.message : String(e));
  }
  timer = setTimeout(() => void refresh(), REFRESH_MS);
}

function render(pools: Pool[], sessions: Session[], desktops: Array<Desktop | null>): void {
  const list = el('pools');
  const cards = pools.map((p) => {
    const i = sessions.findIndex((s) => s.pool_id === p.id && s.state !== 'ended');
    return card(p, i >= 0 ? sessions[i] : null, i >= 0 ? desktops[i] : null);
  });
  list.replaceChildren(...cards);
  el('empty').hidden = pools.length > 0;
}

function describe(pool: Pool, session: Session | null, desktop: Desktop | null): string {
  if (pool.state === 'deleting') return 'Being removed by your administrator.';
  if (!session) {
    const kind = pool.type === 'persistent' ? 'Your own desktop, kept between sessions.' : 'A fresh desktop each time you connect.';
    const ready = pool.type !== 'pooled' ? '' : (pool.running_free ?? 0) > 0 ? ' One is ready now.' : ' One starts when you connect.';
    return kind + ready;
  }
  const since = new Date(session.created_at).toLocaleString();
  const d = desktop ? `desktop ${desktop.state}` : 'desktop unknown';
  return `${session.state === 'connected' ? 'In use' : 'Signed on, not connected'} since ${since}; ${d}.`;
}

function card(pool: Pool, session: Session | null, desktop: Desktop | null): HTMLElement {
  const actions = h('div', { className: 'actions' });
  const connect = h('button', { className: 'primary', type: 'button' }, session ? 'Reconnect' : 'Connect');
  connect.setAttribute('aria-label', `${session ? 'Reconnect to' : 'Connect to'} ${pool.name}`);
  connect.onclick = () => void act(connect, () => connectTo(pool));
  actions.append(connect);
  if (session) {
    const sid = encodeURIComponent(session.id);
    actions.append(
      button(`Disconnect from ${pool.name}`, 'Disconnect', () => api('POST', `/api/v1/sessions/${sid}/actions/disconnect`), 'Disconnected. Your desktop keeps running.'),
      button(`Log off from ${pool.name}`, 'Log off', () => api('DELETE', `/api/v1/sessions/${sid}`),
             pool.type === 'pooled' ? 'Logged off. The desktop is reset for the next user.' : 'Logged off. Your desktop is kept.'),
    );
    if (desktop) {
      actions.append(button(`Restart the desktop of ${pool.name}`, 'Restart',
                            () => api('POST', `/api/v1/desktops/${encodeURIComponent(desktop.id)}/actions/reboot`),
                            'Restarting your desktop.'));
    }
  }
  const state = session ? (session.state === 'connected' ? 'in-use' : 'signed-on') : 'available';
  return h('article', { className: 'card', dataset: { poolId: pool.id, state } },
           h('h2', {}, pool.name),
           h('p', { className: 'kind' }, pool.type === 'persistent' ? 'Personal desktop' : 'Pooled desktop'),
           h('p', { className: 'state' }, describe(pool, session, desktop)),
           actions);
}

function button(label: string, text: string, run: () => Promise<unknown>, done: string): HTMLButtonElement {
  const b = h('button', { type: 'button' }, text);
  b.setAttribute('aria-label', label);
  b.onclick = () => void act(b, async () => {
    await run();
    showMessage(done, 'info');
  });
  return b;
}

async function act(b: HTMLButtonElement, run: () => Promise<unknown>): Promise<void> {
  b.disabled = true;
  showMessage('');
  try {
    await run();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return showLogin('Your sign-in has expired. Sign in again.');
    showMessage(e instanceof Error ? e.message : String(e));
  } finally {
    b.disabled = false;
  }
  await refresh();
}

// Logs on (or back on) and opens the desktop page with the logon's ticket.
async function connectTo(pool: Pool): Promise<void> {
  showMessage(`Getting a desktop from ${pool.name}…`, 'info');
  const s = await api<Session>('POST', '/api/v1/sessions', { pool_id: pool.id });
  let page = desktopPage(s);
  const ticket = s.display_url ? new URL(s.display_url).searchParams.get('ticket') : null;
  if (ticket) page += `&ticket=${encodeURIComponent(ticket)}`;
  location.assign(page);
}

handleSignIn(showPortal, (e) => (e instanceof Error ? e.message : String(e)));
el('logout').onclick = async () => {
  await logout().catch(() => {});
  showLogin('You are signed out.');
};
document.addEventListener('visibilitychange', () => {
  if (!document.hidden && me) void refresh();
});
if (token()) void showPortal();
else showLogin();
