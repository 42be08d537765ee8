// From a browser key event to what the desktop needs: the PC/AT set 1
// scancode of the physical key (KeyboardEvent.code, UI Events KeyboardEvent
// code values) and the X11 keysym of what the key means here
// (KeyboardEvent.key). QEMU uses the scancode when there is one, so the
// guest's own layout decides the character: a German or French user gets
// their layout as long as the desktop is set to it. The keysym is the
// fallback for keys without a scancode (RFB 7.5.4, keysymdef.h).

// code → set 1 scancode; 0xE0xx for the extended keys.
const SCANCODES: Record<string, number> = {
  Escape: 0x01, Digit1: 0x02, Digit2: 0x03, Digit3: 0x04, Digit4: 0x05, Digit5: 0x06, Digit6: 0x07,
  Digit7: 0x08, Digit8: 0x09, Digit9: 0x0a, Digit0: 0x0b, Minus: 0x0c, Equal: 0x0d, Backspace: 0x0e,
  Tab: 0x0f, KeyQ: 0x10, KeyW: 0x11, KeyE: 0x12, KeyR: 0x13, KeyT: 0x14, KeyY: 0x15, KeyU: 0x16,
  KeyI: 0x17, KeyO: 0x18, KeyP: 0x19, BracketLeft: 0x1a, BracketRight: 0x1b, Enter: 0x1c,
  ControlLeft: 0x1d, KeyA: 0x1e, KeyS: 0x1f, KeyD: 0x20, KeyF: 0x21, KeyG: 0x22, KeyH: 0x23,
  KeyJ: 0x24, KeyK: 0x25, KeyL: 0x26, Semicolon: 0x27, Quote: 0x28, Backquote: 0x29, ShiftLeft: 0x2a,
  Backslash: 0x2b, KeyZ: 0x2c, KeyX: 0x2d, KeyC: 0x2e, KeyV: 0x2f, KeyB: 0x30, KeyN: 0x31, KeyM: 0x32,
  Comma: 0x33, Period: 0x34, Slash: 0x35, ShiftRight: 0x36, NumpadMultiply: 0x37, AltLeft: 0x38,
  Space: 0x39, CapsLock: 0x3a, F1: 0x3b, F2: 0x3c, F3: 0x3d, F4: 0x3e, F5: 0x3f, F6: 0x40, F7: 0x41,
  F8: 0x42, F9: 0x43, F10: 0x44, NumLock: 0x45, ScrollLock: 0x46, Numpad7: 0x47, Numpad8: 0x48,
  Numpad9: 0x49, NumpadSubtract: 0x4a, Numpad4: 0x4b, Numpad5: 0x4c, Numpad6: 0x4d, NumpadAdd: 0x4e,
  Numpad1: 0x4f, Numpad2: 0x50, Numpad3: 0x51, Numpad0: 0x52, NumpadDecimal: 0x53,
  IntlBackslash: 0x56, F11: 0x57, F12: 0x58, NumpadEqual: 0x59, F13: 0x64, F14: 0x65, F15: 0x66,
  F16: 0x67, F17: 0x68, F18: 0x69, F19: 0x6a, F20: 0x6b, F21: 0x6c, F22: 0x6d, F23: 0x6e,
  KanaMode: 0x70, Lang2: 0x71, Lang1: 0x72, IntlRo: 0x73, F24: 0x76, Convert: 0x79,
  NonConvert: 0x7b, IntlYen: 0x7d, NumpadComma: 0x7e,
  MediaTrackPrevious: 0xe010, MediaTrackNext: 0xe019, NumpadEnter: 0xe01c, ControlRight: 0xe01d,
  AudioVolumeMute: 0xe020, MediaPlayPause: 0xe022, MediaStop: 0xe024, AudioVolumeDown: 0xe02e,
  AudioVolumeUp: 0xe030, BrowserHome: 0xe032, NumpadDivide: 0xe035, PrintScreen: 0xe037,
  AltRight: 0xe038, Pause: 0xe046, Home: 0xe047, ArrowUp: 0xe048, PageUp: 0xe049, ArrowLeft: 0xe04b,
  ArrowRight: 0xe04d, End: 0xe04f, ArrowDown: 0xe050, PageDown: 0xe051, Insert: 0xe052,
  Delete: 0xe053, MetaLeft: 0xe05b, MetaRight: 0xe05c, OSLeft: 0xe05b, OSRight: 0xe05c,
  ContextMenu: 0xe05d, Power: 0xe05e, Sleep: 0xe05f, WakeUp: 0xe063,
};

// key values that name a key rather than a character → keysym.
const NAMED: Record<string, number> = {
  Backspace: 0xff08, Tab: 0xff09, Enter: 0xff0d, Escape: 0xff1b, Delete: 0xffff, Home: 0xff50,
  ArrowLeft: 0xff51, ArrowUp: 0xff52, ArrowRight: 0xff53, ArrowDown: 0xff54, PageUp: 0xff55,
  PageDown: 0xff56, End: 0xff57, Insert: 0xff63, Pause: 0xff13, ScrollLock: 0xff14,
  PrintScreen: 0xff61, ContextMenu: 0xff67, NumLock: 0xff7f, CapsLock: 0xffe5, AltGraph: 0xfe03,
  Compose: 0xff20, Help: 0xff6a, Cancel: 0xff69, Clear: 0xff0b,
};

// Modifiers by physical side, since key is the same for both.
const MODIFIERS: Record<string, number> = {
  ShiftLeft: 0xffe1, ShiftRight: 0xffe2, ControlLeft: 0xffe3, ControlRight: 0xffe4,
  AltLeft: 0xffe9, AltRight: 0xffea, MetaLeft: 0xffeb, MetaRight: 0xffec, OSLeft: 0xffeb, OSRight: 0xffec,
};

// Keypad keys by code: their keysyms differ from the main keys'.
const KEYPAD: Record<string, number> = {
  NumpadEnter: 0xff8d, NumpadMultiply: 0xffaa, NumpadAdd: 0xffab, NumpadComma: 0xffac,
  NumpadSubtract: 0xffad, NumpadDecimal: 0xffae, NumpadDivide: 0xffaf, NumpadEqual: 0xffbd,
};

export interface KeyLike {
  key: string;
  code: string;
}

export interface DesktopKey {
  keysym: number;
  scancode: number;
}

function keysymOf(e: KeyLike): number {
  if (e.code in MODIFIERS && (e.key === 'Shift' || e.key === 'Control' || e.key === 'Alt' || e.key === 'Meta' || e.key === 'OS')) {
    return MODIFIERS[e.code];
  }
  if (e.code in KEYPAD) return KEYPAD[e.code];
  // Numpad digits with NumLock on give the digit as key: KP_0..KP_9.
  if (/^Numpad[0-9]$/.test(e.code) && /^[0-9]$/.test(e.key)) return 0xffb0 + Number(e.key);
  if (/^F([1-9]|1[0-9]|2[0-4])$/.test(e.key)) return 0xffbe + Number(e.key.slice(1)) - 1;
  if (e.key in NAMED) return NAMED[e.key];
  const chars = Array.from(e.key);
  if (chars.length === 1) {
    const cp = chars[0].codePointAt(0) ?? 0;
    // Latin-1 keysyms are the code points; the rest of Unicode is 0x01000000 + cp.
    if ((cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xff)) return cp;
    if (cp > 0xff) return 0x01000000 + cp;
  }
  return 0;  // Dead keys, Process, Unidentified: the scancode carries them
}

// What to send for a key event, or null when neither the key nor its code is
// anything the desktop could use.
export function desktopKey(e: KeyLike): DesktopKey | null {
  const scancode = SCANCODES[e.code] ?? 0;
  const keysym = keysymOf(e);
  if (scancode === 0 && keysym === 0) return null;
  return { keysym, scancode };
}

// The keys pressed now, by code, so that all of them can be released when
// the page loses focus (a key released outside the page would stay down on
// the desktop otherwise).
export class PressedKeys {
  private readonly down = new Map<string, DesktopKey>();
  press(code: string, k: DesktopKey): void {
    this.down.set(code, k);
  }
  // The key as it was pressed: the release must match the press even if
  // the modifiers changed the key value in between.
  release(code: string): DesktopKey | undefined {
    const k = this.down.get(code);
    this.down.delete(code);
    return k;
  }
  releaseAll(): DesktopKey[] {
    const all = [...this.down.values()];
    this.down.clear();
    return all;
  }
  get size(): number {
    return this.down.size;
  }
}
