// The console's copy of the lists it shows, kept current by the event stream
// (WebSocket /api/v1/events, docs/api.md "Events"): a snapshot of each list,
// then only what changed. While the stream is down the lists are fetched
// over REST every few seconds instead, so the console never goes stale
// silently. LiveStore is pure (tested under node); LiveConnection is the
// browser side.
import { ApiError, type Role, api, token } from '../api';
import { Backoff } from '../display/reconnect';

export type Topic = 'hosts' | 'images' | 'tenants' | 'users' | 'pools' | 'desktops' | 'sessions' | 'audit' | 'uploads';

const KEYS: Record<Topic, string> = {
  hosts: 'id', images: 'id', tenants: 'id', users: 'id', pools: 'id', desktops: 'id', sessions: 'id', audit: 'seq', uploads: 'id',
};

// The lists a role's pages use; the API refuses the others anyway.
export function topicsFor(role: Role): Topic[] {
  const common: Topic[] = ['images', 'tenants', 'users', 'pools', 'desktops', 'sessions', 'audit'];
  return role === 'admin' ? ['hosts', ...common, 'uploads'] : role === 'tenant-admin' ? common : [];
}

export type ServerMessage =
  | { type: 'hello'; user: unknown; topics: string[]; interval_ms: number }
  | { type: 'snapshot'; topic: string; items: Array<Record<string, unknown>> }
  | { type: 'changes'; topic: string; upserted: Array<Record<string, unknown>>; removed: string[] };

type Listener = (topics: Set<string>) => void;

export class LiveStore {
  private readonly data = new Map<string, Map<string, unknown>>();
  private readonly listeners = new Set<Listener>();
  private pending = new Set<string>();
  readonly loaded = new Set<string>();

  // Applies one message of the stream; returns the topic it changed, if any.
  apply(m: ServerMessage): string | null {
    if (m.type === 'snapshot') {
      this.replace(m.topic, m.items);
      return m.topic;
    }
    if (m.type === 'changes') {
      const items = this.topic(m.topic);
      for (const id of m.removed) items.delete(id);
      for (const item of m.upserted) items.set(keyOf(m.topic, item), item);
      this.changed(m.topic);
      return m.topic;
    }
    return null;
  }

  replace(topic: string, list: Array<Record<string, unknown>>): void {
    this.data.set(topic, new Map(list.map((item) => [keyOf(topic, item), item])));
    this.loaded.add(topic);
    this.changed(topic);
  }

  // Forgets everything (signing out): the next user sees only their own lists.
  clear(): void {
    const topics = [...this.data.keys()];
    this.data.clear();
    this.loaded.clear();
    for (const t of topics) this.changed(t);
  }

  // What an action's answer says about an object, before the stream does.
  upsert(topic: string, item: object): void {
    this.topic(topic).set(keyOf(topic, item as Record<string, unknown>), item);
    this.changed(topic);
  }

  remove(topic: string, id: string): void {
    if (this.topic(topic).delete(id)) this.changed(topic);
  }

  list<T>(topic: Topic): T[] {
    return [...(this.data.get(topic)?.values() ?? [])] as T[];
  }

  get<T>(topic: Topic, id: string | null | undefined): T | undefined {
    return id ? (this.data.get(topic)?.get(id) as T | undefined) : undefined;
  }

  // Listeners hear once per turn of the event loop, with every topic changed in it.
  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private topic(topic: string): Map<string, unknown> {
    let items = this.data.get(topic);
    if (!items) this.data.set(topic, (items = new Map()));
    return items;
  }

  private changed(topic: string): void {
    if (!this.pending.size) {
      setTimeout(() => {
        const topics = this.pending;
        this.pending = new Set();
        for (const fn of this.listeners) fn(topics);
      }, 0);
    }
    this.pending.add(topic);
  }
}

function keyOf(topic: string, item: Record<string, unknown>): string {
  return String(item[KEYS[topic as Topic] ?? 'id']);
}

const REST: Record<Topic, string> = {
  hosts: '/api/v1/hosts', images: '/api/v1/images', tenants: '/api/v1/tenants', users: '/api/v1/users',
  pools: '/api/v1/pools', desktops: '/api/v1/desktops', sessions: '/api/v1/sessions', audit: '/api/v1/audit?limit=20',
  uploads: '/api/v1/uploads',
};

// Loads the lists over REST (at start, and while the stream is down).
export async function loadTopics(store: LiveStore, topics: Topic[]): Promise<void> {
  await Promise.all(topics.map(async (t) => {
    const answer = await api<unknown>('GET', REST[t]);
    const list = t === 'audit' ? (answer as { events: Array<Record<string, unknown>> }).events : answer;
    store.replace(t, list as Array<Record<string, unknown>>);
  }));
}

export type LiveState = 'connecting' | 'live' | 'offline';

const POLL_MS = 5000;

// Keeps `store` current: the stream when it is up, REST polling when not.
export class LiveConnection {
  state: LiveState = 'connecting';
  private ws: WebSocket | null = null;
  private readonly backoff = new Backoff();
  private retry: ReturnType<typeof setTimeout> | undefined;
  private poll: ReturnType<typeof setInterval> | undefined;
  private stopped = false;

  constructor(private readonly store: LiveStore, private readonly topics: Topic[],
              private readonly onState: (s: LiveState) => void, private readonly onSignedOut: () => void) {}

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    clearInterval(this.poll);
    this.ws?.close(1000, 'signed out');
  }

  private setState(s: LiveState): void {
    this.state = s;
    this.onState(s);
  }

  private open(): void {
    const url = new URL('/api/v1/events', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ token: token() ?? '' }));
    ws.onmessage = (ev) => {
      const m = JSON.parse(String(ev.data)) as ServerMessage;
      if (m.type === 'hello') {
        this.backoff.reset();
        clearInterval(this.poll);
        this.poll = undefined;
        this.setState('live');
      }
      this.store.apply(m);
    };
    ws.onclose = (ev) => this.closed(ev.code);
  }

  private closed(code: number): void {
    if (this.stopped) return;
    if (code === 4401) return this.onSignedOut();
    this.setState('offline');
    if (!this.poll) {
      this.poll = setInterval(() => void this.refresh(), POLL_MS);
      void this.refresh();
    }
    this.retry = setTimeout(() => this.open(), this.backoff.next());
  }

  private async refresh(): Promise<void> {
    try {
      await loadTopics(this.store, this.topics);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) this.onSignedOut();
    }
  }
}
