// What every console page shares: who is signed in, the live lists, names
// of objects by id, and the shape of a page.
import type { Desktop, Host, Image, Me, Pool, Session, Tenant, User } from '../api';
import { LiveStore } from './live';
import { setSignatureSalt } from './ui';

export interface PageContext {
  root: HTMLElement;    // the page's own element, emptied for it
  params: string[];     // the route's parts after the page's name (#/pools/p-1 → ["p-1"])
  query: URLSearchParams;  // #/desktops?state=failed
}

export interface PageHandle {
  // The live lists in `topics` changed (or a second passed: topics is empty).
  update(topics: Set<string>): void;
  leave?(): void;
}

export interface PageDef {
  id: string;             // its route: #/id
  title: string;
  adminOnly?: boolean;    // hidden from tenant-admins (hosts, images, tenants)
  mount(ctx: PageContext): PageHandle;
}

export const app = {
  me: null as Me | null,
  store: new LiveStore(),
};

// Which names the lists hold: tables draw a row again when a name it shows changes.
const NAMED = ['hosts', 'images', 'pools', 'tenants', 'desktops'] as const;
let namesKey = '';
let namesVersion = 0;
app.store.subscribe((topics) => {
  if (!NAMED.some((t) => topics.has(t)) && !topics.has('users')) return;
  const key = NAMED.map((t) => app.store.list<{ id: string; name: string }>(t).map((o) => `${o.id}=${o.name}`).join()).join('|') +
    app.store.list<User>('users').map((u) => `${u.id}=${u.username}`).join();
  if (key !== namesKey) {
    namesKey = key;
    namesVersion++;
  }
});
setSignatureSalt(() => String(namesVersion));

export const isAdmin = (): boolean => app.me?.role === 'admin';

export const hosts = (): Host[] => byName(app.store.list<Host>('hosts'));
export const images = (): Image[] => byName(app.store.list<Image>('images'));
export const pools = (): Pool[] => byName(app.store.list<Pool>('pools'));
export const desktops = (): Desktop[] => byName(app.store.list<Desktop>('desktops'));
export const tenants = (): Tenant[] => byName(app.store.list<Tenant>('tenants'));
export const users = (): User[] => app.store.list<User>('users').sort((a, b) => a.username.localeCompare(b.username));
export const sessions = (): Session[] => app.store.list<Session>('sessions').sort((a, b) => b.created_at.localeCompare(a.created_at));

function byName<T extends { name: string }>(list: T[]): T[] {
  return list.sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
}

// Names for ids, falling back to the id (an object the caller cannot see, or not yet loaded).
export function nameOf(topic: 'hosts' | 'images' | 'pools' | 'tenants' | 'desktops', id: string | null | undefined): string {
  if (!id) return '–';
  return app.store.get<{ name: string }>(topic, id)?.name ?? id;
}

export function userName(id: string | null | undefined): string {
  if (!id) return '–';
  return app.store.get<User>('users', id)?.username ?? id;
}

export function options<T extends { id: string }>(list: T[], label: (t: T) => string): Array<[string, string]> {
  return list.map((t) => [t.id, label(t)]);
}
