// Desktops: every desktop the caller may see as a card with a live
// thumbnail of its screen (the screenshot route), its state, host, pool and
// user, and its actions; "Console" opens a larger live view.
import { type Desktop, type Image, api, apiBytes } from '../../api';
import { type PageContext, type PageDef, app, desktops, images, isAdmin, nameOf, options, pools, userName } from '../app';
import { formatMiB, stateTone } from '../format';
import { KeyedList, act, badge, button, confirmDialog, field, formDialog, h, input, intValue, openDialog, select, value } from '../ui';

const THUMB_MS = 5000;
const thumbs = new Map<string, string>();  // desktop id → object URL of its latest screenshot

async function screenshot(id: string): Promise<string | null> {
  try {
    const png = await apiBytes('GET', `/api/v1/desktops/${encodeURIComponent(id)}/screenshot`);
    const url = URL.createObjectURL(png);
    const old = thumbs.get(id);
    thumbs.set(id, url);
    if (old) URL.revokeObjectURL(old);
    return url;
  } catch {
    return null;  // not running any more, or gone: the card says so
  }
}

// Refreshes the thumbnails of running desktops on screen, a few at a time.
async function refreshThumbs(list: Desktop[]): Promise<void> {
  const running = list.filter((d) => d.state === 'running');
  for (let i = 0; i < running.length; i += 4) {
    await Promise.all(running.slice(i, i + 4).map(async (d) => {
      const url = await screenshot(d.id);
      const img = document.querySelector(`img[data-thumb="${CSS.escape(d.id)}"]`) as HTMLImageElement | null;
      if (url && img) img.src = url;
    }));
  }
}

const ACTIONS: Array<[string, string, (d: Desktop) => boolean]> = [
  ['start', 'Start', (d) => d.state === 'stopped' || d.state === 'failed'],
  ['stop', 'Stop', (d) => d.state === 'running' || d.state === 'starting'],
  ['reboot', 'Reboot', (d) => d.state === 'running'],
  ['reset', 'Reset', (d) => d.state !== 'provisioning' && d.state !== 'deleting'],
];

async function desktopAction(b: HTMLButtonElement, d: Desktop, action: string, label: string): Promise<void> {
  if (action === 'reset' && !(await confirmDialog(`Reset ${d.name}?`, 'The desktop goes back to its image: everything written on its disk is lost.', 'Reset'))) return;
  await act(b, `${label} ${d.name}`, () => api<Desktop>('POST', `/api/v1/desktops/${encodeURIComponent(d.id)}/actions/${action}`), (r) => {
    app.store.upsert('desktops', r);
    return `${d.name}: ${label.toLowerCase()} requested.`;
  });
}

async function deleteDesktop(b: HTMLButtonElement, d: Desktop): Promise<void> {
  if (!(await confirmDialog(`Delete ${d.name}?`, 'The desktop is stopped and its disk deleted.', 'Delete desktop'))) return;
  await act(b, `Deleting ${d.name}`, () => api<Desktop>('DELETE', `/api/v1/desktops/${encodeURIComponent(d.id)}`), (r) => {
    app.store.upsert('desktops', r);
    return `${d.name} is being deleted.`;
  });
}

function actions(d: Desktop): HTMLElement {
  return h('div', { className: 'row-actions' },
           button('Console', () => consoleView(d.id), { kind: 'primary', label: `Open the console of ${d.name}` }),
           ...ACTIONS.filter(([, , ok]) => ok(d)).map(([a, text]) => button(text, (b) => void desktopAction(b, d, a, text), { label: `${text} ${d.name}` })),
           button('Delete', (b) => void deleteDesktop(b, d), { kind: 'danger', label: `Delete ${d.name}` }));
}

// A larger view of the screen, refreshed every second while it is open.
function consoleView(id: string): void {
  const img = h('img', { className: 'console-screen', alt: '' });
  const status = h('p', { className: 'console-status', attrs: { 'aria-live': 'polite' } });
  const bar = h('div', { className: 'console-bar' });
  const d0 = app.store.get<Desktop>('desktops', id);
  const dialog = openDialog(`Console of ${d0?.name ?? id}`, [bar, h('div', { className: 'console-frame' }, img), status,
    h('p', { className: 'hint' }, 'A view of the screen, refreshed every second. To work in the desktop, its user connects from the portal.')],
    [button('Close', () => dialog.close())], true);
  dialog.classList.add('console-dialog');
  let alive = true;
  const tick = async () => {
    if (!alive) return;
    const d = app.store.get<Desktop>('desktops', id);
    bar.replaceChildren(d ? badge(d.state) : badge('deleted', 'gone', 'idle'), d ? actions(d) : '');
    bar.querySelector('[data-focus="Console"]')?.remove();
    if (d?.state === 'running') {
      const url = await screenshot(id);
      if (url) img.src = url;
      img.alt = `The screen of ${d.name}`;
      status.textContent = url ? '' : 'The screen cannot be read right now.';
    } else {
      status.textContent = d ? `The desktop is ${d.state}: there is no screen to show.` : 'The desktop is gone.';
    }
    setTimeout(() => void tick(), 1000);
  };
  dialog.addEventListener('close', () => { alive = false; });
  void tick();
}

function card(d: Desktop): HTMLElement {
  const url = thumbs.get(d.id);
  const screen = d.state === 'running'
    ? h('img', { alt: `The screen of ${d.name}`, dataset: { thumb: d.id }, ...(url ? { src: url } : {}) })
    : h('span', { className: 'no-screen' }, d.state === 'failed' ? 'failed' : `${d.state}: no screen`);
  const thumb = h('button', { type: 'button', className: `thumb tone-${stateTone(d.state)}`, title: `Open the console of ${d.name}` }, screen);
  thumb.setAttribute('aria-label', `Open the console of ${d.name}`);
  thumb.onclick = () => consoleView(d.id);
  const row = (k: string, v: string) => [h('dt', {}, k), h('dd', {}, v)];
  return h('article', { className: 'desktop-card', dataset: { desktopId: d.id, state: d.state } }, thumb,
           h('div', { className: 'card-head' }, h('h3', {}, d.name), badge(d.state)),
           h('dl', { className: 'facts' }, ...(isAdmin() ? row('Host', nameOf('hosts', d.host_id)) : []),
             ...row('Pool', d.pool_id ? nameOf('pools', d.pool_id) : 'standalone'),
             ...row('User', userName(d.assigned_user)), ...row('Size', `${d.vcpus ?? '?'} vCPU, ${formatMiB(d.memory_mb ?? 0)}`)),
           d.error ? h('p', { className: 'error' }, d.error) : null,
           actions(d));
}

function newDesktopDialog(): void {
  formDialog('New standalone desktop', [
    field('Name', input('name', '', { required: '', autocomplete: 'off' })),
    field('Image', select('image_id', options(images().filter((i: Image) => i.state === 'ready'), (i) => i.name))),
    h('div', { className: 'field-row' }, field('vCPUs', input('vcpus', '2', { inputmode: 'numeric' })),
      field('Memory (MiB)', input('memory_mb', '2048', { inputmode: 'numeric' }))),
  ], 'Create desktop', async (form) => {
    const d = await api<Desktop>('POST', '/api/v1/desktops', {
      name: value(form, 'name'), image_id: value(form, 'image_id'),
      vcpus: intValue(form, 'vcpus', 'vCPUs', 1, 512), memory_mb: intValue(form, 'memory_mb', 'Memory', 64, 16777216),
    });
    app.store.upsert('desktops', d);
    return `Desktop ${d.name} is being created.`;
  });
}

export const desktopsPage: PageDef = {
  id: 'desktops',
  title: 'Desktops',
  mount(ctx: PageContext) {
    const search = input('q', ctx.query.get('q') ?? '', { type: 'search', placeholder: 'Name, user or host', 'aria-label': 'Search desktops' });
    const pool = select('pool', [['', 'All pools'], ...options(pools(), (p) => p.name)], ctx.query.get('pool') ?? '');
    pool.setAttribute('aria-label', 'Pool');
    const states = ['running', 'starting', 'stopping', 'stopped', 'provisioning', 'migrating', 'failed', 'deleting'];
    const state = select('state', [['', 'All states'], ...states.map((s): [string, string] => [s, s])], ctx.query.get('state') ?? '');
    state.setAttribute('aria-label', 'State');
    const grid = h('div', { className: 'desktop-grid' });
    const empty = h('p', { className: 'empty' }, 'No desktops match.');
    const cards = new KeyedList<Desktop>(grid, (d) => d.id, card,
                                         (d) => JSON.stringify(d) + nameOf('hosts', d.host_id) + nameOf('pools', d.pool_id) + userName(d.assigned_user));
    ctx.root.append(h('div', { className: 'page-actions filters' }, search, pool, state, h('span', { className: 'spacer' }),
                      isAdmin() ? button('New desktop', () => newDesktopDialog(), { kind: 'primary' }) : null), grid, empty);
    const shown = (): Desktop[] => {
      const q = search.value.trim().toLowerCase();
      return desktops().filter((d) => (!pool.value || d.pool_id === pool.value) && (!state.value || d.state === state.value) &&
        (!q || [d.name, d.id, userName(d.assigned_user), nameOf('hosts', d.host_id)].some((s) => s.toLowerCase().includes(q))));
    };
    const update = () => {
      const list = shown();
      cards.update(list);
      empty.hidden = list.length > 0;
    };
    for (const c of [search, pool, state]) c.addEventListener('input', update);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let alive = true;
    const loop = async () => {
      if (!document.hidden) await refreshThumbs(shown());
      if (alive) timer = setTimeout(() => void loop(), THUMB_MS);
    };
    update();
    void loop();
    return { update, leave: () => { alive = false; clearTimeout(timer); } };
  },
};
