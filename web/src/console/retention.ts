// A tenant's audit retention: how long its events stay before they are
// archived and pruned, and whether a legal hold keeps them all (the Tenants
// page's column, a tenant-admin's dashboard) and the Audit retention dialog
// of administrators.
import { type Tenant, api } from '../api';
import { app } from './app';
import { plural } from './format';
import { field, formDialog, h, input, intValue } from './ui';

// The server's longest retention, in days (100 years).
const MAX_DAYS = 36600;

// "Kept for ever", "Kept 90 days, under a legal hold"; null or 0 days is for ever.
export function auditText(t: Tenant): string {
  if (!t.audit) return '–';
  const { retention_days: days, legal_hold: hold } = t.audit;
  return `${days ? `Kept ${plural(days, 'day')}` : 'Kept for ever'}${hold ? ', under a legal hold' : ''}`;
}

// The Audit row of a tenant's details.
export function auditRow(t: Tenant): HTMLElement[] {
  return [h('dt', {}, 'Audit'), h('dd', {}, auditText(t))];
}

export function auditDialog(t: Tenant): void {
  const hold = h('input', { type: 'checkbox', name: 'legal_hold', checked: t.audit?.legal_hold ?? false });
  formDialog(`Audit retention of ${t.name}`, [
    h('p', { className: 'hint' }, 'Once an hour, events older than this are written to an archive file, with its SHA-256, and only then deleted.'),
    field('Keep audit events (days, 0 for ever)', input('retention_days', String(t.audit?.retention_days ?? 0), { inputmode: 'numeric' })),
    h('label', { className: 'check' }, hold, 'Legal hold: nothing of this tenant is pruned'),
  ], 'Save', async (form) => {
    const audit = { retention_days: intValue(form, 'retention_days', 'Retention', 0, MAX_DAYS), legal_hold: hold.checked };
    const tenant = await api<Tenant>('PATCH', `/api/v1/tenants/${encodeURIComponent(t.id)}`, { audit });
    app.store.upsert('tenants', tenant);
    return `${tenant.name}'s audit retention is saved.`;
  });
}
