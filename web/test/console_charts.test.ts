// Chart arithmetic: round axes, stacking by pool, labels that never overlap.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chartUnit, clip, formatValue, labelEvery, niceScale, stackByDay, stackMax, totalsByKey } from '../src/console/charts';

test('axes end on a round number at or above the largest value', () => {
  assert.deepEqual(niceScale(7.3), { max: 8, step: 2, ticks: [0, 2, 4, 6, 8] });
  assert.deepEqual(niceScale(100), { max: 100, step: 25, ticks: [0, 25, 50, 75, 100] });
  assert.equal(niceScale(0.37).max, 0.4);
  assert.equal(niceScale(0.37).step, 0.1);
  assert.equal(niceScale(0).max, 1);          // an empty chart still has an axis
  assert.equal(niceScale(Number.NaN).max, 1);
  for (const v of [0.01, 3, 9.99, 10, 11, 999, 123456]) {
    const s = niceScale(v);
    assert.ok(s.max >= v, `${v} fits under ${s.max}`);
    assert.ok(s.ticks.length >= 3 && s.ticks.length <= 6, `${v}: ${s.ticks.length} ticks`);
    assert.equal(s.ticks.at(-1), s.max);
  }
});

test('labels are thinned out so that they never overlap', () => {
  assert.equal(labelEvery(14, 650, 58), 2);
  assert.equal(labelEvery(7, 650, 58), 1);
  assert.equal(labelEvery(366, 650, 58), 34);
  assert.equal(labelEvery(0, 650, 58), 1);
});

test('hours stack per day by pool, the smallest pools as Other', () => {
  const days = ['2026-11-01', '2026-11-02'];
  const rows = [
    { day: '2026-11-01', key: 'p-a', value: 5 }, { day: '2026-11-02', key: 'p-a', value: 1 },
    { day: '2026-11-01', key: 'p-b', value: 2 }, { day: '2026-11-02', key: 'p-c', value: 1.5 },
    { day: '2026-11-02', key: 'p-d', value: 0.5 }, { day: '2026-10-31', key: 'p-a', value: 99 },  // outside the range
  ];
  const series = stackByDay(rows, days, (k) => k.toUpperCase(), 3);
  assert.deepEqual(series.map((s) => s.label), ['P-A', 'P-B', 'Other']);
  assert.deepEqual(series[0].values, [5, 1]);
  assert.deepEqual(series[2].values, [0, 2]);  // p-c and p-d together
  assert.equal(stackMax(series), 7);
  assert.deepEqual(totalsByKey(rows.slice(0, 5)).map((t) => t.key), ['p-a', 'p-b', 'p-c', 'p-d']);
  assert.equal(stackByDay(rows, days, (k) => k, 6).length, 4);  // few enough pools: no Other
  assert.equal(clip('Engineering desktops for the whole team', 12), 'Engineering…');
  assert.equal(clip('Short', 12), 'Short');
});

test('short times are charted in minutes, with readable ticks', () => {
  assert.deepEqual(chartUnit(0.4), { factor: 60, unit: 'min' });
  assert.deepEqual(chartUnit(3), { factor: 1, unit: 'h' });
  assert.deepEqual(chartUnit(0), { factor: 1, unit: 'h' });
  const ticks = niceScale(0.4 * 60).ticks.map((t) => formatValue(t, 'min'));
  assert.deepEqual(ticks, ['0 min', '10 min', '20 min', '30 min']);
  assert.equal(new Set(ticks).size, ticks.length, 'no two ticks read the same');
  assert.equal(formatValue(1.23456, 'h'), '1.23 h');
});
