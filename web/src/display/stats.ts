// The figures of the client's overlay: frames drawn per second, bytes
// received per second and the round-trip time, each over a sliding window
// of the last second (RTT: the newest Ping's answer and the median of the
// last ten). Time comes from the caller, so tests are exact.

export interface StatsView {
  fps: number;
  bytesPerSecond: number;
  rttMs: number | null;
  rttMedianMs: number | null;
  encodeMs: number;
  drawMs: number;
  frames: number;
}

export class Stats {
  private readonly frameTimes: number[] = [];
  private readonly byteEvents: Array<[number, number]> = [];
  private readonly rtts: number[] = [];
  private readonly pings = new Map<number, number>();
  private nextToken = 1;
  frames = 0;
  encodeMs = 0;
  drawMs = 0;

  constructor(private readonly windowMs = 1000) {}

  received(bytes: number, now: number): void {
    this.byteEvents.push([now, bytes]);
    this.trim(now);
  }

  drawn(now: number, encodeUs: number, drawMs: number): void {
    this.frames++;
    this.frameTimes.push(now);
    this.encodeMs = encodeUs / 1000;
    this.drawMs = drawMs;
    this.trim(now);
  }

  // A token for the next Ping, remembered with its time.
  ping(now: number): number {
    const token = this.nextToken++ >>> 0;
    this.pings.set(token, now);
    if (this.pings.size > 20) this.pings.delete(this.pings.keys().next().value as number);
    return token;
  }

  pong(token: number, now: number): void {
    const sent = this.pings.get(token);
    if (sent === undefined) return;
    this.pings.delete(token);
    this.rtts.push(now - sent);
    if (this.rtts.length > 10) this.rtts.shift();
  }

  view(now: number): StatsView {
    this.trim(now);
    const bytes = this.byteEvents.reduce((sum, [, b]) => sum + b, 0);
    const sorted = [...this.rtts].sort((a, b) => a - b);
    return {
      fps: this.frameTimes.length * (1000 / this.windowMs),
      bytesPerSecond: bytes * (1000 / this.windowMs),
      rttMs: this.rtts.length ? this.rtts[this.rtts.length - 1] : null,
      rttMedianMs: sorted.length ? sorted[Math.floor(sorted.length / 2)] : null,
      encodeMs: this.encodeMs,
      drawMs: this.drawMs,
      frames: this.frames,
    };
  }

  private trim(now: number): void {
    const from = now - this.windowMs;
    while (this.frameTimes.length && this.frameTimes[0] <= from) this.frameTimes.shift();
    while (this.byteEvents.length && this.byteEvents[0][0] <= from) this.byteEvents.shift();
  }
}

export function formatRate(bytesPerSecond: number): string {
  if (bytesPerSecond >= 1e6) return `${(bytesPerSecond / 1e6).toFixed(1)} MB/s`;
  if (bytesPerSecond >= 1e3) return `${(bytesPerSecond / 1e3).toFixed(0)} kB/s`;
  return `${bytesPerSecond.toFixed(0)} B/s`;
}
