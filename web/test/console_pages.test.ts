// The pure parts of the console's pages: the audit query, usage rows, idle time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { auditQuery } from '../src/console/pages/audit';
import { idleFor } from '../src/console/pages/sessions';
import { desktopRows } from '../src/console/pages/usage';

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
