// What the client does on each close code, its backoff, its figures and
// its input arithmetic (buttons, wheel).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rfbButtons, wheelSteps } from '../src/display/input';
import { Backoff, closeAction } from '../src/display/reconnect';
import { Stats, formatRate } from '../src/display/stats';

test('close codes the user must act on stop; transient ones retry', () => {
  for (const code of [1000, 4400, 4404, 4409, 4410, 4411]) assert.equal(closeAction(code, '').kind, 'stop', `${code}`);
  for (const code of [1001, 1006, 4401, 4408, 4503]) assert.equal(closeAction(code, '').kind, 'retry', `${code}`);
  assert.equal(closeAction(4410, 'you have logged off').message, 'You logged off.');
  assert.match(closeAction(4404, 'x').message, /ended/);
  assert.match(closeAction(4400, 'FrameAck for a frame never sent').message, /FrameAck for a frame never sent/);
});

test('backoff doubles from 0.5 s to at most 15 s, with jitter, and resets', () => {
  const mid = new Backoff(() => 0.5);
  assert.deepEqual(Array.from({ length: 7 }, () => mid.next()), [500, 1000, 2000, 4000, 8000, 15000, 15000]);
  mid.reset();
  assert.equal(mid.next(), 500);
  assert.equal(new Backoff(() => 0).next(), 375);
  assert.equal(new Backoff(() => 0.999999).next(), 625);
});

test('DOM buttons map to RFB buttons (middle and right swap places)', () => {
  assert.equal(rfbButtons(1), 1);  // left
  assert.equal(rfbButtons(2), 4);  // right
  assert.equal(rfbButtons(4), 2);  // middle
  assert.equal(rfbButtons(7), 7);
});

test('wheel deltas become whole steps and the rest carries over', () => {
  assert.deepEqual(wheelSteps(0, 100, 0), { steps: 1, rest: 0 });
  assert.deepEqual(wheelSteps(0, -250, 0), { steps: -2, rest: -50 });
  assert.deepEqual(wheelSteps(60, 50, 0), { steps: 1, rest: 10 });
  assert.deepEqual(wheelSteps(0, 3, 1), { steps: 0, rest: 99 });  // lines: 33 px each
  assert.deepEqual(wheelSteps(0, 1, 2), { steps: 4, rest: 0 });   // a page
});

test('figures: frames and bytes over the last second, RTT from matching pongs', () => {
  const s = new Stats(1000);
  for (let t = 0; t < 1000; t += 100) {
    s.received(1000, t);
    s.drawn(t, 2500, 1.5);
  }
  let v = s.view(999);
  assert.equal(v.fps, 10);
  assert.equal(v.bytesPerSecond, 10000);
  assert.equal(v.encodeMs, 2.5);
  assert.equal(v.frames, 10);
  assert.equal(s.view(1950).fps, 0);  // a still screen draws nothing
  const a = s.ping(2000), b = s.ping(2100);
  s.pong(b, 2130);
  s.pong(a, 2140);
  s.pong(a, 9999);  // a duplicate or unknown token changes nothing
  v = s.view(2200);
  assert.equal(v.rttMs, 140);
  assert.equal(v.rttMedianMs, 140);
  assert.equal(formatRate(1_500_000), '1.5 MB/s');
  assert.equal(formatRate(2_400), '2 kB/s');
});
