// A tenant's quota: what it holds against each limit (the Tenants page's
// columns, a tenant-admin's dashboard) and the Quota dialog of
// administrators, which sets the whole quota at once.
import { type Quota, type Tenant, api } from '../api';
import { app } from './app';
import { formatMiB, percent } from './format';
import { field, formDialog, h, input, meter, value, wholeNumber } from './ui';

export type QuotaKey = keyof Quota;

interface Limit {
  label: string;                  // a column's, a row's
  field: string;                  // the dialog's, with the unit it takes
  figure: (n: number) => string;  // one figure, in its unit unless `unit` follows both
  unit: string;
}

const gb = (n: number) => String(Number(n.toFixed(1)));

const LIMITS: Record<QuotaKey, Limit> = {
  desktops: { label: 'Desktops', field: 'Desktops', figure: String, unit: '' },
  vcpus: { label: 'vCPUs', field: 'vCPUs', figure: String, unit: '' },
  memory_mb: { label: 'Memory', field: 'Memory (MiB)', figure: formatMiB, unit: '' },
  disk_gb: { label: 'Disk', field: 'Disk (GB)', figure: gb, unit: ' GB' },
};

export const QUOTA_KEYS = Object.keys(LIMITS) as QuotaKey[];

export const QUOTA_NOTE = 'Desktops and disk count every desktop of the tenant (disk: what their disks may grow to); ' +
  'vCPUs and memory only those meant to run.';

// The server's largest limit.
const MAX_LIMIT = 2 ** 40;

export const quotaLabel = (key: QuotaKey): string => LIMITS[key].label;

// "3 of 10", or "3" without a limit; "4.0 GiB of 16.0 GiB", "12.5 of 100 GB".
export function quotaText(t: Tenant, key: QuotaKey): string {
  const { figure, unit } = LIMITS[key];
  const limit = t.quota[key];
  return `${figure(t.usage[key])}${limit === null ? '' : ` of ${figure(limit)}`}${unit}`;
}

// The text, on a bar when there is a limit (red beyond one lowered later).
export function quotaCell(t: Tenant, key: QuotaKey): HTMLElement | string {
  const used = t.usage[key], limit = t.quota[key];
  if (limit === null) return quotaText(t, key);
  return meter(percent(used, limit), quotaText(t, key), `${LIMITS[key].label} of ${t.name}`, used > limit ? 'bad' : undefined);
}

// A row for each limit, then `more` (the dashboard's audit row).
export function quotaDetails(t: Tenant, ...more: HTMLElement[]): HTMLElement {
  return h('dl', { className: 'details' }, ...QUOTA_KEYS.flatMap((k) => [h('dt', {}, LIMITS[k].label), h('dd', {}, quotaCell(t, k))]), ...more);
}

// The PATCH body from the dialog's fields (`read` gives one's text): an
// empty one is no limit. The server takes 0 for none too, so a limit is 1 at least.
export function quotaBody(read: (key: QuotaKey) => string): { quota: Quota } {
  const quota = {} as Quota;
  for (const k of QUOTA_KEYS) {
    const text = read(k);
    quota[k] = text === '' ? null : wholeNumber(text, LIMITS[k].field, 1, MAX_LIMIT);
  }
  return { quota };
}

export function quotaDialog(t: Tenant): void {
  const limit = (k: QuotaKey) => field(LIMITS[k].field, input(k, t.quota[k] === null ? '' : String(t.quota[k]), { inputmode: 'numeric', placeholder: 'No limit' }));
  formDialog(`Quota of ${t.name}`, [
    h('p', { className: 'hint' }, `Empty: no limit. ${QUOTA_NOTE} Desktops held beyond a lowered limit stay; no more are made or started.`),
    h('div', { className: 'field-row' }, limit('desktops'), limit('vcpus')),
    h('div', { className: 'field-row' }, limit('memory_mb'), limit('disk_gb')),
  ], 'Save', async (form) => {
    const tenant = await api<Tenant>('PATCH', `/api/v1/tenants/${encodeURIComponent(t.id)}`, quotaBody((k) => value(form, k)));
    app.store.upsert('tenants', tenant);
    return `${tenant.name}'s quota is saved.`;
  });
}
