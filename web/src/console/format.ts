// How the console writes numbers, sizes, times and states. Pure functions
// (times are passed in), so they are tested under node.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

// 1536 → "1.5 KiB"; whole numbers of bytes below 1 KiB.
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '–';
  let v = bytes;
  let unit = 0;
  while (v >= 1024 && unit < UNITS.length - 1) {
    v /= 1024;
    unit++;
  }
  if (unit === 0) return `${v} B`;
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${UNITS[unit]}`;
}

export function formatMiB(mib: number): string {
  return formatBytes(mib * 1024 * 1024);
}

// A duration in words a person reads at a glance: "45 s", "12 min", "3 h 5 min", "2 d 4 h".
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

// "5 min ago" for a time before `now`, "in 5 min" after it.
export function formatAgo(iso: string | null | undefined, now: number): string {
  if (!iso) return '–';
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '–';
  const d = now - t;
  if (Math.abs(d) < 5000) return 'just now';
  return d > 0 ? `${formatDuration(d)} ago` : `in ${formatDuration(-d)}`;
}

// "2026-11-22 10:04:05" in the browser's time zone (the API speaks UTC).
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '–';
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return '–';
  const p = (n: number) => String(n).padStart(2, '0');
  return `${t.getFullYear()}-${p(t.getMonth() + 1)}-${p(t.getDate())} ${p(t.getHours())}:${p(t.getMinutes())}:${p(t.getSeconds())}`;
}

export function formatHours(h: number): string {
  if (h === 0) return '0 h';
  if (h * 60 < 1) return '< 1 min';
  if (h < 0.1) return `${(h * 60).toFixed(0)} min`;
  return `${h >= 100 ? h.toFixed(0) : h.toFixed(1)} h`;
}

// A share as a whole percentage, clamped to 0–100 for bars (the label says the real figure).
export function percent(part: number, whole: number): number {
  if (!(whole > 0) || !Number.isFinite(part)) return 0;
  return Math.max(0, Math.min(100, Math.round((part / whole) * 100)));
}

// How a state reads at a glance: the colour of its badge.
export type Tone = 'ok' | 'busy' | 'warn' | 'bad' | 'idle';

const TONES: Record<string, Tone> = {
  ready: 'ok', running: 'ok', connected: 'ok', active: 'ok',
  importing: 'busy', uploading: 'busy', provisioning: 'busy', starting: 'busy', stopping: 'busy', migrating: 'busy',
  connecting: 'busy', deleting: 'busy',
  maintenance: 'warn', disconnected: 'warn', paused: 'warn',
  failed: 'bad', down: 'bad', error: 'bad',
  stopped: 'idle', ended: 'idle',
};

export function stateTone(state: string): Tone {
  return TONES[state] ?? 'idle';
}

// VHD is "vpc" to QEMU; people know it as VHD.
export function formatName(format: string | null | undefined): string {
  switch (format) {
    case 'vpc': return 'VHD';
    case 'vhdx': return 'VHDX';
    case 'qcow2': return 'qcow2';
    case 'raw': return 'raw';
    case 'auto': return 'detect';
    default: return format ?? '–';
  }
}

// The day `days` away from `from` (YYYY-MM-DD, UTC), as the usage API counts days.
export function addDays(day: string, days: number): string {
  const t = Date.parse(`${day}T00:00:00Z`) + days * 86400000;
  return new Date(t).toISOString().slice(0, 10);
}

// Every day from `from` to `to`, both included (at most 366).
export function daysBetween(from: string, to: string): string[] {
  const out: string[] = [];
  for (let d = from; d <= to && out.length < 366; d = addDays(d, 1)) out.push(d);
  return out;
}

// "1 desktop", "3 desktops".
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
