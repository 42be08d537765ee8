// Sends an image file to orield in chunks (docs/api.md, "Uploads"): each
// chunk is PUT at the offset the upload has reached; after a lost reply, a
// 409 or a restart the client asks the server where it stands and goes on
// from there, so an upload survives a network blip, a page reload (choose the
// same file again) and an orield restart. The planning is pure and tested.
import { ApiError, type Image, type Upload, api, apiBytes } from '../api';
import { Backoff } from '../display/reconnect';

// The server's request body limit is 1 MiB.
export const CHUNK_BYTES = 1024 * 1024;

export function nextChunk(size: number, received: number, chunk = CHUNK_BYTES): { offset: number; length: number } | null {
  if (received >= size) return null;
  return { offset: received, length: Math.min(chunk, size - received) };
}

export function chunkCount(size: number, chunk = CHUNK_BYTES): number {
  return Math.ceil(size / chunk);
}

// The format a file's name suggests (QEMU's names: a VHD is "vpc").
export function formatFromFileName(name: string): 'vpc' | 'vhdx' | 'qcow2' | 'raw' | 'auto' {
  const ext = name.toLowerCase().split('.').pop() ?? '';
  if (ext === 'vhd') return 'vpc';
  if (ext === 'vhdx') return 'vhdx';
  if (ext === 'qcow2') return 'qcow2';
  if (ext === 'img' || ext === 'raw') return 'raw';
  return 'auto';
}

// "Windows 11.vhdx" → "Windows 11".
export function imageNameFromFile(name: string): string {
  const dot = name.lastIndexOf('.');
  const base = dot > 0 ? name.slice(0, dot) : name;
  return base.slice(0, 200) || 'image';
}

// Bytes per second over the last few seconds, and the time left at that rate.
export class RateMeter {
  private samples: Array<[number, number]> = [];
  constructor(private readonly windowMs = 5000) {}
  add(bytes: number, now: number): void {
    this.samples.push([now, bytes]);
    while (this.samples.length > 1 && this.samples[0][0] < now - this.windowMs) this.samples.shift();
  }
  rate(now: number): number {
    const live = this.samples.filter(([t]) => t >= now - this.windowMs);
    if (live.length < 2) return 0;
    const span = (now - live[0][0]) / 1000;
    const bytes = live.slice(1).reduce((s, [, b]) => s + b, 0);
    return span > 0 ? bytes / span : 0;
  }
  // Seconds left, or null while the rate is unknown.
  eta(remaining: number, now: number): number | null {
    const r = this.rate(now);
    return r > 0 ? remaining / r : null;
  }
}

export type UploadStatus = 'uploading' | 'paused' | 'finishing' | 'done' | 'failed' | 'cancelled';

const MAX_TRIES = 6;  // transient failures in a row before the upload pauses itself

// One file on its way. `onChange` is called after every chunk and change of status.
export class Uploader {
  status: UploadStatus = 'paused';
  received: number;
  error = '';
  image: Image | null = null;
  readonly meter = new RateMeter();
  private running = false;
  private readonly backoff = new Backoff();

  constructor(readonly file: File, public upload: Upload, private readonly onChange: (u: Uploader) => void) {
    this.received = upload.received;
  }

  get id(): string {
    return this.upload.id;
  }

  start(): void {
    if (this.running || this.status === 'done' || this.status === 'cancelled') return;
    this.status = 'uploading';
    this.error = '';
    this.changed();
    void this.run();
  }

  pause(): void {
    if (this.status === 'uploading') this.status = 'paused';
    this.changed();
  }

  async cancel(): Promise<void> {
    this.status = 'cancelled';
    this.changed();
    await api('DELETE', `/api/v1/uploads/${encodeURIComponent(this.id)}`);
  }

  private changed(): void {
    this.onChange(this);
  }

  private async run(): Promise<void> {
    this.running = true;
    let failures = 0;
    try {
      while (this.status === 'uploading') {
        const chunk = nextChunk(this.upload.size, this.received);
        if (!chunk) return await this.finish();
        try {
          await this.send(chunk.offset, chunk.length);
          failures = 0;
          this.backoff.reset();
        } catch (e) {
          if (!(await this.recover(e, ++failures))) return;
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async send(offset: number, length: number): Promise<void> {
    const body = await this.file.slice(offset, offset + length).arrayBuffer();
    const blob = await apiBytes('PUT', `/api/v1/uploads/${encodeURIComponent(this.id)}?offset=${offset}`, body,
                                'application/octet-stream');
    this.upload = JSON.parse(await blob.text()) as Upload;
    this.received = this.upload.received;
    this.meter.add(length, performance.now());
    this.changed();
  }

  // After a failed chunk: learn where the server stands (409, or a reply that
  // was lost) and go on, wait and retry a passing failure, or stop with the
  // server's reason. Returns whether to continue.
  private async recover(e: unknown, failures: number): Promise<boolean> {
    const status = e instanceof ApiError ? e.status : 0;
    const passing = status === 0 || status === 409 || status >= 500;
    if (!passing || failures >= MAX_TRIES) {
      this.status = passing ? 'paused' : 'failed';
      this.error = e instanceof Error ? e.message : String(e);
      if (passing) this.error += ' Resume to try again.';
      this.changed();
      return false;
    }
    if (status !== 409) await new Promise((r) => setTimeout(r, this.backoff.next()));
    try {
      this.upload = await api<Upload>('GET', `/api/v1/uploads/${encodeURIComponent(this.id)}`);
      this.received = this.upload.received;
    } catch (again) {
      if (again instanceof ApiError && again.status === 404) {
        this.status = 'failed';
        this.error = 'The upload is gone from the server (cancelled, or unused for too long).';
        this.changed();
        return false;
      }
    }
    return this.status === 'uploading';
  }

  private async finish(): Promise<void> {
    this.status = 'finishing';
    this.changed();
    try {
      this.image = await api<Image>('POST', `/api/v1/uploads/${encodeURIComponent(this.id)}/actions/finish`);
      this.status = 'done';
    } catch (e) {
      this.status = 'failed';
      this.error = e instanceof Error ? e.message : String(e);
    }
    this.changed();
  }
}
