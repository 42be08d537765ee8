// The console's live lists: a snapshot, then changes, and listeners told once per batch.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LiveStore, topicsFor } from '../src/console/live';

test('a snapshot replaces a list; changes add, update and remove by key', async () => {
  const store = new LiveStore();
  const heard: string[][] = [];
  store.subscribe((topics) => heard.push([...topics].sort()));
  store.apply({ type: 'snapshot', topic: 'desktops', items: [{ id: 'd-1', state: 'running' }, { id: 'd-2', state: 'stopped' }] });
  store.apply({ type: 'changes', topic: 'desktops', upserted: [{ id: 'd-2', state: 'starting' }, { id: 'd-3', state: 'provisioning' }], removed: ['d-1'] });
  store.apply({ type: 'snapshot', topic: 'audit', items: [{ seq: 7, action: 'pool.create' }] });
  assert.deepEqual(store.list('desktops'), [{ id: 'd-2', state: 'starting' }, { id: 'd-3', state: 'provisioning' }]);
  assert.deepEqual(store.get('audit', '7'), { seq: 7, action: 'pool.create' });  // audit events are keyed by seq
  assert.equal(store.get('desktops', 'd-1'), undefined);
  assert.ok(store.loaded.has('desktops'));
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(heard, [['audit', 'desktops']]);  // one notification for the batch
  store.remove('desktops', 'nope');
  store.upsert('pools', { id: 'p-1', name: 'Office' });
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(heard.at(-1), ['pools']);
  assert.equal(store.apply({ type: 'hello', user: {}, topics: [], interval_ms: 1000 }), null);
  store.clear();  // signing out
  assert.deepEqual(store.list('desktops'), []);
  assert.equal(store.loaded.size, 0);
});

test('each role follows the lists its pages use', () => {
  assert.ok(topicsFor('admin').includes('hosts'));
  assert.ok(topicsFor('admin').includes('uploads'));
  assert.ok(!topicsFor('tenant-admin').includes('hosts'));
  assert.ok(!topicsFor('tenant-admin').includes('uploads'));
  assert.deepEqual(topicsFor('user'), []);
});
