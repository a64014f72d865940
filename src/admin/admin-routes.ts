/**
 * The daemon side of the admin API (admin-api.ts): the `/api/admin/*` mount of the local HTTP
 * server (inspector-server.ts HttpMount) turning requests into AdminControl calls, and the
 * `/metrics` mount serving a MetricsText.
 *
 * Rules, in the order a request meets them:
 * - The bearer token comes first, before any other answer: no or a wrong `Authorization: Bearer`
 *   is 401, compared in constant time (timingSafeEqual on equal-length buffers). The answer names
 *   the fix (the token file of the running daemon, `collie adm --data DIR` or `--token`).
 * - Then the route: an unknown path is 404 (listing the routes), a known path with another method
 *   405 (with Allow); an unknown or repeated query parameter 400; a bad LUN, TSIH or node 400.
 * - Then the body (POST, PUT): at most ADMIN_BODY_BYTES_MAX bytes (413), `application/json` (400),
 *   JSON (400), checked with zod: an unknown field, a missing one or a wrong type is 400 naming
 *   the field and what it takes. An empty body reads as `{}`. Meaning (an IQN's form, a CHAP
 *   secret's length, a backing's syntax) is the AdminControl's to check.
 * - Then the AdminControl: an AdminError answers its status and message; anything else is a
 *   Collie bug: 500, logged with its stack. While the daemon starts or stops (no control): 503.
 * - One log line per change (every method but GET) and per refused token: method, path, status.
 *   Never the token, never a body (CHAP secrets).
 * - `/metrics`: GET or HEAD, no token, the MetricsText's content type; without one, 503.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { Logger } from '../core/logger.js';
import { type HttpMount, sendJson, sendText } from '../inspect/inspector-server.js';
import { LUN_MAX, NODE_ID_MAX, NODE_ID_MIN } from '../target/target-config-schema.js';
import {
  ADMIN_BODY_BYTES_MAX,
  ADMIN_PREFIX,
  ADMIN_TOKEN_FILE,
  type AdminControl,
  AdminError,
  type MetricsText,
} from './admin-api.js';

export const METRICS_PATH = '/metrics';
const TSIH_MAX = 0xffff;

export interface AdminRoutesOptions {
  /** The 64 hex digits every request must bear. */
  readonly token: string;
  /** The daemon's data directory (where the token file is), for the 401 answer's fix. */
  readonly dataDir: string;
  /** The daemon's control; undefined while it starts or stops (503 with `unavailable`). */
  readonly control: () => AdminControl | undefined;
  /** Why there is no control now. Default: still starting. */
  readonly unavailable?: () => string;
  readonly logger: Logger;
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** Path parameters, decoded and checked: each route reads only those its path names. */
interface Params {
  readonly iqn: string;
  readonly name: string;
  readonly lun: number;
  readonly tsih: number;
}

interface Answer {
  readonly status: 200 | 201;
  readonly value: unknown;
}

interface Route {
  readonly method: Method;
  readonly path: string;
  readonly segments: readonly string[];
  readonly query: readonly string[];
  readonly schema?: z.ZodType;
  readonly run: (
    control: AdminControl,
    params: Params,
    query: URLSearchParams,
    body: unknown,
  ) => Answer | Promise<Answer>;
}

const ok = (value: unknown): Answer => ({ status: 200, value });
const created = (value: unknown): Answer => ({ status: 201, value });

function route(
  method: Method,
  path: string,
  run: (control: AdminControl, params: Params, query: URLSearchParams) => Answer | Promise<Answer>,
  query: readonly string[] = [],
): Route {
  return { method, path, segments: path.split('/').slice(1), query, run };
}

function routeWithBody<S extends z.ZodType>(
  method: Method,
  path: string,
  schema: S,
  run: (control: AdminControl, params: Params, body: z.output<S>) => Answer | Promise<Answer>,
): Route {
  return {
    method,
    path,
    segments: path.split('/').slice(1),
    query: [],
    schema,
    run: (control, params, _query, body) => run(control, params, body as z.output<S>),
  };
}

// ---- bodies ----------------------------------------------------------------------------------------

/** zod's error for a field: "is missing (write WHAT)" or "is VALUE, not WHAT" (a secret's value unsaid). */
function takes(what: string, secret = false) {
  return {
    error: (issue: { readonly input?: unknown }) =>
      issue.input === undefined
        ? `is missing (write ${what})`
        : secret
          ? `is not ${what}`
          : `is ${shown(issue.input)}, not ${what}`,
  };
}

function shown(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return Array.isArray(value) ? 'a list' : 'an object';
}

const text = (what: string) => z.string(takes(what)).min(1, takes(what));
const wholeBytes = z
  .int(takes('a whole number of bytes, 1 or more'))
  .min(1, takes('a whole number of bytes, 1 or more'));
const names = (item: string, list: string) => z.array(z.string(takes(item)), takes(list));

const addTargetBody = z.strictObject({
  iqn: text('the target name, e.g. "iqn.2026-11.org.collie:vol1"'),
  alias: z.string(takes('a text')).optional(),
});
const addLunBody = z.strictObject({
  lun: z
    .int(takes(`a LUN number from 0 to ${LUN_MAX}`))
    .min(0, takes(`a LUN number from 0 to ${LUN_MAX}`))
    .max(LUN_MAX, takes(`a LUN number from 0 to ${LUN_MAX}`))
    .optional(),
  backing: text('"mem:SIZE", "file:PATH[:SIZE]", "tcp:HOST:PORT:VDI" or a VDI name'),
});
const resizeBody = z.strictObject({ sizeBytes: wholeBytes });
const aclBody = z.strictObject({
  initiators: names('an initiator name', 'a list of initiator names').optional(),
  addresses: names('an address or CIDR block', 'a list of addresses').optional(),
});
const secretWhat = 'a CHAP secret of 12 bytes or more';
const account = {
  user: text('a CHAP user name'),
  secret: z.string(takes(secretWhat, true)).min(1, takes(secretWhat, true)),
};
const chapBody = z.strictObject({
  ...account,
  mutual: z.strictObject(account, takes('{ "user": NAME, "secret": SECRET }')).optional(),
});
const createVdiBody = z.strictObject({ name: text('the VDI name'), sizeBytes: wholeBytes });
const snapshotBody = z.strictObject({ tag: z.string(takes('a snapshot tag')).optional() });
const cloneBody = z.strictObject({
  snapshot: text('the snapshot tag or id to clone from'),
  name: text("the new VDI's name"),
});

// ---- routes ----------------------------------------------------------------------------------------

const ROUTES: readonly Route[] = [
  route('GET', '/status', (control) => ok(control.status())),
  route('GET', '/targets', (control) => ok(control.targets())),
  routeWithBody('POST', '/targets', addTargetBody, async (control, _params, body) =>
    created(await control.addTarget(body)),
  ),
  route('DELETE', '/targets/:iqn', async (control, { iqn }) => {
    await control.removeTarget(iqn);
    return ok({ removed: iqn });
  }),
  routeWithBody('POST', '/targets/:iqn/luns', addLunBody, async (control, { iqn }, body) =>
    created(await control.addLun(iqn, body)),
  ),
  route('DELETE', '/targets/:iqn/luns/:lun', async (control, { iqn, lun }) => {
    await control.removeLun(iqn, lun);
    return ok({ removed: lun });
  }),
  routeWithBody('POST', '/targets/:iqn/luns/:lun/resize', resizeBody, async (control, { iqn, lun }, body) =>
    ok(await control.resizeLun(iqn, lun, body)),
  ),
  routeWithBody('PUT', '/targets/:iqn/acl', aclBody, (control, { iqn }, body) =>
    ok(control.setAcl(iqn, body)),
  ),
  routeWithBody('PUT', '/targets/:iqn/chap', chapBody, (control, { iqn }, body) =>
    ok(control.setChap(iqn, body)),
  ),
  route('DELETE', '/targets/:iqn/chap', (control, { iqn }) => ok(control.setChap(iqn, undefined))),
  route('GET', '/sessions', (control) => ok(control.sessions())),
  route(
    'DELETE',
    '/sessions/:tsih',
    (control, { tsih }, query) => ok({ killed: control.killSession(tsih, nodeParam(query.get('node'))) }),
    ['node'],
  ),
  route('GET', '/vdis', async (control) => ok(await control.vdis())),
  routeWithBody('POST', '/vdis', createVdiBody, async (control, _params, body) =>
    created(await control.createVdi(body)),
  ),
  routeWithBody('POST', '/vdis/:name/snapshot', snapshotBody, async (control, { name }, body) =>
    created(await control.snapshotVdi(name, body)),
  ),
  routeWithBody('POST', '/vdis/:name/clone', cloneBody, async (control, { name }, body) =>
    created(await control.cloneVdi(name, body)),
  ),
  route(
    'DELETE',
    '/vdis/:name',
    async (control, { name }, query) => {
      const snapshot = query.get('snapshot');
      if (snapshot === '')
        throw new AdminError(400, 'parameter snapshot is empty (write ?snapshot=TAG or ID)');
      await control.deleteVdi(name, snapshot ?? undefined);
      return ok({ removed: name });
    },
    ['snapshot'],
  ),
  route('GET', '/locks', async (control) => ok(await control.locks())),
  route('DELETE', '/locks/:name', async (control, { name }) => {
    await control.unlock(name);
    return ok({ unlocked: name });
  }),
  route('GET', '/alua', (control) => ok(control.alua())),
];

const ROUTE_LIST = [...new Set(ROUTES.map((candidate) => candidate.path))]
  .map((path) => ADMIN_PREFIX + path)
  .join(', ');

function matches(candidate: Route, segments: readonly string[]): boolean {
  return (
    candidate.segments.length === segments.length &&
    candidate.segments.every((part, index) =>
      part.startsWith(':') ? segments[index] !== '' : part === segments[index],
    )
  );
}

function wholeNumberIn(textValue: string, min: number, max: number, what: string): number {
  const value = /^\d{1,6}$/.test(textValue) ? Number(textValue) : Number.NaN;
  if (!(value >= min && value <= max)) {
    throw new AdminError(400, `${what} ${JSON.stringify(textValue)} is not a number from ${min} to ${max}`);
  }
  return value;
}

function nodeParam(value: string | null): number | undefined {
  return value === null ? undefined : wholeNumberIn(value, NODE_ID_MIN, NODE_ID_MAX, 'node');
}

/** The path's parameters, decoded and checked. */
function paramsOf(candidate: Route, segments: readonly string[]): Params {
  const params: Record<string, string | number> = {};
  candidate.segments.forEach((part, index) => {
    if (!part.startsWith(':')) return;
    const raw = segments[index] ?? '';
    let decoded: string;
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      throw new AdminError(400, `${JSON.stringify(raw)} is not a valid URL component (percent-encode it)`);
    }
    const name = part.slice(1);
    params[name] =
      name === 'lun'
        ? wholeNumberIn(decoded, 0, LUN_MAX, 'LUN')
        : name === 'tsih'
          ? wholeNumberIn(decoded, 1, TSIH_MAX, 'TSIH')
          : decoded;
  });
  return params as unknown as Params;
}

function checkQuery(candidate: Route, query: URLSearchParams): void {
  for (const name of new Set(query.keys())) {
    if (!candidate.query.includes(name)) {
      throw new AdminError(
        400,
        candidate.query.length === 0
          ? `parameter ${JSON.stringify(name)} is not taken by ${candidate.method} ${ADMIN_PREFIX}${candidate.path} (it takes none)`
          : `parameter ${JSON.stringify(name)} is not taken by ${candidate.method} ${ADMIN_PREFIX}${candidate.path} (it takes ${candidate.query.join(', ')})`,
      );
    }
    if (query.getAll(name).length > 1)
      throw new AdminError(400, `parameter ${JSON.stringify(name)} is given twice`);
  }
}

// ---- the body --------------------------------------------------------------------------------------

const TOO_LARGE = `the request body is larger than ${ADMIN_BODY_BYTES_MAX} bytes (an admin request is a small JSON object: send only the route's fields)`;

/** The whole body, at most ADMIN_BODY_BYTES_MAX bytes (413 past that; the rest is read and dropped). */
function readBody(request: IncomingMessage): Promise<Buffer> {
  const declared = Number(request.headers['content-length']);
  if (declared > ADMIN_BODY_BYTES_MAX) return Promise.reject(new AdminError(413, TOO_LARGE));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= ADMIN_BODY_BYTES_MAX) {
        chunks.push(chunk);
        return;
      }
      request.off('data', onData);
      request.off('end', onEnd);
      // Dropped, not kept: the connection stays usable and memory stays bounded.
      request.resume();
      reject(new AdminError(413, TOO_LARGE));
    };
    const onEnd = () => resolve(Buffer.concat(chunks));
    request.on('data', onData);
    request.once('end', onEnd);
    request.once('error', reject);
  });
}

function isJsonType(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase() === 'application/json';
}

async function parseBody(request: IncomingMessage, schema: z.ZodType, where: string): Promise<unknown> {
  const bytes = await readBody(request);
  let value: unknown = {};
  if (bytes.length > 0) {
    const type = request.headers['content-type'];
    if (!isJsonType(type)) {
      throw new AdminError(
        400,
        `the body must be JSON sent with Content-Type: application/json (it came as ${type === undefined ? 'no Content-Type' : JSON.stringify(type)})`,
      );
    }
    try {
      value = JSON.parse(bytes.toString('utf8'));
    } catch (error) {
      throw new AdminError(400, `the body is not JSON: ${(error as Error).message} (send a JSON object)`);
    }
  }
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new AdminError(400, bodyProblem(result.error.issues[0]!, schema, value, where));
}

/** One line naming the field and what it takes. */
function bodyProblem(issue: z.core.$ZodIssue, schema: z.ZodType, body: unknown, where: string): string {
  const field = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const known = Object.keys(shapeAt(schema, issue.path) ?? {});
    const unknown = issue.keys
      .map((key) => JSON.stringify(field === '' ? key : `${field}.${key}`))
      .join(', ');
    return `${where}: unknown field ${unknown} (remove it; the fields${field === '' ? '' : ` of ${field}`} are ${known.join(', ')})`;
  }
  if (field === '') return `${where}: the body must be a JSON object (it is ${shown(body)})`;
  return `${where}: field "${field}" ${issue.message}`;
}

/** The object shape at `path` of a schema made of (optional) strict objects. */
function shapeAt(schema: z.ZodType, path: readonly PropertyKey[]): Record<string, unknown> | undefined {
  let current: unknown = schema;
  for (const key of ['', ...path.map(String)]) {
    while (current instanceof z.ZodOptional) current = current.unwrap();
    if (!(current instanceof z.ZodObject)) return undefined;
    if (key === '') continue;
    current = (current.shape as Record<string, unknown>)[key];
  }
  while (current instanceof z.ZodOptional) current = current.unwrap();
  return current instanceof z.ZodObject ? (current.shape as Record<string, unknown>) : undefined;
}

// ---- the mounts ------------------------------------------------------------------------------------

function bearerToken(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  return header === undefined ? undefined : /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
}

function sameToken(given: string, expected: Buffer): boolean {
  const bytes = Buffer.from(given, 'utf8');
  return bytes.length === expected.length && timingSafeEqual(bytes, expected);
}

/** The `/api/admin/*` routes of admin-api.ts over an AdminControl. */
export function adminMount(options: AdminRoutesOptions): HttpMount {
  const expected = Buffer.from(options.token, 'utf8');
  const tokenFix = `collie adm reads ${options.dataDir.replace(/\/+$/, '')}/${ADMIN_TOKEN_FILE} of the running daemon; give --data DIR or --token`;
  const { logger } = options;

  const answer = async (request: IncomingMessage, response: ServerResponse, url: URL): Promise<Answer> => {
    // The token before anything else: nothing about the routes is told without it.
    const given = bearerToken(request);
    if (given === undefined || !sameToken(given, expected)) {
      response.setHeader('WWW-Authenticate', 'Bearer');
      throw new AdminError(
        401,
        `${given === undefined ? 'no admin token (Authorization: Bearer TOKEN)' : 'wrong admin token'}: ${tokenFix}`,
      );
    }
    const segments = url.pathname.slice(ADMIN_PREFIX.length).split('/').slice(1);
    const candidates = ROUTES.filter((candidate) => matches(candidate, segments));
    if (candidates.length === 0) {
      throw new AdminError(404, `no admin route ${url.pathname}; the routes are ${ROUTE_LIST}`);
    }
    const method = request.method ?? 'GET';
    const chosen = candidates.find((candidate) => candidate.method === method);
    if (chosen === undefined) {
      const allowed = candidates.map((candidate) => candidate.method).join(', ');
      response.setHeader('Allow', allowed);
      throw new AdminError(405, `${method} is not served on ${url.pathname} (it takes ${allowed})`);
    }
    checkQuery(chosen, url.searchParams);
    const params = paramsOf(chosen, segments);
    const where = `${chosen.method} ${ADMIN_PREFIX}${chosen.path}`;
    const body = chosen.schema === undefined ? undefined : await parseBody(request, chosen.schema, where);
    const control = options.control();
    if (control === undefined) {
      throw new HttpStatus(
        503,
        options.unavailable?.() ?? 'the daemon is still starting: try again in a moment',
      );
    }
    return chosen.run(control, params, url.searchParams, body);
  };

  return {
    owns: (path) => path === ADMIN_PREFIX || path.startsWith(`${ADMIN_PREFIX}/`),
    handle: async (request, response, url) => {
      const method = request.method ?? 'GET';
      const path = url.pathname + url.search;
      let status: number;
      try {
        const result = await answer(request, response, url);
        status = result.status;
        sendJson(response, result.value, status);
      } catch (error) {
        if (error instanceof AdminError || error instanceof HttpStatus) {
          status = error.status;
          sendJson(response, { error: error.message }, status);
        } else {
          status = 500;
          logger.error({ err: error, method, path, status }, 'admin request failed: a Collie bug');
          sendJson(
            response,
            {
              error: `internal error: ${(error as Error)?.message ?? String(error)} (a Collie bug: the daemon's log has the details)`,
            },
            status,
          );
        }
      }
      if (method !== 'GET' || status === 401) {
        logger.info(
          { method, path, status },
          status === 401 ? 'admin request refused: no or wrong token' : 'admin request',
        );
      }
    },
  };
}

/** A status outside AdminError's (the daemon's own, not the control's). */
class HttpStatus extends Error {
  constructor(
    readonly status: 503,
    message: string,
  ) {
    super(message);
  }
}

/** `GET /metrics`: the registry's text, no token; without a registry, 503. */
export function metricsMount(metrics: MetricsText | undefined): HttpMount {
  return {
    owns: (path) => path === METRICS_PATH,
    handle: async (request, response) => {
      const method = request.method ?? 'GET';
      if (method !== 'GET' && method !== 'HEAD') {
        response.setHeader('Allow', 'GET, HEAD');
        sendJson(
          response,
          { error: `${method} is not served on ${METRICS_PATH} (it takes GET or HEAD)` },
          405,
        );
        return;
      }
      if (metrics === undefined) {
        sendJson(response, { error: 'metrics not wired in this build (a Collie bug: report it)' }, 503);
        return;
      }
      sendText(response, 200, metrics.contentType, await metrics.render());
    },
  };
}
