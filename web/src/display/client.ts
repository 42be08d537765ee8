// One display connection to a desktop, kept alive: the WebSocket, the frames
// drawn on the Screen and acknowledged (the gateway's flow control), a Ping
// a second for the round-trip time, and reconnection with backoff and a
// fresh ticket when the connection drops. Input goes out through the send*
// methods; what the page shows comes back through the callbacks.
import * as P from './protocol';
import { Backoff, closeAction } from './reconnect';
import { type DrawOp, Screen } from './screen';
import { Stats, type StatsView } from './stats';

export type ClientState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

// Thrown by ClientOptions.nextUrl when trying again cannot help (the
// session ended, the user must sign in again); any other error is taken as
// passing (the server is restarting, the network is down) and retried.
export class GiveUp extends Error {}

export interface ClientOptions {
  // The display_url (ws://…?ticket=…) for the next connection.
  nextUrl: () => Promise<string>;
  // A first display_url, with a ticket the page already has.
  firstUrl?: string;
  onState?: (state: ClientState, message: string) => void;
  onHello?: (name: string, policy: number) => void;
  onClipboard?: (text: string) => void;
  pingIntervalMs?: number;
}

export class DisplayClient {
  state: ClientState = 'connecting';
  message = '';
  policy = 0;
  version = 0;
  desktopName = '';
  closeCode = 0;
  // Whether trying again can help once closed (not after a logoff).
  resumable = true;
  readonly stats = new Stats();

  private ws: WebSocket | null = null;
  private pending: DrawOp[] = [];
  private drawing: Promise<void> = Promise.resolve();
  private readonly backoff = new Backoff();
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;
  private generation = 0;  // messages of an old connection are ignored

  constructor(private readonly screen: Screen, private readonly opts: ClientOptions) {}

  start(): void {
    this.stopped = false;
    void this.open(this.opts.firstUrl);
  }

  // Closes for good (the user disconnected or logged off).
  stop(message = 'Disconnected.', resumable = true): void {
    this.stopped = true;
    this.resumable = resumable;
    clearTimeout(this.retryTimer);
    this.ws?.close(1000, 'closed by the user');
    this.setState('closed', message);
  }

  // Reconnects now, after a stop or while waiting for the next try.
  reconnect(): void {
    clearTimeout(this.retryTimer);
    this.ws?.close(1000, 'reconnecting');
    this.backoff.reset();
    this.stopped = false;
    void this.open();
  }

  send(bytes: Uint8Array): void {
    if (this.state === 'connected' && this.ws?.readyState === WebSocket.OPEN) this.ws.send(bytes);
  }

  view(): StatsView {
    return this.stats.view(performance.now());
  }

  private setState(state: ClientState, message: string): void {
    this.state = state;
    this.message = message;
    this.opts.onState?.(state, message);
  }

  private async open(url?: string): Promise<void> {
    const generation = ++this.generation;
    this.setState(this.state === 'connected' || this.state === 'reconnecting' ? 'reconnecting' : 'connecting',
                  'Connecting to the desktop…');
    let target = url;
    if (!target) {
      try {
        target = await this.opts.nextUrl();
      } catch (e) {
        if (generation !== this.generation) return;
        const message = e instanceof Error ? e.message : String(e);
        if (e instanceof GiveUp) {
          this.stopped = true;
          this.resumable = false;
          return this.setState('closed', message);
        }
        return this.retryLater(message);
      }
    }
    if (generation !== this.generation || this.stopped) return;
    const ws = new WebSocket(socketUrl(target));
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.pending = [];
    ws.onopen = () => ws.send(P.clientHello(P.PROTOCOL_VERSION, window.innerWidth, window.innerHeight));
    ws.onmessage = (ev) => this.receive(generation, ev.data as ArrayBuffer);
    ws.onclose = (ev) => this.closed(generation, ev.code, ev.reason);
  }

  private receive(generation: number, data: ArrayBuffer): void {
    if (generation !== this.generation) return;
    this.stats.received(data.byteLength, performance.now());
    let messages: P.ServerMessage[];
    try {
      messages = P.parseServerMessages(data);
    } catch (e) {
      return this.fail(`the gateway sent a message this client cannot read: ${String(e)}`);
    }
    for (const m of messages) this.handle(generation, m);
  }

  private handle(generation: number, m: P.ServerMessage): void {
    switch (m.type) {
      case 'hello':
        this.version = m.version;
        this.policy = m.policy;
        this.desktopName = m.name;
        this.opts.onHello?.(m.name, m.policy);
        this.pending.push(m);
        this.connected();
        return;
      case 'pong':
        this.stats.pong(m.token, performance.now());
        return;
      case 'clipboard':
        if (this.policy & P.CLIPBOARD_TO_CLIENT) this.opts.onClipboard?.(m.text);
        return;
      case 'cursorPosition':
        return;  // the browser draws the pointer where the user's mouse is
      case 'frameEnd': {
        const ops = this.pending;
        this.pending = [];
        this.drawing = this.drawing.then(() => this.drawFrame(generation, ops, m.frame, m.encodeUs));
        return;
      }
      default:
        this.pending.push(Screen.prepare(m));
    }
  }

  private async drawFrame(generation: number, ops: DrawOp[], frame: number, encodeUs: number): Promise<void> {
    if (generation !== this.generation) return;
    const started = performance.now();
    try {
      await this.screen.draw(ops);
    } catch (e) {
      return this.fail(e instanceof Error ? e.message : String(e));
    }
    if (generation !== this.generation) return;
    const now = performance.now();
    this.stats.drawn(now, encodeUs, now - started);
    this.ws?.send(P.frameAck(frame));
  }

  private connected(): void {
    this.closeCode = 0;
    this.resumable = true;
    this.setState('connected', '');
    this.backoff.reset();
    clearInterval(this.pingTimer);
    if (this.version >= 2) {
      this.pingTimer = setInterval(() => this.send(P.ping(this.stats.ping(performance.now()))),
                                   this.opts.pingIntervalMs ?? 1000);
    }
  }

  // A message this client cannot use: close with 4400 and do not retry (it
  // would only fail again); the user can still reconnect by hand.
  private fail(message: string): void {
    this.stopped = true;
    this.ws?.close(4400, message.slice(0, 120));
    this.setState('closed', `Display error: ${message}`);
  }

  private closed(generation: number, code: number, reason: string): void {
    if (generation !== this.generation) return;
    clearInterval(this.pingTimer);
    this.closeCode = code;
    if (this.stopped) return;
    const action = closeAction(code, reason);
    if (action.kind === 'stop') {
      this.stopped = true;
      this.resumable = action.resumable;
      return this.setState('closed', action.message);
    }
    this.retryLater(action.message);
  }

  private retryLater(message: string): void {
    const wait = this.backoff.next();
    this.setState('reconnecting', `${message} (next try in ${(wait / 1000).toFixed(1)} s)`);
    this.retryTimer = setTimeout(() => void this.open(), wait);
  }
}

// A display_url as the page can open it: relative to this page's host when
// it has none, and wss:// when the page itself came over HTTPS.
export function socketUrl(url: string): string {
  const u = new URL(url, window.location.href);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol === 'https:') u.protocol = 'wss:';
  if (window.location.protocol === 'https:' && u.protocol === 'ws:') u.protocol = 'wss:';
  return u.toString();
}
