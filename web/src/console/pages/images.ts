// Golden images (administrators): import a file that is on the server, or
// upload one from this computer in resumable chunks (VHD, VHDX, qcow2, raw),
// follow the import's progress live, see an image's details, share a
// platform image with every tenant or take it back, delete it.
import { type Boot, type Image, type Upload, api } from '../../api';
import { type PageContext, type PageDef, app, images, pools, tenants } from '../app';
import { formatBytes, formatDuration, formatName, formatTime, percent } from '../format';
import { OWNER_DEFAULT, ownerChoices, ownerFields, ownerText } from '../owner';
import { Uploader, formatFromFileName, imageNameFromFile } from '../upload';
import { DataTable, act, badge, button, confirmDialog, field, formDialog, h, input, meter, notify, openDialog, select, value } from '../ui';

// Live across page changes: an upload goes on while the administrator looks elsewhere.
const uploaders = new Map<string, Uploader>();
const watched = new Set<string>();  // images imported from here, shown until dismissed
const dismissed = new Set<string>();
let rerender: (() => void) | null = null;

// Signed out: uploads stop (they can resume later from the same file) and the list empties.
window.addEventListener('oriel-reset', () => {
  for (const u of uploaders.values()) u.pause();
  uploaders.clear();
  watched.clear();
  dismissed.clear();
});

const FORMATS: Array<[string, string]> = [['auto', 'Detect from the file'], ['vpc', 'VHD'], ['vhdx', 'VHDX'], ['qcow2', 'qcow2'], ['raw', 'raw']];

function bootFields(): HTMLElement {
  const kind = select('boot', [['bios', 'BIOS'], ['uefi', 'UEFI (OVMF)'], ['kernel', 'Linux kernel on the server']]);
  const kernel = h('div', { className: 'sub-fields' },
                   field('Kernel path', input('kernel', '', { placeholder: '/srv/images/vmlinuz' }), 'On the server, under one of its import directories.'),
                   field('Initrd path', input('initrd', '', { placeholder: 'optional' })),
                   field('Kernel command line', input('cmdline', '', { placeholder: 'optional' })));
  kernel.hidden = true;
  kind.onchange = () => { kernel.hidden = kind.value !== 'kernel'; };
  return h('div', {}, field('Boot', kind), kernel);
}

function ownerField(): HTMLElement {
  return field('Owner', select('owner', ownerChoices(tenants()), OWNER_DEFAULT),
               'Shared: every tenant may build pools on it. Platform only: no tenant, until you share it. A tenant: that tenant alone.');
}

export function bootFrom(form: HTMLFormElement): Boot | undefined {
  const kind = value(form, 'boot');
  if (kind === 'uefi') return { firmware: 'uefi' };
  if (kind !== 'kernel') return undefined;
  if (!value(form, 'kernel')) throw new Error('Give the path of the kernel on the server.');
  const boot: Boot = { kernel: value(form, 'kernel') };
  if (value(form, 'initrd')) boot.initrd = value(form, 'initrd');
  if (value(form, 'cmdline')) boot.cmdline = value(form, 'cmdline');
  return boot;
}

function watch(image: Image): void {
  watched.add(image.id);
  app.store.upsert('images', image);
}

function importDialog(): void {
  formDialog('Import an image from the server', [
    field('Name', input('name', '', { required: '', autocomplete: 'off' })),
    field('Path on the server', input('source_path', '', { required: '', placeholder: '/srv/images/win11.vhdx', spellcheck: 'false' }),
          "A file under one of the server's import directories (orield --import-dir); elsewhere the server refuses it. " +
          'It is converted to a read-only qcow2 golden image; the file itself is left alone.'),
    field('Format', select('format', FORMATS)),
    ownerField(),
    bootFields(),
  ], 'Import', async (form) => {
    const body: Record<string, unknown> = { name: value(form, 'name'), source_path: value(form, 'source_path'), format: value(form, 'format'),
                                            ...ownerFields(value(form, 'owner')) };
    const boot = bootFrom(form);
    if (boot) body.boot = boot;
    const image = await api<Image>('POST', '/api/v1/images', body);
    watch(image);
    return `Importing ${image.name}: follow its progress under Transfers.`;
  });
}

function startUploader(file: File, upload: Upload): void {
  const u = new Uploader(file, upload, (changed) => {
    if (changed.status === 'done' && changed.image) {
      watch(changed.image);
      uploaders.delete(changed.id);
      // What the event stream will say in a moment, so the row never looks stopped.
      app.store.upsert('uploads', { ...changed.upload, state: 'importing', image_id: changed.image.id });
      notify('ok', `${file.name} is uploaded; importing it as ${changed.image.name}.`);
    }
    if (changed.status === 'failed') notify('error', `Uploading ${file.name} failed: ${changed.error}`);
    rerender?.();
  });
  uploaders.set(upload.id, u);
  u.start();
}

function uploadDialog(): void {
  const file = h('input', { type: 'file', name: 'file', accept: '.vhd,.vhdx,.qcow2,.img,.raw' });
  const name = input('name', '', { autocomplete: 'off' });
  const format = select('format', FORMATS);
  file.onchange = () => {
    const f = file.files?.[0];
    if (!f) return;
    if (!name.value) name.value = imageNameFromFile(f.name);
    format.value = formatFromFileName(f.name);
  };
  formDialog('Upload an image from this computer', [
    field('File', file, 'VHD, VHDX, qcow2 or raw. Sent in 1 MiB chunks: if the connection drops, the upload goes on from where it stopped.'),
    field('Name', name), field('Format', format), ownerField(), bootFields(),
  ], 'Upload', async (form) => {
    const f = file.files?.[0];
    if (!f) throw new Error('Choose a file to upload.');
    if (!f.size) throw new Error(`${f.name} is empty.`);
    const body: Record<string, unknown> = { name: value(form, 'name') || imageNameFromFile(f.name), filename: f.name, size: f.size, format: value(form, 'format'),
                                            ...ownerFields(value(form, 'owner')) };
    const boot = bootFrom(form);
    if (boot) body.boot = boot;
    const upload = await api<Upload>('POST', '/api/v1/uploads', body);
    app.store.upsert('uploads', upload);
    startUploader(f, upload);
    return `Uploading ${f.name} (${formatBytes(f.size)}).`;
  });
}

// Resumes an upload this tab is not sending (another tab, before a reload, before an orield restart).
function resumeInput(upload: Upload): HTMLElement {
  const pick = h('input', { type: 'file', className: 'file-resume', attrs: { 'aria-label': `Choose ${upload.filename} again to resume its upload` } });
  pick.onchange = () => {
    const f = pick.files?.[0];
    if (!f) return;
    if (f.size !== upload.size) return notify('error', `${f.name} is ${formatBytes(f.size)}; this upload is ${upload.filename}, ${formatBytes(upload.size)}. Choose that file.`);
    notify('info', `Resuming ${upload.filename} at ${formatBytes(upload.received)}.`);
    startUploader(f, upload);
    rerender?.();
  };
  return h('label', { className: 'button-like' }, 'Resume: choose the file…', pick);
}

interface Transfer { key: string; name: string; percent: number; text: string; tone: 'ok' | 'busy' | 'bad' | 'warn'; actions: HTMLElement[] }

function uploadTransfer(up: Upload): Transfer {
  const local = uploaders.get(up.id);
  const received = local?.received ?? up.received;
  const base = { key: `upload-${up.id}`, name: up.filename || up.name, percent: percent(received, up.size) };
  const sizes = `${formatBytes(received)} of ${formatBytes(up.size)}`;
  if (!local) {
    return { ...base, tone: 'warn', text: `Stopped at ${sizes}. Choose the same file to go on.`,
             actions: [resumeInput(up), button('Cancel', (b) => void cancelUpload(b, up), { label: `Cancel the upload of ${up.filename}` })] };
  }
  const now = performance.now();
  const eta = local.meter.eta(up.size - received, now);
  const rate = local.meter.rate(now);
  const text = local.status === 'uploading' ? `Uploading ${sizes}${rate ? ` · ${formatBytes(rate)}/s` : ''}${eta !== null ? ` · ${formatDuration(eta * 1000)} left` : ''}`
    : local.status === 'finishing' ? 'Uploaded; starting the import…' : local.status === 'paused' ? `Paused at ${sizes}. ${local.error}` : `${local.status}: ${local.error}`;
  const actions = local.status === 'uploading' ? [button('Pause', () => { local.pause(); rerender?.(); }, { label: `Pause the upload of ${up.filename}` })]
    : local.status === 'paused' ? [button('Resume', () => local.start(), { label: `Resume the upload of ${up.filename}` })] : [];
  if (local.status !== 'finishing') actions.push(button('Cancel', (b) => void cancelUpload(b, up), { label: `Cancel the upload of ${up.filename}` }));
  return { ...base, text, tone: local.status === 'failed' ? 'bad' : local.status === 'paused' ? 'warn' : 'busy', actions };
}

async function cancelUpload(b: HTMLButtonElement, up: Upload): Promise<void> {
  if (!(await confirmDialog(`Cancel the upload of ${up.filename}?`, 'What has arrived on the server is deleted.', 'Cancel the upload'))) return;
  await act(b, `Cancelling ${up.filename}`, async () => {
    const local = uploaders.get(up.id);
    uploaders.delete(up.id);
    if (local) await local.cancel();
    else await api('DELETE', `/api/v1/uploads/${encodeURIComponent(up.id)}`);
    app.store.remove('uploads', up.id);
  }, () => `The upload of ${up.filename} is cancelled.`);
}

function importTransfer(image: Image): Transfer {
  const dismiss = button('Dismiss', () => { watched.delete(image.id); dismissed.add(image.id); rerender?.(); }, { label: `Dismiss the import of ${image.name}` });
  const base = { key: `import-${image.id}`, name: image.name, actions: image.state === 'importing' ? [] : [dismiss] };
  if (image.state === 'failed') return { ...base, percent: image.progress, tone: 'bad', text: `Failed: ${image.error ?? 'no reason given'}` };
  if (image.state === 'ready') return { ...base, percent: 100, tone: 'ok', text: `Ready: ${formatBytes(image.virtual_size_bytes)} disk, ${formatBytes(image.size_bytes)} stored` };
  return { ...base, percent: Math.floor(image.progress), tone: 'busy', text: `Importing: ${Math.floor(image.progress)} %` };
}

function transfers(): Transfer[] {
  const out: Transfer[] = [];
  for (const up of app.store.list<Upload>('uploads')) {
    if (up.state === 'uploading') out.push(uploadTransfer(up));
    else if (up.image_id && !dismissed.has(up.image_id)) watched.add(up.image_id);
  }
  for (const id of watched) {
    const image = app.store.get<Image>('images', id);
    if (image) out.push(importTransfer(image));
  }
  return out;
}

function details(image: Image): void {
  const used = pools().filter((p) => p.image_id === image.id);
  const row = (k: string, v: string | Node) => [h('dt', {}, k), h('dd', {}, v)];
  const boot = image.boot.kernel ? `Linux kernel ${image.boot.kernel}${image.boot.initrd ? `, initrd ${image.boot.initrd}` : ''}${image.boot.cmdline ? `, “${image.boot.cmdline}”` : ''}`
    : (image.boot.firmware ?? 'bios').toUpperCase();
  const d = openDialog(`Image ${image.name}`, [h('dl', { className: 'details' },
    ...row('Id', image.id), ...row('State', badge(image.state)), ...row('Owner', ownerText(image)),
    ...(image.source_path !== null ? row('Imported from', image.source_path) : []),
    ...row('Format', `${formatName(image.source_format)} (asked: ${formatName(image.format)})`),
    ...row('Disk size', formatBytes(image.virtual_size_bytes)), ...row('Stored', formatBytes(image.size_bytes)),
    ...row('Boot', boot), ...row('Used by pools', used.length ? used.map((p) => p.name).join(', ') : 'none'),
    ...row('Created', formatTime(image.created_at)), ...row('Updated', formatTime(image.updated_at)),
    ...(image.error ? row('Error', image.error) : []))], [button('Close', () => d.close())], true);
}

async function remove(b: HTMLButtonElement, image: Image): Promise<void> {
  if (!(await confirmDialog(`Delete image ${image.name}?`, 'The golden image is deleted. Pools and desktops that use it must go first.', 'Delete image'))) return;
  await act(b, `Deleting ${image.name}`, () => api('DELETE', `/api/v1/images/${encodeURIComponent(image.id)}`), () => {
    app.store.remove('images', image.id);
    watched.delete(image.id);
    return `Image ${image.name} is deleted.`;
  });
}

// A platform image: every tenant may use it once shared; unsharing is refused while a tenant's pool does.
async function share(b: HTMLButtonElement, image: Image): Promise<void> {
  const what = `${image.shared ? 'Unsharing' : 'Sharing'} ${image.name}`;
  await act(b, what, () => api<Image>('PATCH', `/api/v1/images/${encodeURIComponent(image.id)}`, { shared: !image.shared }), (changed) => {
    app.store.upsert('images', changed);
    return changed.shared ? `Image ${changed.name} is shared with every tenant.` : `Image ${changed.name} is the platform's only: no tenant may use it now.`;
  });
}

function actions(i: Image): HTMLElement {
  const verb = i.shared ? 'Unshare' : 'Share';
  return h('div', { className: 'row-actions' },
    button('Details', () => details(i), { label: `Details of ${i.name}` }),
    i.tenant_id ? null : button(verb, (b) => void share(b, i), { label: `${verb} ${i.name}`, title: i.shared ? 'Keep it to the platform' : 'Let every tenant use it' }),
    button('Delete', (b) => void remove(b, i), { kind: 'danger', label: `Delete ${i.name}` }));
}

function stateCell(i: Image): Node {
  if (i.state !== 'importing') return i.error ? h('span', {}, badge(i.state), ' ', h('span', { className: 'muted' }, i.error)) : badge(i.state);
  return meter(i.progress, `${Math.floor(i.progress)} %`, `Import of ${i.name}`);
}

export const imagesPage: PageDef = {
  id: 'images',
  title: 'Images',
  adminOnly: true,
  mount(ctx: PageContext) {
    const transferTable = new DataTable<Transfer>([
      { label: 'Transfer', cell: (t) => h('strong', {}, t.name) },
      { label: 'Progress', cell: (t) => meter(t.percent, t.text, `Progress of ${t.name}`, t.tone), className: 'wide' },
      { label: 'Actions', cell: (t) => h('div', { className: 'row-actions' }, ...t.actions) },
    ], (t) => t.key, 'Transfers', '');
    const table = new DataTable<Image>([
      { label: 'Name', cell: (i) => h('strong', {}, i.name) },
      { label: 'State', cell: stateCell, className: 'wide' },
      { label: 'Owner', cell: ownerText },
      { label: 'Format', cell: (i) => formatName(i.source_format ?? i.format) },
      { label: 'Disk size', cell: (i) => (i.virtual_size_bytes ? formatBytes(i.virtual_size_bytes) : '–'), className: 'num' },
      { label: 'Stored', cell: (i) => (i.size_bytes ? formatBytes(i.size_bytes) : '–'), className: 'num' },
      { label: 'Created', cell: (i) => formatTime(i.created_at) },
      { label: 'Actions', cell: actions },
    ], (i) => i.id, 'Images', 'No images yet: import one from the server or upload one.');
    const transferSection = h('section', { className: 'panel-section' }, h('h2', {}, 'Transfers'), transferTable.element);
    ctx.root.append(
      h('div', { className: 'page-actions' },
        button('Import from the server', () => importDialog(), { kind: 'primary' }),
        button('Upload a file', () => uploadDialog(), { kind: 'primary' })),
      transferSection, table.element);
    const update = () => {
      const list = transfers();
      transferSection.hidden = list.length === 0;
      transferTable.update(list);
      table.update(images());
    };
    rerender = update;
    update();
    return { update, leave: () => { rerender = null; } };
  },
};
