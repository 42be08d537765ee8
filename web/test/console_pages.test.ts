// The pure parts of the console's pages: the audit query, usage rows, idle
// time, an image's owner, the images a pool may use, a tenant's quota and
// audit retention.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Image, Quota, Tenant } from '../src/api';
import { app } from '../src/console/app';
import { OWNER_DEFAULT, ownerChoices, ownerFields } from '../src/console/owner';
import { auditQuery } from '../src/console/pages/audit';
import { imageChoices } from '../src/console/pages/pools';
import { idleFor } from '../src/console/pages/sessions';
import { desktopRows } from '../src/console/pages/usage';
import { type QuotaKey, quotaBody, quotaText } from '../src/console/quota';
import { auditText } from '../src/console/retention';

const NO_QUOTA: Quota = { desktops: null, vcpus: null, memory_mb: null, disk_gb: null };
const tenant = (id: string, name: string, quota: Partial<Quota> = {}): Tenant => ({
  id, name, created_at: '', quota: { ...NO_QUOTA, ...quota }, usage: { desktops: 3, vcpus: 6, memory_mb: 4096, disk_gb: 12.5 } });

test('the audit filters become the API query, empty ones left out', () => {
  assert.equal(auditQuery({ action: '', user: '', tenant: '', since: '', until: '', limit: 50 }), '/api/v1/audit?limit=50');
  const q = new URL(auditQuery({ action: 'pool.create', user: 'u-1', tenant: 't-1', since: '2026-11-22T10:00', until: '', limit: 25, before: 812 }), 'http://x');
  assert.equal(q.searchParams.get('action'), 'pool.create');
  assert.equal(q.searchParams.get('user_id'), 'u-1');
  assert.equal(q.searchParams.get('tenant_id'), 't-1');
  assert.equal(q.searchParams.get('before'), '812');
  assert.equal(q.searchParams.get('since'), new Date('2026-11-22T10:00').toISOString());  // local time, sent as UTC
  assert.equal(q.searchParams.has('until'), false);
});

test('usage rows key desktop-hours by pool, standalone desktops under ""', () => {
  const rows = desktopRows({
    from: '2026-11-01', to: '2026-11-02', sessions: [],
    desktops: [{ day: '2026-11-01', tenant_id: 't-1', pool_id: 'p-1', desktop_hours: 2.5 },
               { day: '2026-11-02', tenant_id: null, pool_id: null, desktop_hours: 1 }],
  });
  assert.deepEqual(rows, [{ day: '2026-11-01', key: 'p-1', value: 2.5 }, { day: '2026-11-02', key: '', value: 1 }]);
});

test('idle time counts from the last input, and not for ended sessions', () => {
  const now = Date.parse('2026-11-22T10:30:00Z');
  const s = { id: 's-1', pool_id: 'p', desktop_id: 'd', created_at: '2026-11-22T09:00:00Z', last_activity_at: '2026-11-22T10:18:00Z' };
  assert.equal(idleFor({ ...s, state: 'connected' }, now), '12 min');
  assert.equal(idleFor({ ...s, state: 'ended' }, now), '–');
});

test('the image dialogs send shared:true by default, tenant_id for a tenant, neither for the platform only', () => {
  const choices = ownerChoices([tenant('t-acme', 'Acme')]);
  assert.deepEqual(choices.find(([v]) => v === OWNER_DEFAULT), [OWNER_DEFAULT, 'Every tenant (shared)']);
  assert.deepEqual(ownerFields(OWNER_DEFAULT), { shared: true });
  const acme = choices.find(([, label]) => label === 'Acme');
  assert.ok(acme);
  assert.deepEqual(ownerFields(acme[0]), { tenant_id: 't-acme' });
  const platform = choices.find(([, label]) => label === 'Platform only');
  assert.ok(platform);
  assert.deepEqual(ownerFields(platform[0]), {});
});

test('a pool offers the images of its tenant and the shared ones, and keeps its own', () => {
  const image = (id: string, tenant_id: string | null, shared: boolean, state: Image['state'] = 'ready'): Image => ({
    id, name: id, state, progress: 100, source_path: null, format: 'auto', source_format: 'raw', tenant_id, shared,
    virtual_size_bytes: 1, size_bytes: 1, boot: {}, error: null, created_at: '', updated_at: '' });
  for (const i of [image('acme-own', 't-acme', false), image('globex-own', 't-globex', false), image('everyone', null, true),
    image('platform-only', null, false), image('broken', null, true, 'failed'), image('coming', 't-acme', false, 'importing')]) app.store.upsert('images', i);
  const ids = (tenant: string, keep?: string) => imageChoices(tenant, keep).map(([id]) => id).sort();
  assert.deepEqual(ids('t-acme'), ['acme-own', 'coming', 'everyone']);
  assert.deepEqual(ids('t-globex'), ['everyone', 'globex-own']);
  assert.deepEqual(imageChoices('t-acme').find(([id]) => id === 'coming'), ['coming', 'coming (importing)']);
  assert.deepEqual(ids('t-acme', 'platform-only'), ['acme-own', 'coming', 'everyone', 'platform-only']);  // a pool's image stays choosable
  app.store.clear();
});

test("a tenant's usage reads against its limit, alone where it has none", () => {
  const limited = tenant('t-acme', 'Acme', { desktops: 10, vcpus: 8, memory_mb: 16384, disk_gb: 100 });
  assert.equal(quotaText(limited, 'desktops'), '3 of 10');
  assert.equal(quotaText(limited, 'vcpus'), '6 of 8');
  assert.equal(quotaText(limited, 'memory_mb'), '4.0 GiB of 16.0 GiB');
  assert.equal(quotaText(limited, 'disk_gb'), '12.5 of 100 GB');
  const free = tenant('t-globex', 'Globex');
  assert.equal(quotaText(free, 'desktops'), '3');
  assert.equal(quotaText(free, 'memory_mb'), '4.0 GiB');
  assert.equal(quotaText(free, 'disk_gb'), '12.5 GB');
  assert.equal(quotaText({ ...free, usage: { ...free.usage, disk_gb: 1.04 } }, 'disk_gb'), '1 GB');
});

test('the quota dialog sends every limit, null for an empty field, and refuses what is not one', () => {
  const fields = (texts: Partial<Record<QuotaKey, string>>) => (k: QuotaKey) => texts[k] ?? '';
  assert.deepEqual(quotaBody(fields({ desktops: '10', memory_mb: '16384', disk_gb: '100' })),
                   { quota: { desktops: 10, vcpus: null, memory_mb: 16384, disk_gb: 100 } });
  assert.deepEqual(quotaBody(fields({})), { quota: NO_QUOTA });
  assert.throws(() => quotaBody(fields({ vcpus: '0' })), /vCPUs must be a whole number from 1/);  // the server takes 0 for none
  assert.throws(() => quotaBody(fields({ disk_gb: '2.5' })), /Disk \(GB\) must be a whole number/);
});

test("a tenant's audit retention reads as how long events are kept, and any legal hold", () => {
  const t = tenant('t-acme', 'Acme');
  assert.equal(auditText({ ...t, audit: { retention_days: null, legal_hold: false } }), 'Kept for ever');
  assert.equal(auditText({ ...t, audit: { retention_days: 0, legal_hold: false } }), 'Kept for ever');  // 0 is for ever too
  assert.equal(auditText({ ...t, audit: { retention_days: 90, legal_hold: false } }), 'Kept 90 days');
  assert.equal(auditText({ ...t, audit: { retention_days: 1, legal_hold: true } }), 'Kept 1 day, under a legal hold');
  assert.equal(auditText({ ...t, audit: { retention_days: null, legal_hold: true } }), 'Kept for ever, under a legal hold');
  assert.equal(auditText(t), '–');  // an older server's tenant
});
