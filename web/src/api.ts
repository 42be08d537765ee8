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
  const res = await send(method, path, body === undefined ? undefined : JSON.stringify(body),
                         body === undefined ? undefined : 'application/json');
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = null;
  }
  if (!res.ok) throw apiError(res, path, json);
  return json as T;
}

// For answers that are not JSON (a screenshot, a CSV report) and bodies that
// are bytes (an upload's chunk): the same token and the same errors.
export async function apiBytes(method: string, path: string, body?: Blob | ArrayBuffer, contentType?: string): Promise<Blob> {
  const res = await send(method, path, body, contentType);
  if (!res.ok) {
    let json: unknown = null;
    try {
      json = JSON.parse(await res.text());
    } catch {
      json = null;
    }
    throw apiError(res, path, json);
  }
  return res.blob();
}

async function send(method: string, path: string, body?: BodyInit, contentType?: string): Promise<Response> {
  const headers: Record<string, string> = {};
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (contentType) headers['Content-Type'] = contentType;
  try {
    return await fetch(path, { method, headers, body });
  } catch {
    throw new ApiError(0, 'unavailable', 'Oriel cannot be reached. Check your network connection.');
  }
}

function apiError(res: Response, path: string, json: unknown): ApiError {
  const err = (json as { error?: { code?: string; message?: string } } | null)?.error;
  if (res.status === 401 && path !== '/api/v1/auth/login') setToken(null);
  return new ApiError(res.status, err?.code ?? 'internal', err?.message ?? `HTTP ${res.status} from Oriel`);
}

export type Role = 'admin' | 'tenant-admin' | 'user';

export interface Me {
  id: string;
  username: string;
  role: Role;
  tenant_id: string | null;
}

export interface User extends Me {
  locked_until: string | null;
  created_at: string;
}

// A tenant's limits: null is none.
export interface Quota {
  desktops: number | null;   // every desktop of the tenant, running or not
  vcpus: number | null;      // of the desktops meant to run
  memory_mb: number | null;  // of the desktops meant to run
  disk_gb: number | null;    // what the desktops' disks may grow to
}

export interface Tenant {
  id: string;
  name: string;
  created_at: string;
  quota: Quota;
  audit?: { retention_days: number | null; legal_hold: boolean };  // null days: kept for ever
  usage: { desktops: number; vcpus: number; memory_mb: number; disk_gb: number };  // counted as the quota counts
}

export interface Host {
  id: string;
  name: string;
  state: 'ready' | 'maintenance' | 'down' | string;
  accelerator: string;
  cpus: number;
  memory_mb: number;
  cpus_allocated: number;
  memory_allocated_mb: number;
  desktops: number;
  last_heartbeat_at: string;
}

export type Boot = { firmware?: 'bios' | 'uefi'; kernel?: string; initrd?: string; cmdline?: string };

export interface Image {
  id: string;
  name: string;
  state: 'importing' | 'ready' | 'failed';
  progress: number;
  source_path: string | null;  // null for tenant-admins
  format: string;
  source_format: string | null;
  tenant_id: string | null;     // null: the platform's image
  shared: boolean;              // a platform image every tenant may use
  virtual_size_bytes: number;
  size_bytes: number;
  boot: Boot;
  error: string | null;
  created_at: string;
  updated_at: string;
}

export interface Upload {
  id: string;
  name: string;
  filename: string;
  format: string;
  size: number;
  received: number;
  state: 'uploading' | 'importing';
  image_id: string | null;
  boot: Boot;
  created_at: string;
  updated_at: string;
  expires_at: string | null;
}

export interface Pool {
  id: string;
  name: string;
  type: 'pooled' | 'persistent';
  tenant_id: string;
  image_id?: string;
  state?: string;
  size: number;
  spare: number;
  vcpus?: number;
  memory_mb?: number;
  idle_timeout_s?: number;
  provisioning?: string;
  clipboard?: string;
  network?: string;
  desktops?: number;
  assigned?: number;
  free?: number;
  running_free?: number;
  sessions?: number;
  message?: string | null;
  created_at?: string;
}

export interface Session {
  id: string;
  pool_id: string;
  desktop_id: string;
  state: 'connecting' | 'connected' | 'disconnected' | 'ended';
  display_url?: string;
  created_at: string;
  last_activity_at?: string;
  tenant_id?: string;
  user_id?: string;
  username?: string;
  client_address?: string;
  ended_at?: string | null;
}

export interface Desktop {
  id: string;
  name: string;
  state: string;
  pool_id: string | null;
  assigned_user: string | null;
  host_id?: string | null;
  tenant_id?: string | null;
  image_id?: string;
  vcpus?: number;
  memory_mb?: number;
  error?: string | null;
  pending_action?: string | null;
  created_at?: string;
}

export interface AuditEvent {
  seq: number;
  at: string;
  tenant_id: string | null;
  user_id: string | null;
  username: string;
  action: string;
  target: string;
  address: string;
  status: number;
  result: string;
  detail: string | null;
}

// Audit events moved out of the store into a gzip'd JSON Lines file.
export interface AuditArchive {
  tenant_id: string | null;  // null: the platform's
  first_seq: number;
  last_seq: number;
  events: number;
  file: string;              // a tenant-admin gets the name only
  sha256: string;
  archived_at: string;
}

export interface UsageReport {
  from: string;
  to: string;
  desktops: Array<{ day: string; tenant_id: string | null; pool_id: string | null; desktop_hours: number }>;
  sessions: Array<{ day: string; tenant_id: string; user_id: string; username: string; session_hours: number }>;
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
