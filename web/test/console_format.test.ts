// The console's formatting: sizes, durations, times, states, days.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addDays, daysBetween, formatAgo, formatBytes, formatDuration, formatHours, formatName, percent, plural, stateTone } from '../src/console/format';

test('sizes use binary units and stay short', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(16 * 1024 * 1024), '16.0 MiB');
  assert.equal(formatBytes(300 * 1024 ** 3), '300 GiB');
  assert.equal(formatBytes(-1), '–');
  assert.equal(formatBytes(Number.NaN), '–');
});

test('durations and relative times read at a glance', () => {
  assert.equal(formatDuration(45_000), '45 s');
  assert.equal(formatDuration(12 * 60_000 + 59_000), '12 min');
  assert.equal(formatDuration((3 * 60 + 5) * 60_000), '3 h 5 min');
  assert.equal(formatDuration(2 * 3_600_000), '2 h');
  assert.equal(formatDuration((2 * 24 + 4) * 3_600_000), '2 d 4 h');
  assert.equal(formatDuration(-5), '0 s');
  const now = Date.parse('2026-11-22T10:00:00Z');
  assert.equal(formatAgo('2026-11-22T09:55:00Z', now), '5 min ago');
  assert.equal(formatAgo('2026-11-22T10:15:00Z', now), 'in 15 min');
  assert.equal(formatAgo('2026-11-22T09:59:58Z', now), 'just now');
  assert.equal(formatAgo(null, now), '–');
  assert.equal(formatAgo('yesterday', now), '–');
});

test('hours, percentages, formats and state colours', () => {
  assert.equal(formatHours(0), '0 h');
  assert.equal(formatHours(0.05), '3 min');
  assert.equal(formatHours(0.004), '< 1 min');
  assert.equal(plural(1, 'desktop'), '1 desktop');
  assert.equal(plural(0, 'desktop'), '0 desktops');
  assert.equal(formatHours(12.345), '12.3 h');
  assert.equal(percent(6, 2), 100);  // a bar never overflows; the label tells the real figure
  assert.equal(percent(1, 3), 33);
  assert.equal(percent(5, 0), 0);
  assert.equal(formatName('vpc'), 'VHD');
  assert.equal(formatName('vhdx'), 'VHDX');
  assert.equal(stateTone('running'), 'ok');
  assert.equal(stateTone('importing'), 'busy');
  assert.equal(stateTone('failed'), 'bad');
  assert.equal(stateTone('maintenance'), 'warn');
  assert.equal(stateTone('something new'), 'idle');
});

test('UTC days step across months and leap days', () => {
  assert.equal(addDays('2028-02-28', 1), '2028-02-29');
  assert.equal(addDays('2026-03-01', -1), '2026-02-28');
  assert.deepEqual(daysBetween('2026-12-30', '2027-01-02'), ['2026-12-30', '2026-12-31', '2027-01-01', '2027-01-02']);
  assert.deepEqual(daysBetween('2026-01-02', '2026-01-01'), []);
  assert.equal(daysBetween('2020-01-01', '2030-01-01').length, 366);  // bounded like the API
});
