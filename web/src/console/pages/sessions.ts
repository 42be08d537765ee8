// Sessions: who is signed on to which desktop, since when, how long idle;
// disconnect (the desktop keeps running) or log off (a pooled desktop is
// reset). Ended sessions are loaded on request.
import { type Session, api } from '../../api';
import { type PageContext, type PageDef, app, nameOf, sessions, userName } from '../app';
import { formatAgo, formatDuration, formatTime } from '../format';
import { DataTable, act, badge, button, confirmDialog, errorText, h } from '../ui';

async function disconnect(b: HTMLButtonElement, s: Session): Promise<void> {
  await act(b, `Disconnecting ${s.username}`, () => api<Session>('POST', `/api/v1/sessions/${encodeURIComponent(s.id)}/actions/disconnect`), (r) => {
    app.store.upsert('sessions', r);
    return `${s.username} is disconnected; the desktop keeps running.`;
  });
}

async function logoff(b: HTMLButtonElement, s: Session): Promise<void> {
  if (!(await confirmDialog(`Log off ${s.username}?`, 'Unsaved work is lost; a pooled desktop is reset for the next user.', 'Log off'))) return;
  await act(b, `Logging off ${s.username}`, () => api<Session>('DELETE', `/api/v1/sessions/${encodeURIComponent(s.id)}`), () => {
    app.store.remove('sessions', s.id);
    return `${s.username} is logged off.`;
  });
}

export function idleFor(s: Session, now: number): string {
  if (s.state === 'ended' || !s.last_activity_at) return '–';
  return formatDuration(now - Date.parse(s.last_activity_at));
}

export const sessionsPage: PageDef = {
  id: 'sessions',
  title: 'Sessions',
  mount(ctx: PageContext) {
    const minute = () => Math.floor(Date.now() / 30000);  // relative times move on
    const table = new DataTable<Session>([
      { label: 'User', cell: (s) => h('strong', {}, s.username ?? userName(s.user_id)) },
      { label: 'Pool', cell: (s) => nameOf('pools', s.pool_id) },
      { label: 'Desktop', cell: (s) => nameOf('desktops', s.desktop_id) },
      { label: 'State', cell: (s) => badge(s.state) },
      { label: 'From', cell: (s) => s.client_address || '–' },
      { label: 'Since', cell: (s) => h('span', { title: formatTime(s.created_at) }, formatAgo(s.created_at, Date.now())) },
      { label: 'Idle', cell: (s) => idleFor(s, Date.now()) },
      { label: 'Actions', cell: (s) => (s.state === 'ended' ? `ended ${formatAgo(s.ended_at, Date.now())}` : h('div', { className: 'row-actions' },
          s.state === 'connected' ? button('Disconnect', (b) => void disconnect(b, s), { label: `Disconnect ${s.username}` }) : null,
          button('Log off', (b) => void logoff(b, s), { kind: 'danger', label: `Log off ${s.username}` }))) },
    ], (s) => s.id, 'Sessions', 'Nobody is signed on to a desktop.', (s) => JSON.stringify(s) + nameOf('desktops', s.desktop_id) + minute());
    const ended = h('input', { type: 'checkbox', id: 'show-ended' });
    const error = h('p', { className: 'error', attrs: { role: 'alert' } });
    let past: Session[] = [];
    ended.onchange = async () => {
      error.textContent = '';
      try {
        past = ended.checked ? (await api<Session[]>('GET', '/api/v1/sessions?include_ended=true')).filter((s) => s.state === 'ended') : [];
      } catch (e) {
        error.textContent = errorText(e);
      }
      update();
    };
    ctx.root.append(h('div', { className: 'page-actions' }, h('label', { className: 'check' }, ended, 'Show ended sessions')), error, table.element);
    const update = () => {
      const open = sessions().filter((s) => s.state !== 'ended');
      table.update([...open, ...past.sort((a, b) => (b.ended_at ?? '').localeCompare(a.ended_at ?? '')).slice(0, 200)]);
    };
    update();
    return { update };
  },
};
