import type { Endpoint, Transport } from '../../transports/transport.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { TargetService } from '../target/target-service.js';

/**
 * The admin API's contract: what a running Collie process (`collie up`, `collie target --admin`)
 * lets `collie adm` change without a restart, as JSON over HTTP. The daemon's routes
 * (admin-routes.ts) turn requests into calls on an `AdminControl`; the CLI's client
 * (admin-client.ts) makes those requests. Both sides import only this file's types.
 *
 * HTTP
 * - One local HTTP server per process carries the admin API (`/api/admin/...`), Prometheus
 *   metrics (`/metrics`) and the inspector (`/`, `/api/...`). It listens on 127.0.0.1 by default.
 * - Every `/api/admin/` request needs `Authorization: Bearer <token>`; the token is 64 hex digits,
 *   generated on first start and kept in `<data dir>/admin-token` with mode 0600 (a browser page
 *   cannot set that header without a CORS preflight, which is never granted). `/metrics` and the
 *   inspector need no token (loopback, read only, no secrets).
 * - While it runs, the daemon keeps `<data dir>/admin.json` (ADMIN_RUNTIME_FILE): where it
 *   listens, so `collie adm --data DIR` finds it; removed on a clean stop.
 * - Bodies are JSON (`Content-Type: application/json`, at most ADMIN_BODY_BYTES_MAX bytes).
 *   Success: 200 (or 201 for a creation) with the JSON documented per route. Failure: the status
 *   below and `{ "error": "<one line naming the problem and the fix>" }`.
 *     400 malformed JSON, unknown field, bad value      401 no or wrong token
 *     404 no such target / LUN / session / VDI / route   405 method not served on the path
 *     409 conflicts with the current state (LUN exists, VDI locked or in use, no store)
 *     413 body too large    500 a Collie bug (logged)   502 the store answered an error
 *
 * Routes (IQN, NAME: URL-encoded; LUN, TSIH: decimal)
 *   GET    /api/admin/status                          AdminStatus
 *   GET    /api/admin/targets                         TargetInfo[]
 *   POST   /api/admin/targets                 AddTargetRequest → 201 TargetInfo
 *   DELETE /api/admin/targets/IQN                     { removed: IQN } (its sessions are dropped)
 *   POST   /api/admin/targets/IQN/luns        AddLunRequest → 201 LunInfo
 *   DELETE /api/admin/targets/IQN/luns/LUN            { removed: LUN }
 *   POST   /api/admin/targets/IQN/luns/LUN/resize     ResizeLunRequest → LunInfo
 *   PUT    /api/admin/targets/IQN/acl         AclRequest → TargetInfo
 *   PUT    /api/admin/targets/IQN/chap        ChapRequest → TargetInfo
 *   DELETE /api/admin/targets/IQN/chap                TargetInfo       (no CHAP: AuthMethod None)
 *   GET    /api/admin/sessions                        SessionInfo[]
 *   DELETE /api/admin/sessions/TSIH[?node=N]          { killed: SessionInfo }
 *   GET    /api/admin/vdis                            VdiRow[]
 *   POST   /api/admin/vdis                    CreateVdiRequest → 201 VdiRow
 *   POST   /api/admin/vdis/NAME/snapshot      SnapshotRequest → 201 VdiRow (the snapshot)
 *   POST   /api/admin/vdis/NAME/clone         CloneRequest → 201 VdiRow (the clone)
 *   DELETE /api/admin/vdis/NAME[?snapshot=TAG|ID]     { removed: NAME }
 *   GET    /api/admin/locks                           LockRow[]
 *   DELETE /api/admin/locks/NAME                      { unlocked: NAME }
 *   GET    /api/admin/alua                            AluaRow[]
 */

/** `<data dir>/admin-token`: the bearer token, 64 hex digits and a newline, mode 0600. */
export const ADMIN_TOKEN_FILE = 'admin-token';
/** `<data dir>/admin.json`: AdminRuntimeFile while the daemon runs. */
export const ADMIN_RUNTIME_FILE = 'admin.json';
/** The admin/metrics/inspector listener of `collie up` unless --admin says otherwise. */
export const ADMIN_LISTEN_DEFAULT = { host: '127.0.0.1', port: 8260 } as const;
export const ADMIN_BODY_BYTES_MAX = 64 * 1024;
export const ADMIN_PREFIX = '/api/admin';

export interface AdminRuntimeFile {
  /** "http://127.0.0.1:8260/" */
  readonly url: string;
  readonly pid: number;
  /** ISO 8601. */
  readonly startedAt: string;
}

// ---- answers ---------------------------------------------------------------------------------------

export interface AdminStatus {
  readonly version: string;
  readonly pid: number;
  /** 'up' or 'target': which command runs. */
  readonly kind: 'up' | 'target';
  readonly startedAt: string;
  readonly uptimeSeconds: number;
  /** The target nodes this process runs (one unless `collie up --nodes N`). */
  readonly nodes: ReadonlyArray<{ readonly nodeId: number; readonly portals: readonly string[] }>;
  /** The sheep endpoint VDI and lock routes use ("127.0.0.1:7000"); absent: those routes answer 409. */
  readonly store?: string;
  readonly sessions: number;
  readonly urls: { readonly inspector: string; readonly metrics: string; readonly admin: string };
}

export interface LunInfo {
  readonly lun: number;
  /** As written: "mem:1G", "file:/x.img", "tcp:127.0.0.1:7000:vol0". */
  readonly backing: string;
  readonly sizeBytes: number;
  readonly blockSizeBytes: number;
  readonly readOnly: boolean;
  readonly thin: boolean;
}

export interface TargetInfo {
  readonly iqn: string;
  readonly alias?: string;
  /** Node ids serving it (every node of the process). */
  readonly nodes: readonly number[];
  readonly luns: readonly LunInfo[];
  /** Empty lists: everyone may log in (CHAP permitting). */
  readonly acl: { readonly initiators: readonly string[]; readonly addresses: readonly string[] };
  /** User names only; secrets never leave the daemon. */
  readonly chap: { readonly users: readonly string[]; readonly mutualUser?: string };
}

export interface SessionInfo {
  /** Node id of the target node holding it. */
  readonly node: number;
  readonly tsih: number;
  /** 12 hex digits. */
  readonly isid: string;
  readonly initiator: string;
  readonly target: string;
  /** Absent for a session whose connection is already gone. */
  readonly connection?: { readonly id: string; readonly local: string; readonly remote: string };
  /** Negotiated operational keys (HeaderDigest, MaxBurstLength, ...), as the login answered them. */
  readonly parameters: Readonly<Record<string, string>>;
  readonly activeTasks: number;
}

export interface VdiRow {
  readonly name: string;
  /** Hex, as dog prints it ("7c2b25"). */
  readonly vid: string;
  readonly snapshot: boolean;
  readonly clone: boolean;
  /** 0 for the working VDI. */
  readonly snapid: number;
  readonly tag: string;
  readonly sizeBytes: number;
  readonly usedBytes?: number;
  readonly sharedBytes?: number;
  readonly copies: number;
  /** ISO 8601. */
  readonly createdAt: string;
}

export interface LockRow {
  readonly name: string;
  readonly vid: string;
  /** 'locked' (one owner) or 'shared' (participants, the targets' lock). */
  readonly state: 'locked' | 'shared';
  /** Owner or participants as the store reports them: "127.0.0.1:7000" or "127.0.0.1:7000 (MODIFIED)". */
  readonly holders: readonly string[];
}

export interface AluaRow {
  readonly target: string;
  readonly lun: number;
  readonly policy: string;
  /** Target port group id → state name ("active/optimized", "standby", ...). */
  readonly groups: ReadonlyArray<{ readonly group: number; readonly state: string }>;
}

// ---- requests --------------------------------------------------------------------------------------

export interface AddTargetRequest {
  readonly iqn: string;
  readonly alias?: string;
}

export interface AddLunRequest {
  /** 0..16383; omitted: the lowest free number from 1. */
  readonly lun?: number;
  /** "mem:SIZE", "file:PATH[:SIZE]", "tcp:HOST:PORT:VDI" (or a VDI name alone: on the process's store). */
  readonly backing: string;
}

export interface ResizeLunRequest {
  readonly sizeBytes: number;
}

export interface AclRequest {
  readonly initiators?: readonly string[];
  readonly addresses?: readonly string[];
}

export interface ChapRequest {
  readonly user: string;
  /** 12..16 bytes is what RFC 7143 asks for; Collie refuses fewer than 12. */
  readonly secret: string;
  readonly mutual?: { readonly user: string; readonly secret: string };
}

export interface CreateVdiRequest {
  readonly name: string;
  readonly sizeBytes: number;
}

export interface SnapshotRequest {
  readonly tag?: string;
}

export interface CloneRequest {
  /** Snapshot tag or id of NAME to clone from. */
  readonly snapshot: string;
  /** The new VDI's name. */
  readonly name: string;
}

// ---- the daemon side -------------------------------------------------------------------------------

/** Thrown by an AdminControl (or the routes) to answer with this status and message. */
export class AdminError extends Error {
  constructor(
    readonly status: 400 | 401 | 404 | 405 | 409 | 413 | 502,
    message: string,
  ) {
    super(message);
    this.name = 'AdminError';
  }
}

/** What the routes call. Every method throws AdminError for a request it refuses. */
export interface AdminControl {
  status(): AdminStatus;
  targets(): TargetInfo[];
  addTarget(request: AddTargetRequest): Promise<TargetInfo>;
  removeTarget(iqn: string): Promise<void>;
  addLun(iqn: string, request: AddLunRequest): Promise<LunInfo>;
  removeLun(iqn: string, lun: number): Promise<void>;
  resizeLun(iqn: string, lun: number, request: ResizeLunRequest): Promise<LunInfo>;
  setAcl(iqn: string, request: AclRequest): TargetInfo;
  setChap(iqn: string, request: ChapRequest | undefined): TargetInfo;
  sessions(): SessionInfo[];
  /** `node` undefined: the TSIH must be unique among the nodes. */
  killSession(tsih: number, node: number | undefined): SessionInfo;
  vdis(): Promise<VdiRow[]>;
  createVdi(request: CreateVdiRequest): Promise<VdiRow>;
  snapshotVdi(name: string, request: SnapshotRequest): Promise<VdiRow>;
  cloneVdi(name: string, request: CloneRequest): Promise<VdiRow>;
  deleteVdi(name: string, snapshot: string | undefined): Promise<void>;
  locks(): Promise<LockRow[]>;
  unlock(name: string): Promise<void>;
  alua(): AluaRow[];
}

/** What `/metrics` serves (the metrics registry, src/metrics/). */
export interface MetricsText {
  /** Prometheus text exposition format 0.0.4. */
  readonly contentType: string;
  render(): Promise<string>;
}

/**
 * What the daemon gives `createDaemonControl(options): AdminControl` (src/admin/daemon-control.ts):
 * its target nodes (each a running TargetService), the store VDI and lock routes talk to, and
 * what `status` reports.
 */
export interface DaemonControlOptions {
  readonly kind: 'up' | 'target';
  readonly version: string;
  readonly startedAtMs: number;
  readonly clock: Clock;
  readonly nodes: ReadonlyArray<{
    readonly nodeId: number;
    readonly service: TargetService;
    /**
     * The store node this target node's sheepdog backends use for a LUN given as a bare VDI name
     * (`collie up --nodes N`: the --sheep port + k); default `store`. With more than one node each
     * needs its own: a store node is one participant of a VDI's shared lock.
     */
    readonly store?: Endpoint;
  }>;
  /** The sheep endpoint for VDI and lock routes (and for a LUN backing given as a bare VDI name). */
  readonly store?: Endpoint;
  /** How VDI/lock routes reach the store (a real TcpTransport in the daemon). */
  readonly transport: Transport;
  readonly logger: Logger;
  /** The HTTP server's URLs, known once it listens. */
  readonly urls: () => AdminStatus['urls'];
}
