// The dashboard: the state of the whole installation (or of the
// tenant-admin's tenant, with its quota) at a glance, live.
import type { AuditEvent, Desktop, Host, Image, Pool, Session } from '../../api';
import { type PageContext, type PageDef, app, desktops, hosts, images, isAdmin, nameOf, pools, sessions, tenants, userName } from '../app';
import { countBar } from '../charts';
import { formatAgo, formatMiB, formatTime, percent, plural } from '../format';
import { QUOTA_NOTE, quotaDetails } from '../quota';
import { auditRow } from '../retention';
import { DataTable, badge, h, link, meter, section } from '../ui';

const STATE_COLORS: Record<string, string> = {
  running: '#1d9a6c', starting: '#6aa7f0', provisioning: '#9bb7e6', stopping: '#d9a441', migrating: '#8e44ad',
  stopped: '#9aa3b2', failed: '#c0392b', deleting: '#5b6475',
};

function tile(label: string, value: string, detail: string, href: string, tone = ''): HTMLElement {
  return h('a', { className: `tile ${tone}`, href },
           h('span', { className: 'tile-label' }, label), h('strong', { className: 'tile-value' }, value),
           h('span', { className: 'tile-detail' }, detail));
}

export function hostMeters(host: Host): HTMLElement {
  const cpu = percent(host.cpus_allocated, host.cpus);
  const mem = percent(host.memory_allocated_mb, host.memory_mb);
  return h('div', { className: 'meters' },
           meter(cpu, `${host.cpus_allocated} vCPU on ${host.cpus} CPU`, `CPU allocated on ${host.name}`,
                 host.cpus_allocated > host.cpus * 4 ? 'warn' : 'ok'),
           meter(mem, `${formatMiB(host.memory_allocated_mb)} of ${formatMiB(host.memory_mb)}`, `Memory allocated on ${host.name}`));
}

interface Problem { text: string; href: string }

function problems(ds: Desktop[], is: Image[], ps: Pool[], hs: Host[]): Problem[] {
  const out: Problem[] = [];
  for (const host of hs) if (host.state !== 'ready') out.push({ text: `Host ${host.name} is ${host.state}.`, href: '#/hosts' });
  for (const d of ds) if (d.state === 'failed') out.push({ text: `Desktop ${d.name} failed: ${d.error ?? 'no reason given'}`, href: '#/desktops?state=failed' });
  for (const i of is) if (i.state === 'failed') out.push({ text: `Image ${i.name} failed to import: ${i.error ?? ''}`, href: '#/images' });
  for (const p of ps) if (p.message) out.push({ text: `Pool ${p.name}: ${p.message}`, href: `#/pools/${p.id}` });
  return out;
}

function tiles(hs: Host[], ds: Desktop[], ps: Pool[], open: Session[], issues: number): HTMLElement[] {
  const running = ds.filter((d) => d.state === 'running').length;
  return [
    ...(isAdmin() ? [tile('Hosts', `${hs.filter((x) => x.state === 'ready').length} of ${hs.length}`, 'ready', '#/hosts')] : []),
    tile('Desktops', `${running} of ${ds.length}`, 'running', '#/desktops'),
    tile('Sessions', String(open.filter((s) => s.state === 'connected').length), `connected, ${open.length} signed on`, '#/sessions'),
    tile('Pools', String(ps.length), `at most ${plural(ps.reduce((n, p) => n + (p.size ?? 0), 0), 'desktop')}`, '#/pools'),
    tile('Failures', String(issues), issues ? 'need attention' : 'none', '#/dashboard', issues ? 'bad' : 'good'),
  ];
}

function hostRows(hs: Host[]): HTMLElement[] {
  return hs.map((host) => h('div', { className: 'host' },
    h('div', { className: 'host-head' }, h('strong', {}, host.name), badge(host.state), h('span', { className: 'muted' }, host.accelerator.toUpperCase())),
    hostMeters(host)));
}

function desktopStates(ds: Desktop[]): Node[] {
  const counts = Object.keys(STATE_COLORS).map((s) => ({ label: s, value: ds.filter((d) => d.state === s).length, color: STATE_COLORS[s] }));
  const legend = h('ul', { className: 'legend' }, ...counts.filter((c) => c.value).map((c) => {
    const dot = h('span', { className: 'dot' });
    dot.style.background = c.color;
    return h('li', {}, dot, link(`${c.label} ${c.value}`, `#/desktops?state=${c.label}`));
  }));
  return [countBar(counts, 'Desktops by state'), legend, ...(ds.length ? [] : [h('p', { className: 'empty' }, 'No desktops yet.')])];
}

function listOr(items: HTMLElement[], none: string): HTMLElement[] {
  return items.length ? items : [h('li', { className: 'empty' }, none)];
}

function refusedRequests(): HTMLElement[] {
  const failed = app.store.list<AuditEvent>('audit').filter((e) => e.result !== 'ok').sort((a, b) => b.seq - a.seq).slice(0, 5);
  return listOr(failed.map((e) => h('li', {}, `${formatTime(e.at)} ${e.username || 'someone'}: ${e.action} → ${e.status} ${e.detail ?? e.result}`)),
                'None recently.');
}

export const dashboardPage: PageDef = {
  id: 'dashboard',
  title: 'Dashboard',
  mount(ctx: PageContext) {
    const tileRow = h('div', { className: 'tiles' });
    const hostList = h('div', { className: 'host-list' });
    const quota = h('div');
    const stateBar = h('div', { className: 'state-bar' });
    const problemList = h('ul', { className: 'problems' });
    const refused = h('ul', { className: 'problems' });
    const poolTable = new DataTable<Pool>([
      { label: 'Pool', cell: (p) => link(p.name, `#/pools/${p.id}`) },
      { label: 'Tenant', cell: (p) => nameOf('tenants', p.tenant_id) },
      { label: 'Size', cell: (p) => `${p.desktops ?? 0} of ${p.size}`, className: 'num' },
      { label: 'Spare', cell: (p) => `${p.running_free ?? 0} of ${p.spare} ready`, className: 'num' },
      { label: 'In use', cell: (p) => String(p.assigned ?? 0), className: 'num' },
      { label: 'Status', cell: (p) => (p.message ? badge('warn', p.message, 'warn') : badge(p.state ?? 'active')) },
    ], (p) => p.id, 'Pools', 'No pools yet.');
    const sessionTable = new DataTable<Session>([
      { label: 'User', cell: (s) => s.username ?? userName(s.user_id) },
      { label: 'Pool', cell: (s) => nameOf('pools', s.pool_id) },
      { label: 'State', cell: (s) => badge(s.state) },
      { label: 'Since', cell: (s) => formatAgo(s.created_at, Date.now()) },
    ], (s) => s.id, 'Sessions now', 'Nobody is signed on to a desktop.', (s) => JSON.stringify(s) + Math.floor(Date.now() / 60000));

    ctx.root.append(
      tileRow,
      h('div', { className: 'columns' },
        isAdmin() ? section('Hosts', hostList) : section('Quota', quota, h('p', { className: 'hint' }, QUOTA_NOTE)),
        section('Desktops by state', stateBar),
        section('Problems', problemList, h('h3', {}, 'Recently refused or failed requests'), refused)),
      section('Pools', poolTable.element),
      section('Sessions now', sessionTable.element));

    const update = () => {
      const hs = hosts(), ds = desktops(), ps = pools(), open = sessions().filter((s) => s.state !== 'ended');
      const issues = problems(ds, images(), ps, hs);
      tileRow.replaceChildren(...tiles(hs, ds, ps, open, issues.length));
      hostList.replaceChildren(...hostRows(hs));
      const own = tenants()[0];  // a tenant-admin sees their own only
      quota.replaceChildren(own ? quotaDetails(own, ...auditRow(own)) : '');
      stateBar.replaceChildren(...desktopStates(ds));
      problemList.replaceChildren(...listOr(issues.map((p) => h('li', {}, link(p.text, p.href))), 'Nothing needs attention.'));
      refused.replaceChildren(...refusedRequests());
      poolTable.update(ps);
      sessionTable.update(open.slice(0, 10));
    };
    update();
    return { update };
  },
};
