// The client's copy of the desktop's screen: a canvas the gateway's drawing
// messages are applied to, one whole frame at a time. Images are decoded
// with createImageBitmap, which Chromium and Firefox run off the main
// thread; a frame's images are decoded in parallel and the frame is drawn
// only when all are ready, so the user never sees half a frame.
import { CODEC_MIME, type ServerMessage, fitsScreen } from './protocol';

export type DrawOp = ServerMessage & { bitmap?: Promise<ImageBitmap> };

export class ScreenError extends Error {}

export class Screen {
  private readonly ctx: CanvasRenderingContext2D;

  constructor(readonly canvas: HTMLCanvasElement) {
    const ctx = canvas.getContext('2d', { alpha: false });
    if (!ctx) throw new ScreenError('this browser cannot draw on a canvas');
    this.ctx = ctx;
    this.ctx.imageSmoothingEnabled = false;
  }

  get width(): number {
    return this.canvas.width;
  }
  get height(): number {
    return this.canvas.height;
  }

  // Starts decoding an Image message's data at once, before its frame ends.
  static prepare(m: ServerMessage): DrawOp {
    if (m.type !== 'image') return m;
    const mime = CODEC_MIME[m.codec];
    if (!mime) return { ...m, bitmap: Promise.reject(new ScreenError(`unknown image codec ${m.codec}`)) };
    // A copy: the Blob must not keep the whole WebSocket message alive.
    const bitmap = createImageBitmap(new Blob([m.data.slice()], { type: mime }));
    bitmap.catch(() => {});  // reported when the frame is drawn
    return { ...m, bitmap };
  }

  // Draws one frame: waits for its images, then applies every message in
  // order within one task. Throws ScreenError on a message that does not
  // fit the screen or an image that does not decode to its stated size.
  async draw(ops: DrawOp[]): Promise<void> {
    const bitmaps = await Promise.all(ops.map((op) => op.bitmap ?? Promise.resolve(undefined)))
      .catch((e: unknown) => {
        throw new ScreenError(`an image of the frame does not decode (${String(e)})`);
      });
    try {
      ops.forEach((op, i) => this.apply(op, bitmaps[i]));
    } finally {
      for (const b of bitmaps) b?.close();
    }
  }

  private apply(op: DrawOp, bitmap: ImageBitmap | undefined): void {
    switch (op.type) {
      case 'hello':
      case 'resize':
        this.resize(op.width, op.height);
        return;
      case 'solid':
        this.check(op);
        this.ctx.fillStyle = `rgb(${op.r},${op.g},${op.b})`;
        this.ctx.fillRect(op.x, op.y, op.w, op.h);
        return;
      case 'copy':
        this.check(op);
        this.check({ x: op.srcX, y: op.srcY, w: op.w, h: op.h });
        // A canvas drawn onto itself is read as a snapshot first (HTML
        // drawImage), which is the overlap rule the protocol asks for.
        this.ctx.drawImage(this.canvas, op.srcX, op.srcY, op.w, op.h, op.x, op.y, op.w, op.h);
        return;
      case 'image':
        this.check(op);
        if (!bitmap || bitmap.width !== op.w || bitmap.height !== op.h) {
          throw new ScreenError(`an image of ${bitmap?.width}x${bitmap?.height} for a ${op.w}x${op.h} rectangle`);
        }
        this.ctx.drawImage(bitmap, op.x, op.y);
        return;
      case 'cursor':
        this.setCursor(op.w, op.h, op.hotX, op.hotY, op.rgba);
        return;
      default:
        return;  // not drawing: handled by the client
    }
  }

  private resize(width: number, height: number): void {
    if (this.canvas.width !== width) this.canvas.width = width;
    if (this.canvas.height !== height) this.canvas.height = height;
    this.ctx.imageSmoothingEnabled = false;
    this.ctx.fillStyle = '#000';
    this.ctx.fillRect(0, 0, width, height);
  }

  private check(r: { x: number; y: number; w: number; h: number }): void {
    if (!fitsScreen(r, this.width, this.height)) {
      throw new ScreenError(`a rectangle ${r.w}x${r.h} at ${r.x},${r.y} outside the ${this.width}x${this.height} screen`);
    }
  }

  // The desktop's pointer image as the canvas's CSS cursor, so the pointer
  // moves at the browser's speed, not the link's.
  private setCursor(w: number, h: number, hotX: number, hotY: number, rgba: Uint8Array): void {
    if (w === 0 || h === 0) {
      this.canvas.style.cursor = 'none';
      return;
    }
    const c = document.createElement('canvas');
    c.width = w;
    c.height = h;
    const ctx = c.getContext('2d');
    if (!ctx) return;
    ctx.putImageData(new ImageData(new Uint8ClampedArray(rgba), w, h), 0, 0);
    this.canvas.style.cursor = `url(${c.toDataURL()}) ${Math.min(hotX, w - 1)} ${Math.min(hotY, h - 1)}, default`;
  }
}
