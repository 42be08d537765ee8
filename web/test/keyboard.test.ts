// Keys as a user on a non-US layout presses them: the scancode is the
// physical key (so the guest's layout decides), the keysym what it means here.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PressedKeys, desktopKey } from '../src/display/keyboard';

test('letters and digits: the key code gives the set 1 scancode, the character the keysym', () => {
  assert.deepEqual(desktopKey({ key: 'a', code: 'KeyA' }), { keysym: 0x61, scancode: 0x1e });
  assert.deepEqual(desktopKey({ key: 'A', code: 'KeyA' }), { keysym: 0x41, scancode: 0x1e });
  assert.deepEqual(desktopKey({ key: '0', code: 'Digit0' }), { keysym: 0x30, scancode: 0x0b });
});

test('a German layout: Z on the US Y key and umlauts keep their physical scancodes', () => {
  assert.deepEqual(desktopKey({ key: 'z', code: 'KeyY' }), { keysym: 0x7a, scancode: 0x15 });
  assert.deepEqual(desktopKey({ key: 'ü', code: 'BracketLeft' }), { keysym: 0xfc, scancode: 0x1a });
  assert.deepEqual(desktopKey({ key: 'ß', code: 'Minus' }), { keysym: 0xdf, scancode: 0x0c });
  // A dead key has no keysym of its own: the scancode carries it.
  assert.deepEqual(desktopKey({ key: 'Dead', code: 'Equal' }), { keysym: 0, scancode: 0x0d });
});

test('characters beyond Latin-1 are Unicode keysyms', () => {
  assert.deepEqual(desktopKey({ key: '€', code: 'KeyE' }), { keysym: 0x010020ac, scancode: 0x12 });
  assert.deepEqual(desktopKey({ key: 'ж', code: 'Semicolon' }), { keysym: 0x01000436, scancode: 0x27 });
});

test('extended keys are 0xE0xx and named keys have their X11 keysyms', () => {
  assert.deepEqual(desktopKey({ key: 'ArrowUp', code: 'ArrowUp' }), { keysym: 0xff52, scancode: 0xe048 });
  assert.deepEqual(desktopKey({ key: 'Delete', code: 'Delete' }), { keysym: 0xffff, scancode: 0xe053 });
  assert.deepEqual(desktopKey({ key: 'Enter', code: 'NumpadEnter' }), { keysym: 0xff8d, scancode: 0xe01c });
  assert.deepEqual(desktopKey({ key: 'Enter', code: 'Enter' }), { keysym: 0xff0d, scancode: 0x1c });
  assert.deepEqual(desktopKey({ key: 'F12', code: 'F12' }), { keysym: 0xffc9, scancode: 0x58 });
  assert.deepEqual(desktopKey({ key: 'AltGraph', code: 'AltRight' }), { keysym: 0xfe03, scancode: 0xe038 });
  assert.deepEqual(desktopKey({ key: 'Meta', code: 'MetaLeft' }), { keysym: 0xffeb, scancode: 0xe05b });
});

test('modifiers are told apart by side, keypad digits are KP_ keysyms', () => {
  assert.deepEqual(desktopKey({ key: 'Shift', code: 'ShiftRight' }), { keysym: 0xffe2, scancode: 0x36 });
  assert.deepEqual(desktopKey({ key: 'Control', code: 'ControlRight' }), { keysym: 0xffe4, scancode: 0xe01d });
  assert.deepEqual(desktopKey({ key: '7', code: 'Numpad7' }), { keysym: 0xffb7, scancode: 0x47 });
  assert.deepEqual(desktopKey({ key: 'Home', code: 'Numpad7' }), { keysym: 0xff50, scancode: 0x47 });
});

test('a key with neither a known code nor a usable value is not sent', () => {
  assert.equal(desktopKey({ key: 'Unidentified', code: '' }), null);
  assert.equal(desktopKey({ key: 'Process', code: 'Unknown' }), null);
});

test('a release matches its press, and losing focus releases everything held', () => {
  const keys = new PressedKeys();
  keys.press('ShiftLeft', { keysym: 0xffe1, scancode: 0x2a });
  keys.press('KeyA', { keysym: 0x41, scancode: 0x1e });
  assert.deepEqual(keys.release('KeyA'), { keysym: 0x41, scancode: 0x1e });  // not 'a' after Shift went up
  assert.equal(keys.release('KeyA'), undefined);
  assert.deepEqual(keys.releaseAll(), [{ keysym: 0xffe1, scancode: 0x2a }]);
  assert.equal(keys.size, 0);
});
