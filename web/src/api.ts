// The REST API as the pages use it: JSON in and out, the bearer token kept
// in localStorage (so the desktop can open in its own tab and survive a
// reload), and every error as an ApiError with the API's code and message
// ({"error": {"code", "message"}}, docs/api.md).

const TOKEN_KEY = 'oriel-token';

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export function token(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(value: string | null): void {
  if (value) localStorage.setItem(TOKEN_KEY, value);
  else localStorage.removeItem(TOKEN_KEY);
}

export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'unavailable', 'Oriel cannot be reached. Check your network connection.');
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = null;
  }
  if (!res.ok) {
    const err = (json as { error?: { code?: string; message?: string } } | null)?.error;
    if (res.status === 401 && path !== '/api/v1/auth/login') setToken(null);
    throw new ApiError(res.status, err?.code ?? 'internal', err?.message ?? `HTTP ${res.status} from Oriel`);
  }
  return json as T;
}

export interface Me {
  id: string;
  username: string;
  role: 'admin' | 'tenant-admin' | 'user';
  tenant_id: string | null;
}

export interface Pool {
  id: string;
  name: string;
  type: 'pooled' | 'persistent';
  tenant_id: string;
  state?: string;
  size: number;
  spare: number;
  running_free?: number;
}

export interface Session {
  id: string;
  pool_id: string;
  desktop_id: string;
  state: 'connecting' | 'connected' | 'disconnected' | 'ended';
  display_url?: string;
  created_at: string;
  last_activity_at?: string;
}

export interface Desktop {
  id: string;
  name: string;
  state: string;
  pool_id: string | null;
  assigned_user: string | null;
}

export async function login(username: string, password: string): Promise<void> {
  const res = await api<{ token: string }>('POST', '/api/v1/auth/login', { username, password });
  setToken(res.token);
}

export async function logout(): Promise<void> {
  try {
    await api('POST', '/api/v1/auth/logout');
  } finally {
    setToken(null);
  }
}

// The page that shows a session's desktop.
export function desktopPage(session: Session): string {
  const q = new URLSearchParams({ session: session.id });
  return `/desktop.html?${q.toString()}`;
}
