// The audit log: every change and every refused request, newest first,
// filtered by action, user, tenant and time, a page at a time. New events
// appear by themselves on the first page. Below, the archives older events
// were moved to.
import { type AuditArchive, type AuditEvent, api } from '../../api';
import { type PageContext, type PageDef, isAdmin, nameOf, options, tenants, userName, users } from '../app';
import { formatTime } from '../format';
import { DataTable, badge, button, errorText, field, h, input, select } from '../ui';

// The API's query for the form's filters; datetime-local fields are local times.
export function auditQuery(f: { action: string; user: string; tenant: string; since: string; until: string; limit: number; before?: number }): string {
  const q = new URLSearchParams();
  if (f.action) q.set('action', f.action);
  if (f.user) q.set('user_id', f.user);
  if (f.tenant) q.set('tenant_id', f.tenant);
  if (f.since) q.set('since', new Date(f.since).toISOString());
  if (f.until) q.set('until', new Date(f.until).toISOString());
  q.set('limit', String(f.limit));
  if (f.before) q.set('before', String(f.before));
  return `/api/v1/audit?${q.toString()}`;
}

function timeField(label: string, control: HTMLInputElement): HTMLElement {
  const f = field(label, control);
  f.classList.add('field-time');
  return f;
}

// An id as the name of what it is, where the console knows it.
function targetCell(target: string): Node | string {
  if (!target) return '–';
  const topic = ({ p: 'pools', t: 'tenants', i: 'images', d: 'desktops', h: 'hosts' } as const)[target.split('-')[0]];
  const name = target.startsWith('u-') ? userName(target) : topic ? nameOf(topic, target) : target;
  return name === target ? h('code', {}, target) : h('span', { title: target }, name);  // an id never breaks at its hyphen
}

// The archive files, listed when opened (newest first, as the API gives them).
function archivesSection(): HTMLElement {
  const error = h('p', { className: 'error', attrs: { role: 'alert' } });
  const table = new DataTable<AuditArchive>([
    { label: 'Archived', cell: (a) => formatTime(a.archived_at), className: 'time' },
    ...(isAdmin() ? [{ label: 'Tenant', cell: (a: AuditArchive) => (a.tenant_id ? nameOf('tenants', a.tenant_id) : 'Platform') }] : []),
    { label: 'Sequence', cell: (a) => `${a.first_seq}–${a.last_seq}`, className: 'num' },
    { label: 'Events', cell: (a) => String(a.events), className: 'num' },
    { label: 'File', cell: (a) => h('code', {}, a.file), className: 'long' },
    { label: 'SHA-256', cell: (a) => h('code', {}, a.sha256), className: 'long' },
  ], (a) => `${a.tenant_id ?? ''}:${a.first_seq}`, 'Audit archives', 'Nothing is archived yet.');
  table.element.hidden = true;  // until loaded
  const details = h('details', { className: 'archives' }, h('summary', {}, 'Archived events'),
    h('p', { className: 'hint' }, "Events past their retention, moved out to gzip'd JSON Lines files."), error, table.element);
  details.ontoggle = async () => {
    if (!details.open) return;
    error.textContent = '';
    try {
      table.update(await api<AuditArchive[]>('GET', '/api/v1/audit/archives'));
      table.element.hidden = false;
    } catch (e) {
      error.textContent = errorText(e);
    }
  };
  return details;
}

export const auditPage: PageDef = {
  id: 'audit',
  title: 'Audit log',
  mount(ctx: PageContext) {
    const action = input('action', ctx.query.get('action') ?? '', { placeholder: 'pool.create', spellcheck: 'false' });
    const user = select('user', [['', 'Anyone'], ...options(users(), (u) => u.username)]);
    const tenant = select('tenant', [['', 'All tenants'], ...options(tenants(), (t) => t.name)]);
    const since = input('since', '', { type: 'datetime-local' });
    const until = input('until', '', { type: 'datetime-local' });
    const limit = select('limit', [['25', '25'], ['50', '50'], ['100', '100'], ['250', '250']], '50');
    const error = h('p', { className: 'error', attrs: { role: 'alert' } });
    const where = h('span', { className: 'muted', attrs: { 'aria-live': 'polite' } });
    const newer = button('Newer', () => { pages.pop(); void load(); });
    const older = button('Older', () => { if (next) { pages.push(next); void load(); } });
    const table = new DataTable<AuditEvent>([
      { label: 'Time', cell: (e) => formatTime(e.at), className: 'time' },
      { label: 'User', cell: (e) => e.username || '–' },
      { label: 'Action', cell: (e) => h('code', {}, e.action) },
      { label: 'Target', cell: (e) => targetCell(e.target) },
      { label: 'Result', cell: (e) => badge(e.result, `${e.status} ${e.result}`, e.result === 'ok' ? 'ok' : e.status >= 500 ? 'bad' : 'warn') },
      { label: 'Address', cell: (e) => e.address || '–' },
      { label: 'Detail', cell: (e) => e.detail ?? '' , className: 'detail' },
    ], (e) => String(e.seq), 'Audit events', 'No events match.');
    let pages: number[] = [];  // the `before` of each page after the first
    let next: number | null = null;
    let newest = 0;
    const load = async () => {
      error.textContent = '';
      try {
        const r = await api<{ events: AuditEvent[]; next_before: number | null }>('GET', auditQuery({
          action: action.value.trim(), user: user.value, tenant: isAdmin() ? tenant.value : '', since: since.value, until: until.value,
          limit: Number(limit.value), before: pages.at(-1),
        }));
        next = r.next_before;
        table.update(r.events);
        if (!pages.length) newest = r.events[0]?.seq ?? 0;
        where.textContent = r.events.length ? `Page ${pages.length + 1}: ${r.events.length} events` : '';
      } catch (e) {
        error.textContent = errorText(e);
      }
      newer.disabled = pages.length === 0;
      older.disabled = next === null;
    };
    const form = h('form', { className: 'filters-form' },
      field('Action', action), field('User', user), isAdmin() ? field('Tenant', tenant) : null,
      timeField('Since', since), timeField('Until', until), field('Per page', limit),
      h('button', { type: 'submit', className: 'primary' }, 'Filter'));
    form.onsubmit = (ev) => {
      ev.preventDefault();
      pages = [];
      void load();
    };
    ctx.root.append(form, error, table.element, h('div', { className: 'pager' }, newer, where, older), archivesSection());
    void load();
    return {
      update(topics: Set<string>) {
        // Something new was audited: the first page shows it at once.
        if (!topics.has('audit') || pages.length) return;
        void api<{ events: AuditEvent[] }>('GET', '/api/v1/audit?limit=1').then((r) => {
          if ((r.events[0]?.seq ?? 0) > newest) void load();
        }).catch(() => {});
      },
    };
  },
};
