// The desktop page (desktop.html?session=ID[&ticket=T]): the session's
// desktop on a canvas, scaled to the window or at its actual size, with a
// toolbar (Ctrl+Alt+Del, clipboard, full screen, figures, disconnect, log
// off) and a notice when the connection is down. window.orielClient exposes
// the client's state and figures to tests and to curious users.
import { ApiError, type Session, api } from './api';
import { DisplayClient, GiveUp } from './display/client';
import { InputCapture } from './display/input';
import * as P from './display/protocol';
import { Screen } from './display/screen';
import { formatRate } from './display/stats';

function el<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page has no #${id}`);
  return e as T;
}

const params = new URLSearchParams(location.search);
const sessionId = params.get('session') ?? '';
const firstTicket = params.get('ticket');
if (firstTicket) {  // one-time: not to be found again in the history
  params.delete('ticket');
  history.replaceState(null, '', `${location.pathname}?${params.toString()}`);
}

const canvas = el<HTMLCanvasElement>('screen');
const stage = el('stage');
const screen = new Screen(canvas);
let fit = true;

async function nextUrl(): Promise<string> {
  try {
    const s = await api<Session>('POST', `/api/v1/sessions/${encodeURIComponent(sessionId)}/tickets`);
    if (!s.display_url) throw new Error('the session has no display');
    return s.display_url;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) throw new GiveUp('Your sign-in has expired. Sign in again from the portal.');
    if (e instanceof ApiError && e.status === 404) throw new GiveUp('This session has ended.');
    if (e instanceof ApiError && e.status >= 400 && e.status < 500) throw new GiveUp(e.message);
    throw e;  // Oriel unreachable or restarting: the client tries again
  }
}

const client = new DisplayClient(screen, {
  nextUrl,
  firstUrl: firstTicket ? `/display/${encodeURIComponent(sessionId)}?ticket=${encodeURIComponent(firstTicket)}` : undefined,
  onState: (state, message) => showState(state, message),
  onHello: (name, policy) => {
    document.title = `${name} — Oriel`;
    el('title').textContent = name;
    el('clip-policy').textContent = clipboardPolicyText(policy);
  },
  onClipboard: (text) => receivedClipboard(text),
});
const input = new InputCapture(canvas, client);

function clipboardPolicyText(policy: number): string {
  const to = policy & P.CLIPBOARD_TO_DESKTOP, from = policy & P.CLIPBOARD_TO_CLIENT;
  if (to && from) return 'Copy and paste work both ways.';
  if (to) return 'You can paste into the desktop; copying out of it is turned off for this pool.';
  if (from) return 'You can copy out of the desktop; pasting into it is turned off for this pool.';
  return 'The clipboard is turned off for this pool.';
}

function receivedClipboard(text: string): void {
  el('clip-from').textContent = text;
  // Writing the system clipboard needs the page to have focus; when it does
  // not, the text waits in the panel.
  navigator.clipboard?.writeText(text).catch(() => {});
}

function showState(state: string, message: string): void {
  const status = el('status');
  const label: Record<string, string> = {
    connecting: 'Connecting…', connected: 'Connected', reconnecting: 'Reconnecting…', closed: 'Disconnected',
  };
  status.textContent = label[state] ?? state;
  status.dataset.state = state;
  const notice = el('notice');
  notice.hidden = state === 'connected';
  el('notice-text').textContent = message;
  el('notice-reconnect').hidden = state !== 'closed' || !client.resumable;
  for (const id of ['cad', 'refresh', 'disconnect']) el<HTMLButtonElement>(id).disabled = state !== 'connected';
  el<HTMLButtonElement>('clip-send').disabled = state !== 'connected' || !(client.policy & P.CLIPBOARD_TO_DESKTOP);
  el<HTMLButtonElement>('logoff').disabled = state === 'closed' && !client.resumable;
  if (state === 'connected') canvas.focus();
}

// Scaling: shrink to fit the window, or show the screen's own pixels with
// scroll bars. Never enlarged: a desktop blown up past its pixels only
// makes text blurred.
function layout(): void {
  const w = canvas.width, h = canvas.height;
  if (!fit || !w || !h) {
    canvas.style.width = `${w}px`;
    canvas.style.height = `${h}px`;
  } else {
    const s = Math.min(stage.clientWidth / w, stage.clientHeight / h, 1);
    canvas.style.width = `${Math.floor(w * s)}px`;
    canvas.style.height = `${Math.floor(h * s)}px`;
  }
  stage.classList.toggle('actual-size', !fit);
  el('scale').textContent = fit ? 'Actual size' : 'Fit to window';
}

function updateOverlay(): void {
  const v = client.view();
  const rtt = v.rttMs === null ? '–' : `${v.rttMs.toFixed(0)} ms`;
  el('overlay').textContent =
    `${v.fps.toFixed(0)} fps · ${formatRate(v.bytesPerSecond)} · RTT ${rtt} · encode ${v.encodeMs.toFixed(1)} ms · ` +
    `draw ${v.drawMs.toFixed(1)} ms · ${canvas.width}×${canvas.height}`;
  if (canvas.dataset.size !== `${canvas.width}x${canvas.height}`) {
    canvas.dataset.size = `${canvas.width}x${canvas.height}`;
    layout();
  }
}

// Tells the gateway the window's size once the user stops resizing, for
// desktops that can follow it (the others are scaled).
let sizeTimer: ReturnType<typeof setTimeout> | undefined;
function requestSizeSoon(): void {
  clearTimeout(sizeTimer);
  sizeTimer = setTimeout(() => {
    const ratio = window.devicePixelRatio || 1;
    client.send(P.requestSize(Math.round(stage.clientWidth * ratio), Math.round(stage.clientHeight * ratio)));
  }, 400);
}

async function sessionAction(method: string, path: string, after: string): Promise<void> {
  try {
    await api(method, path);
    client.stop(after, method !== 'DELETE');
  } catch (e) {
    el('notice-text').textContent = e instanceof Error ? e.message : String(e);
    el('notice').hidden = false;
  }
}

function wireToolbar(): void {
  const path = `/api/v1/sessions/${encodeURIComponent(sessionId)}`;
  el('cad').onclick = () => {
    client.send(P.ctrlAltDel());
    canvas.focus();
  };
  el('scale').onclick = () => {
    fit = !fit;
    layout();
  };
  el('fullscreen').onclick = async () => {
    if (document.fullscreenElement) return void document.exitFullscreen();
    await document.documentElement.requestFullscreen().catch(() => {});
    // In full screen, keys such as Escape and Alt+Tab can go to the desktop.
    await (navigator as { keyboard?: { lock?: () => Promise<void> } }).keyboard?.lock?.().catch(() => {});
  };
  el('stats-toggle').onclick = () => {
    const o = el('overlay');
    o.hidden = !o.hidden;
    el('stats-toggle').setAttribute('aria-pressed', String(!o.hidden));
  };
  el('clipboard-toggle').onclick = () => {
    const panel = el('clipboard-panel');
    panel.hidden = !panel.hidden;
    el('clipboard-toggle').setAttribute('aria-expanded', String(!panel.hidden));
  };
  el('clip-send').onclick = () => {
    client.send(P.clipboardMessage(el<HTMLTextAreaElement>('clip').value));
    canvas.focus();
  };
  el('disconnect').onclick = () => sessionAction('POST', `${path}/actions/disconnect`, 'You disconnected. The desktop keeps running.');
  el('logoff').onclick = () => {
    if (confirm('Log off? Unsaved work on a pooled desktop is lost.')) void sessionAction('DELETE', path, 'You logged off.');
  };
  el('notice-reconnect').onclick = () => client.reconnect();
  el('refresh').onclick = () => client.send(P.refresh());
}

if (!sessionId) {
  showState('closed', 'No session was given. Open your desktop from the portal.');
} else {
  wireToolbar();
  input.attach();
  new ResizeObserver(() => {
    layout();
    requestSizeSoon();
  }).observe(stage);
  document.addEventListener('fullscreenchange', layout);
  setInterval(updateOverlay, 500);
  client.start();
}

declare global {
  interface Window {
    orielClient: Record<string, unknown>;
  }
}
Object.defineProperty(window, 'orielClient', {
  get: () => ({ state: client.state, message: client.message, version: client.version, closeCode: client.closeCode,
                width: canvas.width, height: canvas.height, ...client.view() }),
});
