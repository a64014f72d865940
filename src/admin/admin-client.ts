/**
 * The admin API's client, as `collie adm` uses it: finds the running daemon, then makes one
 * typed HTTP request per route of the contract (admin-api.ts) with Node's global fetch.
 *
 * Finding the daemon (locateAdminDaemon): the URL is `--url` or else `<data dir>/admin.json`'s
 * `url` (data dir `.collie` unless `--data`); the token is `--token`, else the environment's
 * COLLIE_ADMIN_TOKEN, else `<data dir>/admin-token`.
 *
 * Rules
 * - Every failure is an AdminClientError whose message is one line naming the problem and the
 *   fix: no daemon found, a malformed runtime file, nobody answering (refused, reset, timeout),
 *   an answer that is not the admin API (not JSON, or not the shape the route promises), or the
 *   daemon's own `{ error }` line for a 4xx/5xx (its messages already name the fix).
 * - Every request is bounded (timeoutMs, default 30 s, AbortSignal.timeout) so a hung daemon
 *   cannot hang the CLI.
 * - IQNs, VDI names and snapshot selectors are URL-encoded; LUNs and TSIHs are decimal.
 * - The token travels only in the Authorization header and never appears in a message.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type AclRequest,
  ADMIN_PREFIX,
  ADMIN_RUNTIME_FILE,
  ADMIN_TOKEN_FILE,
  type AddLunRequest,
  type AddTargetRequest,
  type AdminStatus,
  type AluaRow,
  type ChapRequest,
  type CloneRequest,
  type CreateVdiRequest,
  type LockRow,
  type LunInfo,
  type ResizeLunRequest,
  type SessionInfo,
  type SnapshotRequest,
  type TargetInfo,
  type VdiRow,
} from './admin-api.js';

export type FetchLike = typeof globalThis.fetch;

/** The data directory `collie up` uses unless --data says otherwise. */
export const ADMIN_DATA_DIR_DEFAULT = '.collie';
/** The environment variable that carries the token when --token is not given. */
export const ADMIN_TOKEN_ENV = 'COLLIE_ADMIN_TOKEN';
export const ADMIN_REQUEST_TIMEOUT_MS = 30_000;

/** What went wrong, for callers that react differently (the message is for people). */
export type AdminFailureKind =
  /** No runtime file or token: nothing to talk to. */
  | 'not-found'
  /** A runtime file, token file or --url that cannot be used as it is. */
  | 'bad-setup'
  /** Nobody answered: refused, reset, unreachable. */
  | 'unreachable'
  | 'timeout'
  /** The daemon answered 4xx/5xx with its `{ error }` line. */
  | 'refused'
  /** Something answered that is not a Collie admin API. */
  | 'not-admin-api';

export class AdminClientError extends Error {
  override readonly name = 'AdminClientError';

  constructor(
    message: string,
    readonly kind: AdminFailureKind,
    /** The HTTP status, or null when no answer came. */
    readonly status: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

// ---- finding the daemon ----------------------------------------------------------------------------

export interface LocateOptions {
  /** Data directory of the running Collie; default ADMIN_DATA_DIR_DEFAULT. */
  readonly data?: string;
  readonly url?: string;
  readonly token?: string;
  /** Where COLLIE_ADMIN_TOKEN is looked up; default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface AdminLocation {
  /** The daemon's base URL, ending in '/': "http://127.0.0.1:8260/". */
  readonly url: string;
  readonly token: string;
  /** Where the URL came from, for messages: "--url" or ".collie/admin.json". */
  readonly urlSource: string;
}

/** The daemon's URL and token from the flags, the environment and the data directory. */
export async function locateAdminDaemon(options: LocateOptions = {}): Promise<AdminLocation> {
  const data = options.data ?? ADMIN_DATA_DIR_DEFAULT;
  const runtimePath = join(data, ADMIN_RUNTIME_FILE);
  const url =
    options.url === undefined
      ? { url: await readRuntimeUrl(data, runtimePath), urlSource: runtimePath }
      : { url: checkUrl(options.url, '--url', 'give one like http://127.0.0.1:8260/'), urlSource: '--url' };
  const env = options.env ?? process.env;
  const token = options.token ?? nonEmpty(env[ADMIN_TOKEN_ENV]) ?? (await readTokenFile(data));
  return { ...url, token };
}

function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text.trim() === '' ? undefined : text.trim();
}

function noDaemonHint(): string {
  return 'start one with npm start, or give --data DIR or --url URL';
}

async function readRuntimeUrl(data: string, path: string): Promise<string> {
  const text = await readSmallFile(
    path,
    () => `no running Collie found in ${data} (no ${path}): ${noDaemonHint()}`,
  );
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new AdminClientError(
      `${path} is not JSON, so it names no Collie daemon: remove it if no Collie runs there and start one (npm start), or give --url URL`,
      'bad-setup',
    );
  }
  const url = (parsed as { url?: unknown } | null)?.url;
  if (typeof url !== 'string') {
    throw new AdminClientError(
      `${path} has no "url": remove it if no Collie runs there and start one (npm start), or give --url URL`,
      'bad-setup',
    );
  }
  return checkUrl(url, path, 'remove it and restart Collie (npm start), or give --url URL');
}

async function readTokenFile(data: string): Promise<string> {
  const path = join(data, ADMIN_TOKEN_FILE);
  const text = await readSmallFile(
    path,
    () =>
      `no running Collie found in ${data} (no ${path}): start one with npm start, or give --data DIR or --token TOKEN`,
  );
  const token = nonEmpty(text);
  if (token === undefined) {
    throw new AdminClientError(
      `${path} is empty: restart Collie to write a new token (npm start), or give --token TOKEN`,
      'bad-setup',
    );
  }
  return token;
}

/** The file's text; a missing file is `missing()`'s message, any other failure names its code. */
async function readSmallFile(path: string, missing: () => string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new AdminClientError(missing(), 'not-found');
    throw new AdminClientError(
      `cannot read ${path} (${code ?? (error as Error).message}): run collie adm as the user that runs Collie, or give --url URL and --token TOKEN`,
      'bad-setup',
      null,
      { cause: error },
    );
  }
}

/** An http(s) URL with a trailing '/', or an error naming where it came from and the fix. */
function checkUrl(text: string, where: string, fix: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AdminClientError(`${where}: ${JSON.stringify(text)} is not a URL: ${fix}`, 'bad-setup');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AdminClientError(`${where}: ${JSON.stringify(text)} is not an http URL: ${fix}`, 'bad-setup');
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  url.search = '';
  url.hash = '';
  return url.toString();
}

// ---- the client ------------------------------------------------------------------------------------

export interface AdminClientOptions extends AdminLocation {
  /** Bound on each request, answer included; default ADMIN_REQUEST_TIMEOUT_MS. */
  readonly timeoutMs?: number;
  /** Default: the global fetch, looked up at each call (so msw can intercept it in tests). */
  readonly fetch?: FetchLike;
}

type Query = Readonly<Record<string, string | number | undefined>>;
/** What a route answers: an array or an object; anything else is not the admin API. */
type Shape = 'array' | 'object';

interface RequestSpec {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path segments below ADMIN_PREFIX, encoded here. */
  readonly segments: readonly (string | number)[];
  readonly query?: Query;
  readonly body?: unknown;
  readonly shape: Shape;
}

/** Shown of an answer that is not JSON. */
const PREVIEW_CHARS = 60;

export class AdminClient {
  readonly url: string;
  private readonly token: string;
  private readonly urlSource: string;
  private readonly timeoutMs: number;
  private readonly fetchImpl: FetchLike;

  constructor(options: AdminClientOptions) {
    this.url = options.url.endsWith('/') ? options.url : `${options.url}/`;
    this.token = options.token;
    this.urlSource = options.urlSource;
    this.timeoutMs = options.timeoutMs ?? ADMIN_REQUEST_TIMEOUT_MS;
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  status(): Promise<AdminStatus> {
    return this.request({ method: 'GET', segments: ['status'], shape: 'object' });
  }

  targets(): Promise<TargetInfo[]> {
    return this.request({ method: 'GET', segments: ['targets'], shape: 'array' });
  }

  addTarget(request: AddTargetRequest): Promise<TargetInfo> {
    return this.request({ method: 'POST', segments: ['targets'], body: request, shape: 'object' });
  }

  removeTarget(iqn: string): Promise<{ removed: string }> {
    return this.request({ method: 'DELETE', segments: ['targets', iqn], shape: 'object' });
  }

  addLun(iqn: string, request: AddLunRequest): Promise<LunInfo> {
    return this.request({
      method: 'POST',
      segments: ['targets', iqn, 'luns'],
      body: request,
      shape: 'object',
    });
  }

  removeLun(iqn: string, lun: number): Promise<{ removed: number }> {
    return this.request({ method: 'DELETE', segments: ['targets', iqn, 'luns', lun], shape: 'object' });
  }

  resizeLun(iqn: string, lun: number, request: ResizeLunRequest): Promise<LunInfo> {
    return this.request({
      method: 'POST',
      segments: ['targets', iqn, 'luns', lun, 'resize'],
      body: request,
      shape: 'object',
    });
  }

  setAcl(iqn: string, request: AclRequest): Promise<TargetInfo> {
    return this.request({ method: 'PUT', segments: ['targets', iqn, 'acl'], body: request, shape: 'object' });
  }

  setChap(iqn: string, request: ChapRequest): Promise<TargetInfo> {
    return this.request({
      method: 'PUT',
      segments: ['targets', iqn, 'chap'],
      body: request,
      shape: 'object',
    });
  }

  /** Removes the target's CHAP accounts: AuthMethod None. */
  clearChap(iqn: string): Promise<TargetInfo> {
    return this.request({ method: 'DELETE', segments: ['targets', iqn, 'chap'], shape: 'object' });
  }

  sessions(): Promise<SessionInfo[]> {
    return this.request({ method: 'GET', segments: ['sessions'], shape: 'array' });
  }

  /** `node` undefined: the daemon requires the TSIH to be unique among its nodes. */
  killSession(tsih: number, node?: number): Promise<{ killed: SessionInfo }> {
    return this.request({ method: 'DELETE', segments: ['sessions', tsih], query: { node }, shape: 'object' });
  }

  vdis(): Promise<VdiRow[]> {
    return this.request({ method: 'GET', segments: ['vdis'], shape: 'array' });
  }

  createVdi(request: CreateVdiRequest): Promise<VdiRow> {
    return this.request({ method: 'POST', segments: ['vdis'], body: request, shape: 'object' });
  }

  snapshotVdi(name: string, request: SnapshotRequest = {}): Promise<VdiRow> {
    return this.request({
      method: 'POST',
      segments: ['vdis', name, 'snapshot'],
      body: request,
      shape: 'object',
    });
  }

  cloneVdi(name: string, request: CloneRequest): Promise<VdiRow> {
    return this.request({
      method: 'POST',
      segments: ['vdis', name, 'clone'],
      body: request,
      shape: 'object',
    });
  }

  /** `snapshot` (a tag or an id) deletes that snapshot instead of the working VDI. */
  deleteVdi(name: string, snapshot?: string): Promise<{ removed: string }> {
    return this.request({ method: 'DELETE', segments: ['vdis', name], query: { snapshot }, shape: 'object' });
  }

  locks(): Promise<LockRow[]> {
    return this.request({ method: 'GET', segments: ['locks'], shape: 'array' });
  }

  unlock(name: string): Promise<{ unlocked: string }> {
    return this.request({ method: 'DELETE', segments: ['locks', name], shape: 'object' });
  }

  alua(): Promise<AluaRow[]> {
    return this.request({ method: 'GET', segments: ['alua'], shape: 'array' });
  }

  /** The absolute URL of a route. */
  routeUrl(segments: readonly (string | number)[], query: Query = {}): URL {
    const path = [...ADMIN_PREFIX.split('/').filter((part) => part !== ''), ...segments]
      .map((segment) => encodeURIComponent(String(segment)))
      .join('/');
    const url = new URL(path, this.url);
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url;
  }

  private async request<T>(spec: RequestSpec): Promise<T> {
    const url = this.routeUrl(spec.segments, spec.query);
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.token}`,
      accept: 'application/json',
    };
    if (spec.body !== undefined) headers['content-type'] = 'application/json';
    let status: number;
    let contentType: string;
    let text: string;
    try {
      const response = await this.fetchImpl(url, {
        method: spec.method,
        headers,
        body: spec.body === undefined ? undefined : JSON.stringify(spec.body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = response.status;
      contentType = response.headers.get('content-type') ?? 'no content type';
      text = await response.text();
    } catch (error) {
      throw this.noAnswer(error);
    }
    return this.parseAnswer<T>(url, spec, status, contentType, text);
  }

  private parseAnswer<T>(url: URL, spec: RequestSpec, status: number, contentType: string, text: string): T {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw this.notAdminApi(url, status, `(${contentType.split(';')[0]}) ${preview(text)}, not JSON`);
    }
    if (status < 200 || status > 299) {
      const message = (body as { error?: unknown } | null)?.error;
      if (typeof message === 'string' && message.trim() !== '') {
        throw new AdminClientError(oneLine(message), 'refused', status);
      }
      throw this.notAdminApi(url, status, `${preview(text)} without an "error" message`);
    }
    const isArray = Array.isArray(body);
    const fits = spec.shape === 'array' ? isArray : !isArray && typeof body === 'object' && body !== null;
    if (!fits) {
      throw this.notAdminApi(
        url,
        status,
        `${preview(text)} where ${spec.shape === 'array' ? 'a list' : 'an object'} belongs`,
      );
    }
    return body as T;
  }

  private notAdminApi(url: URL, status: number, what: string): AdminClientError {
    return new AdminClientError(
      `${url.toString()} answered HTTP ${status} ${what}: that is not a Collie admin API (${this.fixAddress()})`,
      'not-admin-api',
      status,
    );
  }

  /** How to point the CLI at the right daemon, depending on where the URL came from. */
  private fixAddress(): string {
    return this.urlSource === '--url'
      ? 'give --url the address of a running Collie'
      : `the URL came from ${this.urlSource}; if that Collie is gone, restart it (npm start) or give --data DIR or --url URL`;
  }

  private noAnswer(error: unknown): AdminClientError {
    const from = `from ${this.urlSource}`;
    if (isTimeout(error)) {
      return new AdminClientError(
        `the Collie daemon at ${this.url} did not answer within ${formatSeconds(this.timeoutMs)} (${from}; is it hung? check its log, or restart it: npm start)`,
        'timeout',
        null,
        { cause: error },
      );
    }
    const code = errnoCode(error);
    if (code === undefined || code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') {
      return new AdminClientError(
        `no Collie daemon answers at ${this.url} (${from}; is it running? start it: npm start)`,
        'unreachable',
        null,
        { cause: error },
      );
    }
    return new AdminClientError(
      `cannot reach the Collie daemon at ${this.url}: ${code} (${from}; check the address, or give --url URL)`,
      'unreachable',
      null,
      { cause: error },
    );
  }
}

/** The client for the daemon the flags and data directory name. */
export async function connectAdminClient(
  options: LocateOptions & Pick<AdminClientOptions, 'timeoutMs' | 'fetch'> = {},
): Promise<AdminClient> {
  const location = await locateAdminDaemon(options);
  return new AdminClient({ ...location, timeoutMs: options.timeoutMs, fetch: options.fetch });
}

function isTimeout(error: unknown): boolean {
  for (const cause of causes(error)) {
    const name = (cause as { name?: unknown }).name;
    if (name === 'TimeoutError' || name === 'AbortError') return true;
  }
  return false;
}

/** The first errno-like code in the cause chain (fetch wraps it: TypeError → Error{code} or AggregateError). */
function errnoCode(error: unknown): string | undefined {
  for (const cause of causes(error)) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** error, its causes, and the members of any AggregateError on the way (bounded). */
function causes(error: unknown): unknown[] {
  const found: unknown[] = [];
  const queue: unknown[] = [error];
  while (queue.length > 0 && found.length < 16) {
    const next = queue.shift();
    if (typeof next !== 'object' || next === null) continue;
    found.push(next);
    const { cause, errors } = next as { cause?: unknown; errors?: unknown };
    if (cause !== undefined) queue.push(cause);
    if (Array.isArray(errors)) queue.push(...errors);
  }
  return found;
}

/** The first characters of an answer, quoted and on one line. */
function preview(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat === '') return 'an empty body';
  return `"${flat.length > PREVIEW_CHARS ? `${flat.slice(0, PREVIEW_CHARS)}…` : flat}"`;
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
