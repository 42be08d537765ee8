// Users (of every tenant for an administrator, of their own for a
// tenant-admin) and tenants (administrators): create, unlock, set a
// password, delete; a tenant's usage against its quota, and the quota; how
// long its audit events are kept.
import { type Tenant, type User, api } from '../../api';
import { type PageContext, type PageDef, app, isAdmin, nameOf, options, pools, tenants, users } from '../app';
import { formatAgo, formatTime } from '../format';
import { QUOTA_KEYS, QUOTA_NOTE, quotaCell, quotaDialog, quotaLabel } from '../quota';
import { auditDialog, auditText } from '../retention';
import { DataTable, act, badge, button, confirmDialog, field, formDialog, h, input, select, value } from '../ui';

function newUserDialog(): void {
  const roles: Array<[string, string]> = [['user', 'User: uses desktops'], ['tenant-admin', 'Tenant admin: manages the tenant']];
  if (isAdmin()) roles.push(['admin', 'Administrator: manages everything']);
  const role = select('role', roles);
  const tenant = isAdmin() ? field('Tenant', select('tenant_id', options(tenants(), (t) => t.name))) : null;
  if (tenant) role.onchange = () => { tenant.hidden = role.value === 'admin'; };
  formDialog('New user', [
    field('User name', input('username', '', { required: '', autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false' })),
    field('Password', input('password', '', { type: 'password', autocomplete: 'new-password', required: '' }), 'At least 8 characters, and not a common password or a dictionary word.'),
    field('Role', role), ...(tenant ? [tenant] : []),
  ], 'Create user', async (form) => {
    const body: Record<string, string> = { username: value(form, 'username'), password: value(form, 'password'), role: value(form, 'role') };
    if (isAdmin() && body.role !== 'admin') body.tenant_id = value(form, 'tenant_id');
    const user = await api<User>('POST', '/api/v1/users', body);
    app.store.upsert('users', user);
    return `User ${user.username} is created.`;
  });
}

// Your own password needs the one you have now; the server checks it.
function passwordDialog(u: User): void {
  const own = u.id === app.me?.id;
  const current = own ? [field('Current password', input('current_password', '', { type: 'password', autocomplete: 'current-password', required: '' }))] : [];
  formDialog(`New password for ${u.username}`, [
    ...current,
    field('Password', input('password', '', { type: 'password', autocomplete: 'new-password', required: '' }),
          'At least 8 characters, and not a common password or a dictionary word.'),
  ], 'Set password', async (form) => {
    const body: Record<string, string> = { password: value(form, 'password') };
    if (own) body.current_password = value(form, 'current_password');
    await api<User>('PATCH', `/api/v1/users/${encodeURIComponent(u.id)}`, body);
    return own ? 'Your password is changed; your other sign-ins are signed out.' : `The password of ${u.username} is changed.`;
  });
}

async function unlock(b: HTMLButtonElement, u: User): Promise<void> {
  await act(b, `Unlocking ${u.username}`, () => api<User>('PATCH', `/api/v1/users/${encodeURIComponent(u.id)}`, { unlock: true }), (r) => {
    app.store.upsert('users', r);
    return `${u.username} may sign in again.`;
  });
}

async function deleteUser(b: HTMLButtonElement, u: User): Promise<void> {
  if (!(await confirmDialog(`Delete ${u.username}?`, 'Their sessions are logged off and their personal desktops deleted.', 'Delete user'))) return;
  await act(b, `Deleting ${u.username}`, () => api('DELETE', `/api/v1/users/${encodeURIComponent(u.id)}`), () => {
    app.store.remove('users', u.id);
    return `${u.username} is deleted.`;
  });
}

const locked = (u: User) => !!u.locked_until && Date.parse(u.locked_until) > Date.now();

export const usersPage: PageDef = {
  id: 'users',
  title: 'Users',
  mount(ctx: PageContext) {
    const filter = select('tenant', [['', 'All tenants'], ...options(tenants(), (t) => t.name)], ctx.query.get('tenant') ?? '');
    filter.setAttribute('aria-label', 'Tenant');
    const table = new DataTable<User>([
      { label: 'User', cell: (u) => h('strong', {}, u.username) },
      { label: 'Role', cell: (u) => u.role },
      { label: 'Tenant', cell: (u) => (u.tenant_id ? nameOf('tenants', u.tenant_id) : '–') },
      { label: 'Status', cell: (u) => (locked(u) ? badge('locked', `locked ${formatAgo(u.locked_until, Date.now()).replace('in ', 'for ')}`, 'warn') : badge('active', 'active', 'ok')) },
      { label: 'Created', cell: (u) => formatTime(u.created_at) },
      { label: 'Actions', cell: (u) => h('div', { className: 'row-actions' },
          locked(u) ? button('Unlock', (b) => void unlock(b, u), { label: `Unlock ${u.username}` }) : null,
          button('Password', () => passwordDialog(u), { label: `Set the password of ${u.username}` }),
          u.id === app.me?.id ? null : button('Delete', (b) => void deleteUser(b, u), { kind: 'danger', label: `Delete ${u.username}` })) },
    ], (u) => u.id, 'Users', 'No users.');
    ctx.root.append(h('div', { className: 'page-actions filters' }, isAdmin() ? filter : null, h('span', { className: 'spacer' }),
                      button('New user', () => newUserDialog(), { kind: 'primary' })), table.element);
    const update = () => table.update(users().filter((u) => !filter.value || u.tenant_id === filter.value));
    filter.onchange = update;
    update();
    return { update };
  },
};

function newTenantDialog(): void {
  formDialog('New tenant', [
    field('Name', input('name', '', { required: '', autocomplete: 'off' }), 'An organisation or customer: its users, pools and desktops are kept apart from the others.'),
  ], 'Create tenant', async (form) => {
    const t = await api<Tenant>('POST', '/api/v1/tenants', { name: value(form, 'name') });
    app.store.upsert('tenants', t);
    return `Tenant ${t.name} is created.`;
  });
}

async function deleteTenant(b: HTMLButtonElement, t: Tenant): Promise<void> {
  if (!(await confirmDialog(`Delete tenant ${t.name}?`, 'A tenant can go only once it has no users and no pools.', 'Delete tenant'))) return;
  await act(b, `Deleting ${t.name}`, () => api('DELETE', `/api/v1/tenants/${encodeURIComponent(t.id)}`), () => {
    app.store.remove('tenants', t.id);
    return `Tenant ${t.name} is deleted.`;
  });
}

export const tenantsPage: PageDef = {
  id: 'tenants',
  title: 'Tenants',
  adminOnly: true,
  mount(ctx: PageContext) {
    const table = new DataTable<Tenant>([
      { label: 'Tenant', cell: (t) => h('strong', {}, t.name) },
      { label: 'Id', cell: (t) => h('code', {}, t.id) },
      { label: 'Users', cell: (t) => h('a', { href: `#/users?tenant=${t.id}` }, String(users().filter((u) => u.tenant_id === t.id).length)), className: 'num' },
      { label: 'Pools', cell: (t) => String(pools().filter((p) => p.tenant_id === t.id).length), className: 'num' },
      ...QUOTA_KEYS.map((k) => ({ label: quotaLabel(k), cell: (t: Tenant) => quotaCell(t, k), className: 'quota' })),
      { label: 'Audit', cell: (t) => auditText(t) },
      { label: 'Created', cell: (t) => formatTime(t.created_at) },
      { label: 'Actions', cell: (t) => h('div', { className: 'row-actions' },
          button('Quota', () => quotaDialog(t), { label: `Quota of ${t.name}` }),
          isAdmin() ? button('Audit retention', () => auditDialog(t), { label: `Audit retention of ${t.name}` }) : null,
          button('Delete', (b) => void deleteTenant(b, t), { kind: 'danger', label: `Delete ${t.name}` })) },
    ], (t) => t.id, 'Tenants', 'No tenants yet.',
    (t) => JSON.stringify(t) + users().filter((u) => u.tenant_id === t.id).length + pools().filter((p) => p.tenant_id === t.id).length);
    ctx.root.append(h('p', { className: 'lead' }, `Usage against each tenant's quota, where it has one. ${QUOTA_NOTE}`),
                    h('div', { className: 'page-actions' }, button('New tenant', () => newTenantDialog(), { kind: 'primary' })), table.element);
    const update = () => table.update(tenants());
    update();
    return { update };
  },
};
