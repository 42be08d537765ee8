// The user's keyboard, mouse, wheel and clipboard, from the page to the
// desktop. Pointer positions are mapped from the (scaled) canvas to screen
// pixels; moves are coalesced to one per animation frame, presses and
// releases go at once. Keys are captured while the canvas has focus; every
// key still down is released when the page loses focus.
import { type DesktopKey, PressedKeys, desktopKey } from './keyboard';
import * as P from './protocol';

export interface InputTarget {
  send(bytes: Uint8Array): void;
  readonly policy: number;
}

const WHEEL_STEP_PX = 100;  // one wheel click on most mice; trackpads send less, more often

// DOM MouseEvent.buttons (bit 0 left, 1 right, 2 middle) → RFB 7.5.5 (left, middle, right).
export function rfbButtons(domButtons: number): number {
  return (domButtons & 1) | ((domButtons & 4) >> 1) | ((domButtons & 2) << 1);
}

// The wheel's accumulated delta as whole steps, the rest kept for later.
export function wheelSteps(accumulated: number, delta: number, deltaMode: number): { steps: number; rest: number } {
  const px = deltaMode === 1 ? delta * 33 : deltaMode === 2 ? delta * 400 : delta;
  const total = accumulated + px;
  const steps = Math.trunc(total / WHEEL_STEP_PX);
  return { steps, rest: total - steps * WHEEL_STEP_PX };
}

export class InputCapture {
  private readonly keys = new PressedKeys();
  private buttons = 0;
  private x = 0;
  private y = 0;
  private moveQueued = false;
  private wheelX = 0;
  private wheelY = 0;
  private pendingPaste: { code: string; key: DesktopKey; timer: ReturnType<typeof setTimeout> } | null = null;
  private readonly detachers: Array<() => void> = [];

  constructor(private readonly canvas: HTMLCanvasElement, private readonly target: InputTarget) {}

  attach(): void {
    const c = this.canvas;
    this.on(c, 'keydown', (e) => this.keyDown(e as KeyboardEvent));
    this.on(c, 'keyup', (e) => this.keyUp(e as KeyboardEvent));
    this.on(c, 'pointermove', (e) => this.pointer(e as PointerEvent, false));
    this.on(c, 'pointerdown', (e) => {
      c.focus();
      c.setPointerCapture((e as PointerEvent).pointerId);
      this.pointer(e as PointerEvent, true);
    });
    this.on(c, 'pointerup', (e) => this.pointer(e as PointerEvent, true));
    this.on(c, 'wheel', (e) => this.wheel(e as WheelEvent), { passive: false });
    this.on(c, 'contextmenu', (e) => e.preventDefault());
    this.on(window, 'paste', (e) => this.paste(e as ClipboardEvent));
    this.on(window, 'blur', () => this.releaseAll());
    this.on(c, 'blur', () => this.releaseAll());
  }

  detach(): void {
    for (const d of this.detachers.splice(0)) d();
  }

  private on(el: EventTarget, type: string, fn: (e: Event) => void, opts?: AddEventListenerOptions): void {
    el.addEventListener(type, fn, opts);
    this.detachers.push(() => el.removeEventListener(type, fn, opts));
  }

  private keyDown(e: KeyboardEvent): void {
    const k = desktopKey(e);
    if (!k) return;
    // Ctrl+V / Shift+Insert: let the browser's paste happen first, so the
    // desktop has the text on its clipboard when it sees the keys.
    const pasteKeys = ((e.ctrlKey || e.metaKey) && e.code === 'KeyV') || (e.shiftKey && e.code === 'Insert');
    if (pasteKeys && this.target.policy & P.CLIPBOARD_TO_DESKTOP && !this.pendingPaste) {
      const timer = setTimeout(() => this.flushPaste(), 150);  // no paste event (empty clipboard)
      this.pendingPaste = { code: e.code, key: k, timer };
      return;
    }
    e.preventDefault();
    this.keys.press(e.code, k);
    this.target.send(P.keyEvent(true, k.keysym, k.scancode));
  }

  private keyUp(e: KeyboardEvent): void {
    e.preventDefault();
    if (this.pendingPaste?.code === e.code) this.flushPaste();
    const k = this.keys.release(e.code);
    if (k) this.target.send(P.keyEvent(false, k.keysym, k.scancode));
  }

  private paste(e: ClipboardEvent): void {
    if (!this.pendingPaste) return;
    const text = e.clipboardData?.getData('text/plain') ?? '';
    e.preventDefault();
    if (text) this.target.send(P.clipboardMessage(text));
    this.flushPaste();
  }

  private flushPaste(): void {
    const p = this.pendingPaste;
    if (!p) return;
    clearTimeout(p.timer);
    this.pendingPaste = null;
    this.keys.press(p.code, p.key);
    this.target.send(P.keyEvent(true, p.key.keysym, p.key.scancode));
  }

  private releaseAll(): void {
    for (const k of this.keys.releaseAll()) this.target.send(P.keyEvent(false, k.keysym, k.scancode));
    if (this.buttons) {
      this.buttons = 0;
      this.target.send(P.pointerEvent(this.x, this.y, 0));
    }
  }

  // Canvas CSS pixels → screen pixels (the canvas may be scaled to the window).
  private position(e: MouseEvent): void {
    const r = this.canvas.getBoundingClientRect();
    const sx = this.canvas.width / Math.max(1, r.width);
    const sy = this.canvas.height / Math.max(1, r.height);
    this.x = Math.max(0, Math.min(this.canvas.width - 1, Math.floor((e.clientX - r.left) * sx)));
    this.y = Math.max(0, Math.min(this.canvas.height - 1, Math.floor((e.clientY - r.top) * sy)));
  }

  private pointer(e: PointerEvent, now: boolean): void {
    this.position(e);
    this.buttons = rfbButtons(e.buttons);
    if (now) {
      e.preventDefault();
      this.target.send(P.pointerEvent(this.x, this.y, this.buttons));
      return;
    }
    if (this.moveQueued) return;
    this.moveQueued = true;
    requestAnimationFrame(() => {
      this.moveQueued = false;
      this.target.send(P.pointerEvent(this.x, this.y, this.buttons));
    });
  }

  private wheel(e: WheelEvent): void {
    e.preventDefault();
    this.position(e);
    const y = wheelSteps(this.wheelY, e.deltaY, e.deltaMode);
    const x = wheelSteps(this.wheelX, e.deltaX, e.deltaMode);
    this.wheelY = y.rest;
    this.wheelX = x.rest;
    // Bits 3/4 wheel up/down, 5/6 left/right: each step a press and a release.
    this.clicks(y.steps < 0 ? 0x08 : 0x10, Math.abs(y.steps));
    this.clicks(x.steps < 0 ? 0x20 : 0x40, Math.abs(x.steps));
  }

  private clicks(bit: number, n: number): void {
    for (let i = 0; i < Math.min(n, 10); i++) {
      this.target.send(P.pointerEvent(this.x, this.y, this.buttons | bit));
      this.target.send(P.pointerEvent(this.x, this.y, this.buttons));
    }
  }
}
