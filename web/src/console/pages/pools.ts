// Pools: the list with their live counts, a short form to create one, and a
// pool's own page (#/pools/ID): its settings (edit), who is entitled to it,
// and its desktops.
import { type Desktop, type Pool, type User, api } from '../../api';
import { type PageContext, type PageDef, app, desktops, images, isAdmin, nameOf, options, pools, tenants, userName, users } from '../app';
import { formatMiB } from '../format';
import { imageServes } from '../owner';
import { DataTable, act, badge, button, confirmDialog, errorText, field, formDialog, h, input, intValue, link, section, select, setOptions, value } from '../ui';

const CLIPBOARD: Array<[string, string]> = [['both', 'Both ways'], ['to-desktop', 'Paste into the desktop only'], ['to-client', 'Copy out of the desktop only'], ['none', 'Off']];

// The desktops' network (docs/operations.md, "Desktop networks"). A bridge is
// the administrators' to give; a tenant-admin keeps the one a pool has.
function networkChoices(now: string): Array<[string, string]> {
  const choices: Array<[string, string]> = [['isolated', 'Isolated: an address, and nothing reachable'], ['none', 'No network']];
  if (isAdmin()) choices.push(['bridge', 'On a bridge of the hosts (one tenant per bridge)']);
  else if (now.startsWith('bridge:')) choices.push([now, `On bridge ${now.slice(7)}`]);
  return choices;
}

function networkLabel(network: string | undefined): string {
  if (!network) return '–';
  if (network.startsWith('bridge:')) return `Bridge ${network.slice(7)}`;
  return network === 'none' ? 'No network' : 'Isolated';
}

// The images a pool of `tenant` may use (its own and the platform's shared
// ones, not failed), and `keep`, the pool's image now, whatever it is.
export function imageChoices(tenant: string | null | undefined, keep = ''): Array<[string, string]> {
  const usable = images().filter((i) => i.id === keep || (i.state !== 'failed' && imageServes(i, tenant)));
  return options(usable, (i) => (i.state === 'ready' ? i.name : `${i.name} (${i.state})`));
}

function sizeFields(image: HTMLSelectElement, p?: Pool): HTMLElement[] {
  return [
    field('Name', input('name', p?.name ?? '', { required: '', autocomplete: 'off' })),
    field('Image', image),
    h('div', { className: 'field-row' },
      field('Desktops at most', input('size', String(p?.size ?? 10), { inputmode: 'numeric' })),
      field('Kept ready', input('spare', String(p?.spare ?? 1), { inputmode: 'numeric' }), 'Running, unassigned: a logon needs no boot.')),
    h('div', { className: 'field-row' },
      field('vCPUs', input('vcpus', String(p?.vcpus ?? 2), { inputmode: 'numeric' })),
      field('Memory (MiB)', input('memory_mb', String(p?.memory_mb ?? 2048), { inputmode: 'numeric' }))),
    h('details', {}, h('summary', {}, 'More settings'),
      field('Idle timeout (minutes, 0 for never)', input('idle_min', String(Math.round((p?.idle_timeout_s ?? 0) / 60)), { inputmode: 'numeric' })),
      field('Clipboard', select('clipboard', CLIPBOARD, p?.clipboard ?? 'both')),
      ...networkFields(p?.network ?? 'isolated'),
      field('Provisioning', select('provisioning', [['on-demand', 'On demand'], ['up-front', 'Up front (all desktops as clones)']], p?.provisioning ?? 'on-demand'))),
  ];
}

function networkFields(now: string): HTMLElement[] {
  const bridged = isAdmin() && now.startsWith('bridge:');
  const mode = select('network', networkChoices(now), bridged ? 'bridge' : now);
  const name = input('bridge', bridged ? now.slice(7) : '', { autocomplete: 'off', placeholder: 'br-acme' });
  const bridgeField = field('Bridge', name, 'It must exist on every host; see the operations guide.');
  bridgeField.hidden = mode.value !== 'bridge';
  mode.onchange = () => { bridgeField.hidden = mode.value !== 'bridge'; };
  return [field('Network', mode), bridgeField];
}

function networkValue(form: HTMLFormElement): string {
  const mode = value(form, 'network');
  if (mode !== 'bridge') return mode;
  const bridge = value(form, 'bridge').trim();
  if (!bridge) throw new Error('Name the bridge the desktops go on.');
  return `bridge:${bridge}`;
}

function sizeValues(form: HTMLFormElement): Record<string, unknown> {
  if (!value(form, 'image_id')) throw new Error("Choose an image: the tenant's own or a shared one (administrators import and share them on the Images page).");
  return {
    name: value(form, 'name'), image_id: value(form, 'image_id'),
    size: intValue(form, 'size', 'Desktops at most', 0, 10000), spare: intValue(form, 'spare', 'Kept ready', 0, 10000),
    vcpus: intValue(form, 'vcpus', 'vCPUs', 1, 512), memory_mb: intValue(form, 'memory_mb', 'Memory', 64, 16777216),
    idle_timeout_s: intValue(form, 'idle_min', 'Idle timeout', 0, 525600) * 60,
    clipboard: value(form, 'clipboard'), provisioning: value(form, 'provisioning'), network: networkValue(form),
  };
}

export function createPoolDialog(): void {
  const tenant = select('tenant_id', options(tenants(), (t) => t.name));
  const image = select('image_id', imageChoices(isAdmin() ? tenant.value : app.me?.tenant_id));
  tenant.onchange = () => setOptions(image, imageChoices(tenant.value));
  const tenantField = isAdmin() ? [field('Tenant', tenant)] : [];
  const first = sizeFields(image);
  formDialog('New pool', [first[0], ...tenantField, first[1],
    field('Type', select('type', [['pooled', 'Pooled: any free desktop, reset at logoff'], ['persistent', 'Persistent: one desktop per user, kept']])),
    ...first.slice(2)], 'Create pool', async (form) => {
    const body = { ...sizeValues(form), type: value(form, 'type') } as Record<string, unknown>;
    if (isAdmin()) body.tenant_id = value(form, 'tenant_id');
    const pool = await api<Pool>('POST', '/api/v1/pools', body);
    app.store.upsert('pools', pool);
    return `Pool ${pool.name} is created; it fills up in the background.`;
  });
}

function editPoolDialog(p: Pool): void {
  const image = select('image_id', imageChoices(p.tenant_id, p.image_id), p.image_id);
  formDialog(`Edit pool ${p.name}`, sizeFields(image, p), 'Save', async (form) => {
    const pool = await api<Pool>('PATCH', `/api/v1/pools/${encodeURIComponent(p.id)}`, sizeValues(form));
    app.store.upsert('pools', pool);
    return `Pool ${pool.name} is saved; free desktops follow at once, those in use at their next logoff.`;
  });
}

async function deletePool(b: HTMLButtonElement, p: Pool): Promise<void> {
  if (!(await confirmDialog(`Delete pool ${p.name}?`, 'Its desktops are deleted. Sessions must be logged off first.', 'Delete pool'))) return;
  await act(b, `Deleting pool ${p.name}`, () => api<Pool>('DELETE', `/api/v1/pools/${encodeURIComponent(p.id)}`), (pool) => {
    app.store.upsert('pools', pool);
    return `Pool ${p.name} is being deleted.`;
  });
}

function statusCell(p: Pool): Node {
  if (p.state === 'deleting') return badge('deleting');
  return p.message ? badge('warn', p.message, 'warn') : badge('active', 'OK', 'ok');
}

function listPage(ctx: PageContext) {
  const table = new DataTable<Pool>([
    { label: 'Pool', cell: (p) => link(p.name, `#/pools/${p.id}`) },
    { label: 'Tenant', cell: (p) => nameOf('tenants', p.tenant_id) },
    { label: 'Type', cell: (p) => p.type },
    { label: 'Image', cell: (p) => nameOf('images', p.image_id) },
    { label: 'Size', cell: (p) => `${p.desktops ?? 0} of ${p.size}`, className: 'num' },
    { label: 'Ready', cell: (p) => `${p.running_free ?? 0} of ${p.spare}`, className: 'num' },
    { label: 'In use', cell: (p) => String(p.assigned ?? 0), className: 'num' },
    { label: 'Status', cell: statusCell },
    { label: 'Actions', cell: (p) => h('div', { className: 'row-actions' },
        button('Edit', () => editPoolDialog(p), { label: `Edit ${p.name}` }),
        button('Delete', (b) => void deletePool(b, p), { kind: 'danger', label: `Delete ${p.name}` })) },
  ], (p) => p.id, 'Pools', 'No pools yet: create one to give users desktops.');
  ctx.root.append(h('div', { className: 'page-actions' }, button('New pool', () => createPoolDialog(), { kind: 'primary' })), table.element);
  const update = () => table.update(pools());
  update();
  return { update };
}

interface Entitlement { pool_id: string; user_id: string; username: string }

// Who may use the pool: the list (loaded over REST; not a live list) and a
// choice of the tenant's users to add.
function entitlementsSection(id: string, error: HTMLElement) {
  const path = `/api/v1/pools/${encodeURIComponent(id)}/entitlements`;
  let list: Entitlement[] = [];
  const who = select('user_id', []);
  const table = new DataTable<Entitlement>([
    { label: 'User', cell: (e) => e.username },
    { label: 'Actions', cell: (e) => button('Remove', (b) => void unentitle(b, e), { label: `Remove ${e.username} from the pool` }) },
  ], (e) => e.user_id, 'Entitled users', 'Nobody is entitled to this pool yet.');
  const load = async () => {
    try {
      list = await api<Entitlement[]>('GET', path);
      update(app.store.get<Pool>('pools', id));
    } catch (e) {
      if (app.store.get<Pool>('pools', id)) error.textContent = errorText(e);  // else the page says it is missing
    }
  };
  const entitle = async (b: HTMLButtonElement) => {
    if (!who.value) return;
    const name = userName(who.value);
    await act(b, `Entitling ${name}`, () => api('POST', path, { user_id: who.value }), () => `${name} may now use ${nameOf('pools', id)}.`);
    await load();
  };
  const unentitle = async (b: HTMLButtonElement, e: Entitlement) => {
    await act(b, `Removing ${e.username}`, () => api('DELETE', `${path}/${encodeURIComponent(e.user_id)}`),
              () => `${e.username} may no longer use ${nameOf('pools', id)}.`);
    await load();
  };
  const add = button('Entitle', (b) => void entitle(b), { kind: 'primary' });
  const update = (p: Pool | undefined) => {
    if (!p) return;
    const taken = new Set(list.map((e) => e.user_id));
    const candidates = users().filter((u: User) => u.tenant_id === p.tenant_id && !taken.has(u.id));
    const chosen = who.value;
    who.replaceChildren(...candidates.map((u) => h('option', { value: u.id, selected: u.id === chosen }, `${u.username} (${u.role})`)));
    add.disabled = candidates.length === 0;
    table.update(list);
  };
  const element = section('Entitled users', h('div', { className: 'inline-form' }, field('User of the tenant', who), add), table.element);
  void load();
  return { element, update };
}

function settings(p: Pool): Node[] {
  const row = (k: string, v: string | Node) => [h('dt', {}, k), h('dd', {}, v)];
  return [...row('Tenant', nameOf('tenants', p.tenant_id)), ...row('Type', p.type), ...row('Image', nameOf('images', p.image_id)),
    ...row('Desktops', `${p.desktops ?? 0} of at most ${p.size}; ${p.running_free ?? 0} of ${p.spare} ready; ${p.assigned ?? 0} in use`),
    ...row('Each desktop', `${p.vcpus} vCPU, ${formatMiB(p.memory_mb ?? 0)}`),
    ...row('Idle timeout', p.idle_timeout_s ? `${Math.round(p.idle_timeout_s / 60)} min` : 'never'),
    ...row('Clipboard', CLIPBOARD.find(([k]) => k === p.clipboard)?.[1] ?? p.clipboard ?? '–'), ...row('Provisioning', p.provisioning ?? '–'),
    ...row('Network', networkLabel(p.network))];
}

function detailPage(ctx: PageContext, id: string) {
  const head = h('div', { className: 'page-actions' });
  const summary = h('dl', { className: 'details' });
  const missing = h('p', { className: 'error', attrs: { role: 'alert' } });
  const error = h('p', { className: 'error', attrs: { role: 'alert' } });
  const entitled = entitlementsSection(id, error);
  const desktopTable = new DataTable<Desktop>([
    { label: 'Desktop', cell: (d) => d.name },
    { label: 'State', cell: (d) => badge(d.state) },
    ...(isAdmin() ? [{ label: 'Host', cell: (d: Desktop) => nameOf('hosts', d.host_id) }] : []),  // hosts are the administrators'
    { label: 'User', cell: (d) => userName(d.assigned_user) },
  ], (d) => d.id, 'Desktops of the pool', 'The pool has no desktops yet.');
  const body = h('div', {}, section('Settings', summary), entitled.element, section('Desktops', desktopTable.element));
  ctx.root.append(head, missing, error, body);
  const update = () => {
    const p = app.store.get<Pool>('pools', id);
    body.hidden = !p;
    if (!p) {
      head.replaceChildren();
      if (app.store.loaded.has('pools')) missing.textContent = `There is no pool ${id} (or it is not yours to see).`;
      return;
    }
    missing.textContent = '';
    document.title = `${p.name} — Oriel console`;
    head.replaceChildren(h('h2', {}, p.name), statusCell(p), h('span', { className: 'spacer' }),
      button('Edit', () => editPoolDialog(p)), button('Delete', (b) => void deletePool(b, p), { kind: 'danger' }));
    summary.replaceChildren(...settings(p));
    entitled.update(p);
    desktopTable.update(desktops().filter((d) => d.pool_id === id));
  };
  update();
  return { update };
}

export const poolsPage: PageDef = {
  id: 'pools',
  title: 'Pools',
  mount(ctx: PageContext) {
    return ctx.params[0] ? detailPage(ctx, ctx.params[0]) : listPage(ctx);
  },
};
