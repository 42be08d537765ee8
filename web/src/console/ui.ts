// The console's building blocks: elements, badges, bars, tables that update
// in place (a row is rebuilt only when its object changed, and keeps the
// keyboard focus when it is), the message line every action reports to, and
// dialogs. No framework: the DOM, a little structure around it.
import { ApiError } from '../api';
import { type Tone, stateTone } from './format';

type Props<K extends keyof HTMLElementTagNameMap> = Partial<Omit<HTMLElementTagNameMap[K], 'dataset' | 'style'>> & {
  dataset?: Record<string, string>;
  attrs?: Record<string, string>;
};

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props<K> = {},
                                                         ...children: Array<Node | string | null | undefined | false>): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  const { dataset, attrs, ...rest } = props;
  Object.assign(e, rest);
  if (dataset) Object.assign(e.dataset, dataset);
  for (const [k, v] of Object.entries(attrs ?? {})) e.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

export function el<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page has no #${id}`);
  return e as T;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// A state as a coloured label; a long one (a pool's message) may wrap, a short one never does.
export function badge(state: string, label = state, tone: Tone = stateTone(state)): HTMLElement {
  return h('span', { className: `badge tone-${tone}${label.length > 24 ? ' long' : ''}` }, label);
}

// A bar with its figure beside it; `value` is 0–100, `text` says the real figures.
export function meter(value: number, text: string, label: string, tone: Tone = value > 90 ? 'warn' : 'ok'): HTMLElement {
  const fill = h('span', { className: `fill tone-${tone}` });
  fill.style.width = `${Math.max(0, Math.min(100, value))}%`;
  return h('div', { className: 'meter' },
           h('span', { className: 'track', attrs: { role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100',
                                                    'aria-valuenow': String(Math.round(value)), 'aria-label': label } }, fill),
           h('span', { className: 'meter-text' }, text));
}

export function button(text: string, onclick: (b: HTMLButtonElement) => void, opts: { kind?: string; label?: string; title?: string } = {}): HTMLButtonElement {
  const b = h('button', { type: 'button', className: opts.kind ?? '', title: opts.title ?? '' }, text);
  b.dataset.focus = text;
  if (opts.label) b.setAttribute('aria-label', opts.label);
  b.onclick = () => onclick(b);
  return b;
}

export function link(text: string, href: string): HTMLAnchorElement {
  return h('a', { href }, text);
}

// ------------------------------------------------------------- messages

let flashTimer: ReturnType<typeof setTimeout> | undefined;

// The one line every action reports to: its result, or the API's error text.
export function notify(kind: 'ok' | 'error' | 'info', text: string): void {
  const m = el('flash');
  clearTimeout(flashTimer);
  m.className = `flash ${kind}`;
  m.replaceChildren(h('span', { className: 'flash-text' }, text),
                    button('Dismiss', () => notify('info', ''), { kind: 'quiet', label: 'Dismiss this message' }));
  m.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  m.hidden = !text;
  if (kind === 'ok') flashTimer = setTimeout(() => { m.hidden = true; }, 10000);
}

// Runs an action from a button: disabled meanwhile, the result or the error reported.
export async function act<T>(b: HTMLButtonElement | null, what: string, run: () => Promise<T>,
                             done: (result: T) => string): Promise<T | undefined> {
  if (b) b.disabled = true;
  notify('info', `${what}…`);
  try {
    const result = await run();
    notify('ok', done(result));
    return result;
  } catch (e) {
    notify('error', `${what} failed: ${errorText(e)}`);
    if (e instanceof ApiError && e.status === 401) window.dispatchEvent(new Event('oriel-signed-out'));
    return undefined;
  } finally {
    if (b) b.disabled = false;
  }
}

// ---------------------------------------------------------------- tables

// Added to every row's signature: rows show names looked up by id, so when a
// name arrives or changes, every row is drawn again.
let salt: () => string = () => '';
export function setSignatureSalt(fn: () => string): void {
  salt = fn;
}

export interface Column<T> {
  label: string;
  cell: (item: T) => Node | string;
  className?: string;
}

// A table whose rows are keyed by object: update() rebuilds only the rows
// whose object changed, so the focus and scroll position stay put while the
// lists change underneath.
export class DataTable<T> {
  readonly element: HTMLElement;
  private readonly body: HTMLTableSectionElement;
  private readonly table: HTMLTableElement;
  private readonly empty: HTMLElement;
  private readonly rows = new Map<string, { sig: string; tr: HTMLTableRowElement }>();

  constructor(private readonly columns: Array<Column<T>>, private readonly key: (item: T) => string,
              label: string, emptyText: string, private readonly signature: (item: T) => string = (i) => JSON.stringify(i)) {
    this.body = h('tbody');
    const head = h('tr', {}, ...columns.map((c) => h('th', { scope: 'col', className: c.className ?? '' }, c.label)));
    this.empty = h('p', { className: 'empty' }, emptyText);
    this.table = h('table', { className: 'data', attrs: { 'aria-label': label } }, h('thead', {}, head), this.body);
    this.element = h('div', { className: 'table-wrap' }, this.table, this.empty);
  }

  update(items: T[]): void {
    const focused = document.activeElement as HTMLElement | null;
    const focusRow = focused?.closest('tr');
    const focusKey = focused?.dataset.focus;
    const seen = new Set<string>();
    let before: ChildNode | null = this.body.firstChild;
    for (const item of items) {
      const key = this.key(item);
      seen.add(key);
      const sig = this.signature(item) + salt();
      let row = this.rows.get(key);
      if (!row || row.sig !== sig) {
        const tr = this.render(item, key);
        if (row) {
          if (before === row.tr) before = tr;
          row.tr.replaceWith(tr);
          if (focusRow === row.tr && focusKey) (tr.querySelector(`[data-focus="${CSS.escape(focusKey)}"]`) as HTMLElement | null)?.focus();
        }
        row = { sig, tr };
        this.rows.set(key, row);
      }
      if (row.tr !== before) this.body.insertBefore(row.tr, before);
      before = row.tr.nextSibling;
    }
    for (const [key, row] of this.rows) {
      if (!seen.has(key)) {
        row.tr.remove();
        this.rows.delete(key);
      }
    }
    this.empty.hidden = items.length > 0;
    this.table.hidden = items.length === 0;
  }

  private render(item: T, key: string): HTMLTableRowElement {
    // An empty cell stays empty (no text node), so a narrow screen can leave it out.
    return h('tr', { dataset: { key } }, ...this.columns.map((c) => h('td', { className: c.className ?? '', dataset: { label: c.label } }, c.cell(item) || null)));
  }
}

// Elements keyed by object in a container (cards), updated like DataTable's rows.
export class KeyedList<T> {
  private readonly items = new Map<string, { sig: string; node: HTMLElement }>();

  constructor(readonly element: HTMLElement, private readonly key: (item: T) => string,
              private readonly render: (item: T) => HTMLElement, private readonly signature: (item: T) => string = (i) => JSON.stringify(i)) {}

  update(list: T[]): void {
    const focused = document.activeElement as HTMLElement | null;
    const seen = new Set<string>();
    let before: ChildNode | null = this.element.firstChild;
    for (const item of list) {
      const key = this.key(item);
      seen.add(key);
      const sig = this.signature(item) + salt();
      let entry = this.items.get(key);
      if (!entry || entry.sig !== sig) {
        const node = this.render(item);
        if (entry) {
          const focusKey = focused && entry.node.contains(focused) ? focused.dataset.focus : undefined;
          if (before === entry.node) before = node;
          entry.node.replaceWith(node);
          if (focusKey) (node.querySelector(`[data-focus="${CSS.escape(focusKey)}"]`) as HTMLElement | null)?.focus();
        }
        entry = { sig, node };
        this.items.set(key, entry);
      }
      if (entry.node !== before) this.element.insertBefore(entry.node, before);
      before = entry.node.nextSibling;
    }
    for (const [key, entry] of this.items) {
      if (!seen.has(key)) {
        entry.node.remove();
        this.items.delete(key);
      }
    }
  }
}

// --------------------------------------------------------------- dialogs

// A modal dialog (native <dialog>: focus stays inside, Escape closes it).
export function openDialog(title: string, body: Node[], actions: HTMLElement[], wide = false): HTMLDialogElement {
  const d = h('dialog', { className: wide ? 'wide' : '' },
              h('header', {}, h('h2', {}, title), button('Close', () => d.close(), { kind: 'quiet', label: 'Close this dialog' })),
              h('div', { className: 'dialog-body' }, ...body),
              h('footer', {}, ...actions));
  d.addEventListener('close', () => d.remove());
  document.body.append(d);
  d.showModal();
  return d;
}

export function confirmDialog(title: string, text: string, confirmLabel: string): Promise<boolean> {
  return new Promise((resolve) => {
    let answer = false;
    const yes = button(confirmLabel, () => {
      answer = true;
      d.close();
    }, { kind: 'danger-solid' });
    const d = openDialog(title, [h('p', {}, text)], [button('Cancel', () => d.close()), yes]);
    d.addEventListener('close', () => resolve(answer));
    yes.focus();
  });
}

// A form in a dialog. `submit` gets the form's values; its error keeps the
// dialog open and shows the API's text; what it returns is reported.
export function formDialog(title: string, fields: HTMLElement[], submitLabel: string,
                           submit: (form: HTMLFormElement) => Promise<string>): HTMLDialogElement {
  const error = h('p', { className: 'error', attrs: { role: 'alert' } });
  const ok = h('button', { type: 'submit', className: 'primary' }, submitLabel);
  const form = h('form', { className: 'form', noValidate: true }, ...fields, error);
  const d = openDialog(title, [form], [button('Cancel', () => d.close()), ok]);
  ok.setAttribute('form', form.id = `form-${Math.random().toString(36).slice(2)}`);
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    ok.disabled = true;
    error.textContent = '';
    try {
      notify('ok', await submit(form));
      d.close();
    } catch (e) {
      error.textContent = errorText(e);
    } finally {
      ok.disabled = false;
    }
  };
  (form.querySelector('input, select, textarea') as HTMLElement | null)?.focus();
  return d;
}

let fieldCount = 0;

// A labelled control; `name` is what the form reads.
export function field(label: string, control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint = ''): HTMLElement {
  control.id ||= `f${++fieldCount}`;
  const parts: Node[] = [h('label', { htmlFor: control.id }, label), control];
  if (hint) {
    const p = h('p', { className: 'hint', id: `${control.id}-hint` }, hint);
    control.setAttribute('aria-describedby', p.id);
    parts.push(p);
  }
  return h('div', { className: 'field' }, ...parts);
}

export function input(name: string, value = '', attrs: Record<string, string> = {}): HTMLInputElement {
  return h('input', { name, value, attrs });
}

export function select(name: string, options: Array<[string, string]>, value = ''): HTMLSelectElement {
  return setOptions(h('select', { name }), options, value);
}

// Replaces a select's choices, keeping its value when it is still one of them.
export function setOptions(s: HTMLSelectElement, options: Array<[string, string]>, value = s.value): HTMLSelectElement {
  s.replaceChildren(...options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)));
  return s;
}

export function value(form: HTMLFormElement, name: string): string {
  const c = form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement | null;
  return c ? c.value.trim() : '';
}

// A whole number from a form field, or an error naming the field.
export function intValue(form: HTMLFormElement, name: string, label: string, min: number, max: number): number {
  return wholeNumber(value(form, name), label, min, max);
}

export function wholeNumber(text: string, label: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^-?\d+$/.test(text) || n < min || n > max) throw new Error(`${label} must be a whole number from ${min} to ${max}.`);
  return n;
}

export function section(title: string, ...children: Array<Node | null | false>): HTMLElement {
  return h('section', { className: 'panel-section' }, h('h2', {}, title), ...children);
}
