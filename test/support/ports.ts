/**
 * TCP ports and tgtd control channels for tests that start real servers.
 *
 * Theory: vitest runs test files in parallel workers (VITEST_POOL_ID = 1, 2, ...), and other test
 * runs may share the machine. Each worker gets its own slice of the port range and starts at a
 * pid-dependent offset inside it, so concurrent files rarely even try the same port; a bind on
 * 127.0.0.1 then proves the port free, and a port is never handed out twice in one process.
 * The default range is 4-digit (1024..9999) because tgt 1.0.85 truncates a sheepdog
 * backing-store port to its first 4 digits; it is also below Linux's ephemeral range
 * (32768+), so outgoing connections never take these ports meanwhile.
 *
 * tgtd's control channel `-C N` names /var/run/tgtd/socket.N; tgtd accepts 0..32767 and 0 is the
 * system daemon's default. N comes from a block of 50 chosen by pid and worker, is never reused in
 * the process, and is skipped when a live tgtd already answers on that socket.
 */
import { createConnection, createServer } from 'node:net';

export const FOUR_DIGIT_PORT_MIN = 1024;
export const FOUR_DIGIT_PORT_MAX = 9999;

/** Ports other software on a test machine may expect to own (iSCSI, iSNS, sheep's default). */
const WELL_KNOWN_PORTS = new Set([3205, 3260, 7000]);
const WORKER_SLICES = 16;
const issuedPorts = new Set<number>();

/** This vitest worker's number (1-based); 1 outside vitest. */
export function workerId(): number {
  const parsed = Number.parseInt(process.env.VITEST_POOL_ID ?? '1', 10);
  return Number.isInteger(parsed) && parsed > 0 ? parsed : 1;
}

export interface PortRange {
  /** Lowest port to consider; default 1024. */
  min?: number;
  /** Highest port to consider; default 9999. */
  max?: number;
}

/** True when 127.0.0.1:port can be bound right now. */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Candidate ports for this worker: its own slice first (from a pid-based offset), then the rest. */
function candidatePorts(min: number, max: number): number[] {
  const size = max - min + 1;
  const sliceSize = Math.max(1, Math.floor(size / WORKER_SLICES));
  const sliceStart = min + ((workerId() - 1) % WORKER_SLICES) * sliceSize;
  const offset = (process.pid * 37) % sliceSize;
  const ordered: number[] = [];
  for (let i = 0; i < size; i++) {
    const port = min + ((sliceStart - min + offset + i) % size);
    ordered.push(port);
  }
  return ordered;
}

/** A free TCP port on 127.0.0.1, 4-digit by default, never returned twice by this process. */
export async function allocatePort(range: PortRange = {}): Promise<number> {
  const min = range.min ?? FOUR_DIGIT_PORT_MIN;
  const max = range.max ?? FOUR_DIGIT_PORT_MAX;
  if (!(Number.isInteger(min) && Number.isInteger(max) && min >= 1 && max <= 65535 && min <= max)) {
    throw new Error(`allocatePort: bad range ${min}..${max}; use integers with 1 <= min <= max <= 65535`);
  }
  for (const port of candidatePorts(min, max)) {
    if (issuedPorts.has(port) || WELL_KNOWN_PORTS.has(port)) continue;
    if (await isPortFree(port)) {
      issuedPorts.add(port);
      return port;
    }
  }
  throw new Error(
    `allocatePort: no free port in ${min}..${max} on 127.0.0.1; stop stray servers or widen the range`,
  );
}

/** count distinct free ports (see allocatePort). */
export async function allocatePorts(count: number, range: PortRange = {}): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await allocatePort(range));
  return ports;
}

/**
 * `count` consecutive free ports P, P+1, ... (for `collie up --nodes N`, which listens on the
 * --portal and --sheep ports counting up), none handed out before by this process.
 */
export async function allocateConsecutivePorts(count: number, range: PortRange = {}): Promise<number[]> {
  const min = range.min ?? FOUR_DIGIT_PORT_MIN;
  const max = range.max ?? FOUR_DIGIT_PORT_MAX;
  if (!(Number.isInteger(count) && count >= 1 && count <= max - min + 1)) {
    throw new Error(`allocateConsecutivePorts: cannot fit ${count} ports in ${min}..${max}`);
  }
  for (const first of candidatePorts(min, max - count + 1)) {
    const ports = Array.from({ length: count }, (_, k) => first + k);
    if (ports.some((port) => issuedPorts.has(port) || WELL_KNOWN_PORTS.has(port))) continue;
    let free = true;
    for (const port of ports) {
      if (!(await isPortFree(port))) {
        free = false;
        break;
      }
    }
    if (!free) continue;
    for (const port of ports) issuedPorts.add(port);
    return ports;
  }
  throw new Error(
    `allocateConsecutivePorts: no ${count} consecutive free ports in ${min}..${max} on 127.0.0.1; stop stray servers`,
  );
}

export const TGT_CONTROL_PORT_MIN = 100;
const TGT_CONTROL_BLOCK = 50;
const TGT_CONTROL_BLOCKS = 640; // 100 + 640 * 50 = 32100 <= 32767, tgtd's limit
const issuedControlPorts = new Set<number>();
let controlSequence = 0;

/** The unix socket tgtd and tgtadm use for control channel N. */
export function tgtControlSocketPath(controlPort: number): string {
  return `/var/run/tgtd/socket.${controlPort}`;
}

/** True when a tgtd answers on control channel N (its socket accepts a connection). */
export function isTgtControlPortInUse(controlPort: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(tgtControlSocketPath(controlPort));
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A tgtd control channel number no live tgtd uses, never returned twice by this process. */
export async function allocateTgtControlPort(): Promise<number> {
  const firstBlock =
    ((process.pid % 40) * WORKER_SLICES + ((workerId() - 1) % WORKER_SLICES)) % TGT_CONTROL_BLOCKS;
  for (let attempt = 0; attempt < TGT_CONTROL_BLOCKS * TGT_CONTROL_BLOCK; attempt++) {
    const sequence = controlSequence++;
    // Once this block's 50 numbers are used, move on by a whole pid bucket (16 blocks).
    const block =
      (firstBlock + Math.floor(sequence / TGT_CONTROL_BLOCK) * WORKER_SLICES) % TGT_CONTROL_BLOCKS;
    const candidate = TGT_CONTROL_PORT_MIN + block * TGT_CONTROL_BLOCK + (sequence % TGT_CONTROL_BLOCK);
    if (issuedControlPorts.has(candidate)) continue;
    issuedControlPorts.add(candidate);
    if (!(await isTgtControlPortInUse(candidate))) return candidate;
  }
  throw new Error('allocateTgtControlPort: every tgtd control channel is used; stop stray tgtd processes');
}
