// The display protocol (docs/display-protocol.md, version 2): a parser for
// the gateway's messages and writers for the client's. Pure functions over
// bytes, no DOM, so they run under node's test runner as well. The gateway's
// bytes are checked like any input: a message that does not fit its length
// is a ProtocolError, never a read past the buffer.

export const PROTOCOL_VERSION = 2;

export const enum Codec {
  Png = 1,
  Jpeg = 2,
  Webp = 3,
}

export const CODEC_MIME: Record<number, string> = {
  [Codec.Png]: 'image/png',
  [Codec.Jpeg]: 'image/jpeg',
  [Codec.Webp]: 'image/webp',
};

// ServerHello policy bits.
export const CLIPBOARD_TO_DESKTOP = 0x01;
export const CLIPBOARD_TO_CLIENT = 0x02;

export type ServerMessage =
  | { type: 'hello'; version: number; width: number; height: number; policy: number; name: string }
  | { type: 'resize'; width: number; height: number }
  | { type: 'solid'; x: number; y: number; w: number; h: number; r: number; g: number; b: number }
  | { type: 'copy'; srcX: number; srcY: number; w: number; h: number; x: number; y: number }
  | { type: 'image'; x: number; y: number; w: number; h: number; codec: number; data: Uint8Array }
  | { type: 'cursor'; hotX: number; hotY: number; w: number; h: number; rgba: Uint8Array }
  | { type: 'cursorPosition'; x: number; y: number }
  | { type: 'clipboard'; text: string }
  | { type: 'frameEnd'; frame: number; encodeUs: number }
  | { type: 'pong'; token: number };

export class ProtocolError extends Error {}

// Reads little-endian fields front to back; every read checks the length.
class Reader {
  private at = 0;
  private readonly view: DataView;
  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get done(): boolean {
    return this.at >= this.bytes.length;
  }
  private need(n: number, what: string): void {
    if (this.at + n > this.bytes.length) throw new ProtocolError(`${what}: truncated message`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.view.getUint8(this.at++);
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.at, true);
    this.at += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }
  bytesOf(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  text(what: string): string {
    const n = this.u32(what);
    return new TextDecoder('utf-8', { fatal: false }).decode(this.bytesOf(n, what));
  }
}

function rect(r: Reader, what: string) {
  return { x: r.u16(what), y: r.u16(what), w: r.u16(what), h: r.u16(what) };
}

function parseOne(r: Reader): ServerMessage {
  const type = r.u8('message');
  switch (type) {
    case 0x01:
      return { type: 'hello', version: r.u16('ServerHello'), width: r.u16('ServerHello'),
               height: r.u16('ServerHello'), policy: r.u8('ServerHello'), name: r.text('ServerHello') };
    case 0x02:
      return { type: 'resize', width: r.u16('Resize'), height: r.u16('Resize') };
    case 0x10:
      return { type: 'solid', ...rect(r, 'Solid'), r: r.u8('Solid'), g: r.u8('Solid'), b: r.u8('Solid') };
    case 0x11:
      return { type: 'copy', srcX: r.u16('Copy'), srcY: r.u16('Copy'), w: r.u16('Copy'), h: r.u16('Copy'),
               x: r.u16('Copy'), y: r.u16('Copy') };
    case 0x12: {
      const at = rect(r, 'Image');
      const codec = r.u8('Image');
      const data = r.bytesOf(r.u32('Image'), 'Image');
      return { type: 'image', ...at, codec, data };
    }
    case 0x20: {
      const hotX = r.u16('CursorShape'), hotY = r.u16('CursorShape');
      const w = r.u16('CursorShape'), h = r.u16('CursorShape');
      return { type: 'cursor', hotX, hotY, w, h, rgba: r.bytesOf(w * h * 4, 'CursorShape') };
    }
    case 0x21:
      return { type: 'cursorPosition', x: r.u16('CursorPosition'), y: r.u16('CursorPosition') };
    case 0x30:
      return { type: 'clipboard', text: r.text('Clipboard') };
    case 0x40:
      return { type: 'frameEnd', frame: r.u32('FrameEnd'), encodeUs: r.u32('FrameEnd') };
    case 0x41:
      return { type: 'pong', token: r.u32('Pong') };
    default:
      throw new ProtocolError(`unknown message type 0x${type.toString(16).padStart(2, '0')}`);
  }
}

// Every protocol message of one WebSocket message, in order.
export function parseServerMessages(data: ArrayBuffer | Uint8Array): ServerMessage[] {
  const r = new Reader(data instanceof Uint8Array ? data : new Uint8Array(data));
  const out: ServerMessage[] = [];
  while (!r.done) out.push(parseOne(r));
  return out;
}

// Checks a rectangle of a drawing message against the screen, so a bad
// message is an error rather than a draw outside the canvas.
export function fitsScreen(m: { x: number; y: number; w: number; h: number }, width: number, height: number): boolean {
  return m.x + m.w <= width && m.y + m.h <= height;
}

// ------------------------------------------------------------ client → server

class Writer {
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private at = 0;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }
  u8(v: number): this {
    this.view.setUint8(this.at, v);
    this.at += 1;
    return this;
  }
  u16(v: number): this {
    this.view.setUint16(this.at, clamp(v, 0xffff), true);
    this.at += 2;
    return this;
  }
  u32(v: number): this {
    this.view.setUint32(this.at, v >>> 0, true);
    this.at += 4;
    return this;
  }
  raw(b: Uint8Array): this {
    this.bytes.set(b, this.at);
    this.at += b.length;
    return this;
  }
  get result(): Uint8Array {
    return this.bytes;
  }
}

function clamp(v: number, max: number): number {
  return Math.max(0, Math.min(max, Math.round(v)));
}

export const MAX_CLIPBOARD_BYTES = 1 << 20;

export function clientHello(version: number, width: number, height: number): Uint8Array {
  return new Writer(7).u8(0x81).u16(version).u16(width).u16(height).result;
}
export function keyEvent(down: boolean, keysym: number, scancode: number): Uint8Array {
  return new Writer(8).u8(0x82).u8(down ? 1 : 0).u32(keysym).u16(scancode).result;
}
export function pointerEvent(x: number, y: number, buttons: number): Uint8Array {
  return new Writer(6).u8(0x83).u16(x).u16(y).u8(buttons & 0x7f).result;
}
// The text as UTF-8, cut at the protocol's limit on a character boundary.
export function clipboardMessage(text: string): Uint8Array {
  let utf8 = new TextEncoder().encode(text);
  if (utf8.length > MAX_CLIPBOARD_BYTES) {
    let end = MAX_CLIPBOARD_BYTES;
    while (end > 0 && (utf8[end] & 0xc0) === 0x80) end--;
    utf8 = utf8.subarray(0, end);
  }
  return new Writer(5 + utf8.length).u8(0x84).u32(utf8.length).raw(utf8).result;
}
export function frameAck(frame: number): Uint8Array {
  return new Writer(5).u8(0x85).u32(frame).result;
}
export function ctrlAltDel(): Uint8Array {
  return new Uint8Array([0x86]);
}
export function requestSize(width: number, height: number): Uint8Array {
  return new Writer(5).u8(0x87).u16(Math.max(1, width)).u16(Math.max(1, height)).result;
}
export function refresh(): Uint8Array {
  return new Uint8Array([0x88]);
}
export function ping(token: number): Uint8Array {
  return new Writer(5).u8(0x89).u32(token).result;
}
