// Hosts (administrators): state, accelerator, what is allocated on each,
// and maintenance (drain by live migration) or activation.
import { type Host, api } from '../../api';
import { type PageContext, type PageDef, hosts } from '../app';
import { formatAgo } from '../format';
import { DataTable, act, badge, button, confirmDialog, h } from '../ui';
import { hostMeters } from './dashboard';

async function hostAction(b: HTMLButtonElement, host: Host, action: 'maintenance' | 'activate'): Promise<void> {
  if (action === 'maintenance' &&
      !(await confirmDialog(`Maintenance for ${host.name}?`,
                            'Its desktops are moved to other hosts by live migration, and it takes no new ones until it is activated again.',
                            'Start maintenance'))) return;
  await act(b, action === 'maintenance' ? `Putting ${host.name} into maintenance` : `Activating ${host.name}`,
            () => api<Host>('POST', `/api/v1/hosts/${encodeURIComponent(host.id)}/actions/${action}`),
            () => (action === 'maintenance' ? `${host.name} is draining for maintenance.` : `${host.name} takes desktops again.`));
}

export const hostsPage: PageDef = {
  id: 'hosts',
  title: 'Hosts',
  adminOnly: true,
  mount(ctx: PageContext) {
    const table = new DataTable<Host>([
      { label: 'Host', cell: (x) => h('strong', {}, x.name) },
      { label: 'State', cell: (x) => badge(x.state) },
      { label: 'Accelerator', cell: (x) => x.accelerator.toUpperCase() },
      { label: 'Allocated', cell: (x) => hostMeters(x), className: 'wide' },
      { label: 'Desktops', cell: (x) => String(x.desktops), className: 'num' },
      { label: 'Heartbeat', cell: (x) => h('span', { title: x.last_heartbeat_at }, formatAgo(x.last_heartbeat_at, Date.now())) },
      { label: 'Actions', cell: (x) => h('div', { className: 'row-actions' },
          x.state === 'maintenance'
            ? button('Activate', (b) => void hostAction(b, x, 'activate'), { label: `Activate ${x.name}` })
            : button('Maintenance', (b) => void hostAction(b, x, 'maintenance'), { label: `Maintenance for ${x.name}` })) },
    ], (x) => x.id, 'Hosts', 'No hosts have registered.', (x) => JSON.stringify(x) + Math.floor(Date.now() / 30000));
    ctx.root.append(
      h('p', { className: 'lead' }, 'Each host runs desktops as QEMU virtual machines. Allocated counts the desktops meant to run there; ' +
        'virtual CPUs may exceed the physical ones up to the overcommit ratio (--cpu-overcommit).'),
      table.element);
    const update = () => table.update(hosts());
    update();
    return { update };
  },
};
