// The client's side of docs/display-protocol.md: the gateway's messages as
// the C++ writers produce them (byte strings copied from the C++ protocol
// test), every truncation refused, and the client's messages byte for byte.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as P from '../src/display/protocol';

const bytes = (...b: number[]) => new Uint8Array(b);

test('a whole frame of messages parses in order', () => {
  const hello = [0x01, 0x02, 0x00, 0x00, 0x05, 0x20, 0x03, 0x03, 0x03, 0, 0, 0, 0x64, 0x2d, 0x31];
  const copy = [0x11, 0x01, 0x00, 0x02, 0x00, 0x03, 0x00, 0x04, 0x00, 0x05, 0x00, 0x06, 0x00];
  const solid = [0x10, 1, 0, 2, 0, 3, 0, 4, 0, 10, 20, 30];
  const image = [0x12, 0, 0, 0, 0, 1, 0, 1, 0, 0x01, 3, 0, 0, 0, 0xaa, 0xbb, 0xcc];
  const end = [0x40, 0x07, 0, 0, 0, 0x00, 0x01, 0, 0];
  const pong = [0x41, 0x04, 0x03, 0x02, 0x01];
  const m = P.parseServerMessages(bytes(...hello, ...copy, ...solid, ...image, ...end, ...pong));
  assert.deepEqual(m.map((x) => x.type), ['hello', 'copy', 'solid', 'image', 'frameEnd', 'pong']);
  assert.deepEqual(m[0], { type: 'hello', version: 2, width: 1280, height: 800, policy: 3, name: 'd-1' });
  assert.deepEqual(m[1], { type: 'copy', srcX: 1, srcY: 2, w: 3, h: 4, x: 5, y: 6 });
  assert.deepEqual(m[2], { type: 'solid', x: 1, y: 2, w: 3, h: 4, r: 10, g: 20, b: 30 });
  const img = m[3] as Extract<P.ServerMessage, { type: 'image' }>;
  assert.equal(img.codec, P.Codec.Png);
  assert.deepEqual([...img.data], [0xaa, 0xbb, 0xcc]);
  assert.deepEqual(m[4], { type: 'frameEnd', frame: 7, encodeUs: 256 });
  assert.deepEqual(m[5], { type: 'pong', token: 0x01020304 });
});

test('every truncation of a message is a ProtocolError naming it', () => {
  const whole = [0x12, 0, 0, 0, 0, 1, 0, 1, 0, 0x01, 3, 0, 0, 0, 0xaa, 0xbb, 0xcc];
  for (let n = 1; n < whole.length; n++) {
    assert.throws(() => P.parseServerMessages(bytes(...whole.slice(0, n))), (e: unknown) =>
      e instanceof P.ProtocolError && /Image: truncated message/.test(e.message), `prefix of ${n}`);
  }
});

test('an unknown type is refused, and a client message type is unknown here', () => {
  assert.throws(() => P.parseServerMessages(bytes(0x7f)), /unknown message type 0x7f/);
  assert.throws(() => P.parseServerMessages(bytes(0x85, 1, 0, 0, 0)), /unknown message type 0x85/);
});

test('a cursor shape carries w*h*4 bytes and a huge one cannot read past the buffer', () => {
  const m = P.parseServerMessages(bytes(0x20, 1, 0, 2, 0, 1, 0, 1, 0, 9, 8, 7, 6));
  assert.deepEqual(m[0], { type: 'cursor', hotX: 1, hotY: 2, w: 1, h: 1, rgba: bytes(9, 8, 7, 6) });
  assert.throws(() => P.parseServerMessages(bytes(0x20, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff)), /truncated/);
});

test('client messages are the documented bytes', () => {
  assert.deepEqual(P.clientHello(2, 1280, 800), bytes(0x81, 2, 0, 0x00, 0x05, 0x20, 0x03));
  assert.deepEqual(P.keyEvent(true, 0x01020304, 0xe048), bytes(0x82, 1, 4, 3, 2, 1, 0x48, 0xe0));
  assert.deepEqual(P.pointerEvent(70000, -5, 0x19), bytes(0x83, 0xff, 0xff, 0, 0, 0x19));
  assert.deepEqual(P.frameAck(0xffffffff), bytes(0x85, 0xff, 0xff, 0xff, 0xff));
  assert.deepEqual(P.ctrlAltDel(), bytes(0x86));
  assert.deepEqual(P.requestSize(0, 600), bytes(0x87, 1, 0, 0x58, 0x02));
  assert.deepEqual(P.refresh(), bytes(0x88));
  assert.deepEqual(P.ping(0x01020304), bytes(0x89, 4, 3, 2, 1));
  assert.deepEqual(P.clipboardMessage('grüß'), bytes(0x84, 6, 0, 0, 0, 0x67, 0x72, 0xc3, 0xbc, 0xc3, 0x9f));
});

test('a clipboard over 1 MiB is cut on a character boundary', () => {
  const text = 'a' + 'é'.repeat(P.MAX_CLIPBOARD_BYTES / 2);  // 1 + 2 * 524288 bytes
  const m = P.clipboardMessage(text);
  const length = new DataView(m.buffer).getUint32(1, true);
  assert.ok(length <= P.MAX_CLIPBOARD_BYTES, `${length}`);
  assert.equal(length, P.MAX_CLIPBOARD_BYTES - 1);
  assert.equal(new TextDecoder('utf-8', { fatal: true }).decode(m.subarray(5)).length, 1 + (length - 1) / 2);
});

test('fitsScreen refuses rectangles past the edge', () => {
  assert.equal(P.fitsScreen({ x: 0, y: 0, w: 1280, h: 800 }, 1280, 800), true);
  assert.equal(P.fitsScreen({ x: 1, y: 0, w: 1280, h: 800 }, 1280, 800), false);
  assert.equal(P.fitsScreen({ x: 0, y: 790, w: 10, h: 11 }, 1280, 800), false);
});
