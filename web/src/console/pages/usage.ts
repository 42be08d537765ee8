// Usage: desktop-hours per day (stacked by pool) and per pool, session-hours
// per user, for a range of days; the same report as CSV.
import { type UsageReport, api, apiBytes } from '../../api';
import { type PageContext, type PageDef, isAdmin, nameOf, options, tenants } from '../app';
import { PALETTE, type Row, chartUnit, formatValue, horizontalBarChart, stackByDay, stackMax, stackedBarChart, totalsByKey } from '../charts';
import { addDays, daysBetween, formatHours } from '../format';
import { DataTable, act, button, errorText, field, h, input, section, select } from '../ui';

export function desktopRows(r: UsageReport): Row[] {
  return r.desktops.map((d) => ({ day: d.day, key: d.pool_id ?? '', value: d.desktop_hours }));
}

const poolLabel = (key: string) => (key ? nameOf('pools', key) : 'Standalone desktops');

function legend(labels: string[]): HTMLElement {
  return h('ul', { className: 'legend' }, ...labels.map((l, i) => {
    const dot = h('span', { className: 'dot' });
    dot.style.background = PALETTE[i % PALETTE.length];
    return h('li', {}, dot, l);
  }));
}

export const usagePage: PageDef = {
  id: 'usage',
  title: 'Usage',
  mount(ctx: PageContext) {
    const today = new Date().toISOString().slice(0, 10);
    const from = input('from', addDays(today, -13), { type: 'date' });
    const to = input('to', today, { type: 'date' });
    const tenant = select('tenant', [['', 'All tenants'], ...options(tenants(), (t) => t.name)]);
    const error = h('p', { className: 'error', attrs: { role: 'alert' } });
    const totals = h('p', { className: 'lead' });
    const perDay = h('div', { className: 'chart-box' });
    const perPool = h('div', { className: 'chart-box' });
    const people = new DataTable<{ username: string; hours: number }>([
      { label: 'User', cell: (u) => u.username },
      { label: 'Session-hours', cell: (u) => formatHours(u.hours), className: 'num' },
    ], (u) => u.username, 'Session-hours per user', 'No sessions in these days.');
    const query = (format = '') => {
      const q = new URLSearchParams({ from: from.value, to: to.value });
      if (isAdmin() && tenant.value) q.set('tenant_id', tenant.value);
      if (format) q.set('format', format);
      return `/api/v1/usage?${q.toString()}`;
    };
    let report: UsageReport | null = null;
    // Drawn at the width the charts get, again when it changes.
    const draw = () => {
      if (!report) return;
      const days = daysBetween(report.from, report.to);
      const raw = desktopRows(report);
      const { factor, unit } = chartUnit(Math.max(stackMax(stackByDay(raw, days, poolLabel)), ...totalsByKey(raw).map((t) => t.value)));
      const rows = raw.map((x) => ({ ...x, value: x.value * factor }));
      const format = (v: number) => formatValue(v, unit);
      const series = stackByDay(rows, days, poolLabel);
      const byPool = totalsByKey(rows).map((t) => ({ label: poolLabel(t.key), value: t.value }));
      perDay.replaceChildren(stackedBarChart(days, series, `Desktop-${unit === 'h' ? 'hours' : 'minutes'} per day, by pool`, format, perDay.clientWidth),
                             legend(series.map((s) => s.label)));
      perPool.replaceChildren(byPool.length ? horizontalBarChart(byPool, 'Desktop time per pool', format, perPool.clientWidth)
                                            : h('p', { className: 'empty' }, 'No desktop ran in these days.'));
    };
    let lastWidth = 0;
    const resize = new ResizeObserver(() => {
      if (Math.abs(perDay.clientWidth - lastWidth) < 8) return;
      lastWidth = perDay.clientWidth;
      draw();
    });
    const load = async () => {
      error.textContent = '';
      try {
        const r = await api<UsageReport>('GET', query());
        report = r;
        const rows = desktopRows(r);
        const sum = rows.reduce((s, x) => s + x.value, 0);
        const sessionSum = r.sessions.reduce((s, x) => s + x.session_hours, 0);
        totals.textContent = `${formatHours(sum)} of desktops running and ${formatHours(sessionSum)} of sessions from ${r.from} to ${r.to} (UTC days).`;
        draw();
        const perUser = totalsByKey(r.sessions.map((s) => ({ day: s.day, key: s.username, value: s.session_hours })));
        people.update(perUser.map((u) => ({ username: u.key, hours: u.value })));
      } catch (e) {
        error.textContent = errorText(e);
      }
    };
    const download = (b: HTMLButtonElement) => void act(b, 'Downloading the report', async () => {
      const csv = await apiBytes('GET', query('csv'));
      const a = h('a', { href: URL.createObjectURL(csv), download: `oriel-usage-${from.value}-${to.value}.csv` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    }, () => 'The report is downloaded as CSV.');
    const form = h('form', { className: 'filters-form' }, field('From', from), field('To', to), isAdmin() ? field('Tenant', tenant) : null,
                   h('button', { type: 'submit', className: 'primary' }, 'Show'), button('Download CSV', download));
    form.onsubmit = (ev) => {
      ev.preventDefault();
      void load();
    };
    ctx.root.append(form, error, totals,
                    h('div', { className: 'columns two' }, section('Desktop-hours per day', perDay), section('Desktop-hours per pool', perPool)),
                    section('Session-hours per user', people.element));
    resize.observe(perDay);
    void load();
    return { update: () => {}, leave: () => resize.disconnect() };
  },
};
