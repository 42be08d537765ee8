// Small SVG charts for the usage page, drawn by hand (no library, no CDN):
// a stacked bar chart of hours per day and a horizontal bar chart of hours
// per pool. The arithmetic (scales, stacking, label spacing) is pure and
// tested under node; only the render functions touch the DOM.

export interface Scale {
  max: number;
  step: number;
  ticks: number[];
}

// A y axis from 0 that ends on a round number at or above `maxValue`, with
// about `target` steps of 1, 2, 2.5 or 5 × 10^k.
export function niceScale(maxValue: number, target = 4): Scale {
  const top = Number.isFinite(maxValue) && maxValue > 0 ? maxValue : 1;
  const raw = top / Math.max(1, target);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw - 1e-12) ?? 10 * magnitude;
  const max = Math.ceil(top / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step / 1e6; v += step) ticks.push(Number(v.toPrecision(12)));
  return { max: Number(max.toPrecision(12)), step, ticks };
}

// Every how many bars a label fits, so that labels `minSpacing` wide never overlap.
export function labelEvery(count: number, width: number, minSpacing: number): number {
  if (count <= 0) return 1;
  const fits = Math.max(1, Math.floor(width / minSpacing));
  return Math.max(1, Math.ceil(count / fits));
}

export interface Series {
  key: string;
  label: string;
  values: number[];  // one per day
}

export interface Row {
  day: string;
  key: string;
  value: number;
}

// Hours per day per key (a pool), the `maxSeries - 1` largest keys on their
// own and the rest summed as "Other", largest first.
export function stackByDay(rows: Row[], days: string[], labelOf: (key: string) => string, maxSeries = 6): Series[] {
  const index = new Map(days.map((d, i) => [d, i]));
  const totals = totalsByKey(rows);
  const own = totals.length <= maxSeries ? totals : totals.slice(0, maxSeries - 1);
  const ownKeys = new Set(own.map((t) => t.key));
  const series = own.map((t) => ({ key: t.key, label: labelOf(t.key), values: days.map(() => 0) }));
  const other: Series = { key: '', label: 'Other', values: days.map(() => 0) };
  for (const r of rows) {
    const i = index.get(r.day);
    if (i === undefined) continue;
    const s = ownKeys.has(r.key) ? series.find((x) => x.key === r.key) : other;
    if (s) s.values[i] += r.value;
  }
  if (other.values.some((v) => v > 0)) series.push(other);
  return series;
}

export function totalsByKey(rows: Row[]): Array<{ key: string; value: number }> {
  const sums = new Map<string, number>();
  for (const r of rows) sums.set(r.key, (sums.get(r.key) ?? 0) + r.value);
  return [...sums].map(([key, value]) => ({ key, value })).sort((a, b) => b.value - a.value || a.key.localeCompare(b.key));
}

// The tallest stack: what the y axis must reach.
export function stackMax(series: Series[]): number {
  if (!series.length) return 0;
  const n = series[0].values.length;
  let max = 0;
  for (let i = 0; i < n; i++) max = Math.max(max, series.reduce((sum, s) => sum + s.values[i], 0));
  return max;
}

// Hours are charted in minutes when even the largest value is under an hour,
// so that the axis reads "20 min", not "0.33 h".
export function chartUnit(maxHours: number): { factor: number; unit: string } {
  return maxHours > 0 && maxHours < 1 ? { factor: 60, unit: 'min' } : { factor: 1, unit: 'h' };
}

// An axis or bar value: at most two decimals, no trailing zeros.
export function formatValue(v: number, unit: string): string {
  return `${Number(v.toFixed(2))} ${unit}`;
}

// A label cut to `max` characters with an ellipsis (SVG text does not wrap).
export function clip(label: string, max: number): string {
  return label.length <= max ? label : `${label.slice(0, Math.max(1, max - 1))}…`;
}

export const PALETTE = ['#2a62d9', '#1d9a6c', '#d9822b', '#8e44ad', '#c0392b', '#7f8c8d', '#16a2b8', '#b7950b'];

// ------------------------------------------------------------------ render

const SVG = 'http://www.w3.org/2000/svg';

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function chartRoot(width: number, height: number, label: string): SVGSVGElement {
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label, class: 'chart' });
  root.append(svg('title', {}, label));
  return root;
}

// Bars per day, stacked by series; `format` writes the axis and tooltips.
// `width` is the space it gets on the page, so that its text is drawn at its own size.
export function stackedBarChart(days: string[], series: Series[], label: string, format: (v: number) => string, width = 720): SVGSVGElement {
  const W = Math.max(280, width), H = 260, left = 64, right = 12, top = 12, bottom = 34;
  const plotW = W - left - right, plotH = H - top - bottom;
  const root = chartRoot(W, H, label);
  const scale = niceScale(stackMax(series));
  const y = (v: number) => top + plotH - (v / scale.max) * plotH;
  for (const t of scale.ticks) {
    root.append(svg('line', { x1: left, x2: W - right, y1: y(t), y2: y(t), class: 'grid' }));
    root.append(svg('text', { x: left - 6, y: y(t) + 4, 'text-anchor': 'end', class: 'axis' }, format(t)));
  }
  const slot = plotW / Math.max(1, days.length);
  const barW = Math.max(2, Math.min(40, slot * 0.7));
  const every = labelEvery(days.length, plotW, 58);
  days.forEach((day, i) => {
    const x = left + i * slot + (slot - barW) / 2;
    let base = 0;
    series.forEach((s, si) => {
      const v = s.values[i];
      if (v <= 0) return;
      const rect = svg('rect', { x, y: y(base + v), width: barW, height: Math.max(0.5, y(base) - y(base + v)), fill: PALETTE[si % PALETTE.length] });
      rect.append(svg('title', {}, `${day} · ${s.label}: ${format(v)}`));
      root.append(rect);
      base += v;
    });
    if (i % every === 0) root.append(svg('text', { x: left + i * slot + slot / 2, y: H - 12, 'text-anchor': 'middle', class: 'axis' }, day.slice(5)));
  });
  root.append(svg('line', { x1: left, x2: W - right, y1: top + plotH, y2: top + plotH, class: 'baseline' }));
  return root;
}

// One horizontal bar per item, largest first, with its value at its end.
export function horizontalBarChart(items: Array<{ label: string; value: number }>, label: string, format: (v: number) => string, width = 720): SVGSVGElement {
  const W = Math.max(280, width), rowH = 30, left = Math.min(180, Math.round(W * 0.35)), right = 80, top = 8;
  const H = top * 2 + Math.max(1, items.length) * rowH;
  const root = chartRoot(W, H, label);
  const scale = niceScale(Math.max(0, ...items.map((i) => i.value)));
  const plotW = W - left - right;
  items.forEach((item, i) => {
    const yMid = top + i * rowH + rowH / 2;
    root.append(svg('text', { x: left - 8, y: yMid + 4, 'text-anchor': 'end', class: 'axis' }, clip(item.label, Math.floor(left / 8))));
    const w = Math.max(item.value > 0 ? 2 : 0, (item.value / scale.max) * plotW);
    const rect = svg('rect', { x: left, y: yMid - 9, width: w, height: 18, rx: 3, fill: PALETTE[i % PALETTE.length] });
    rect.append(svg('title', {}, `${item.label}: ${format(item.value)}`));
    root.append(rect, svg('text', { x: left + w + 6, y: yMid + 4, class: 'value' }, format(item.value)));
  });
  return root;
}

// A one-line stacked bar of counts (desktops by state), with its parts titled.
export function countBar(parts: Array<{ label: string; value: number; color: string }>, label: string): SVGSVGElement {
  const W = 600, H = 22;
  const root = chartRoot(W, H, label);
  root.setAttribute('preserveAspectRatio', 'none');
  const total = parts.reduce((s, p) => s + p.value, 0);
  let x = 0;
  if (!total) root.append(svg('rect', { x: 0, y: 0, width: W, height: H, rx: 4, class: 'empty-bar' }));
  for (const p of parts) {
    if (!p.value) continue;
    const w = (p.value / total) * W;
    const rect = svg('rect', { x, y: 0, width: w, height: H, fill: p.color });
    rect.append(svg('title', {}, `${p.label}: ${p.value}`));
    root.append(rect);
    x += w;
  }
  return root;
}
