/**
 * Goal: `collie vdi ...` behaves like dog against Collie's embedded store: create, list, write
 * (fresh, overwrite, across objects, COW after a snapshot), read (whole, ranges, snapshots),
 * snapshot, delete, lock list/unlock, and one-line errors with exit code 1 that name the thing
 * and the fix. read and write are lock-less (no shared-lock participation): a write invalidates
 * the VDI's targets on this store, and a normally locked VDI is refused.
 * Method: the real store (MemoryObjectStore, TcpTransport on 127.0.0.1, port 0, locking on) and
 * the real commander wiring; stdout/stderr/stdin and the exit code are injected and captured.
 * Expected bytes are built independently in the test (patterns per offset).
 */
import { PassThrough } from 'node:stream';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { registerVdiCommands, type VdiCliDeps } from '../../src/cli/vdi.js';
import { VDI_LIST_HEADER } from '../../src/cli/vdi-format.js';
import { EventLog } from '../../src/core/event-log.js';
import { silentLogger } from '../../src/core/logger.js';
import { realClock } from '../../src/core/real-clock.js';
import { lockVdi, releaseVdi } from '../../src/sheepdog/sheep-admin.js';
import { SheepConnection } from '../../src/sheepdog/sheep-connection.js';
import { LockType } from '../../src/sheepdog/wire/constants.js';
import { MemoryObjectStore } from '../../src/store/memory-object-store.js';
import { SheepStore } from '../../src/store/sheep-store.js';
import { TcpTransport } from '../../transports/tcp.js';
import type { Endpoint } from '../../transports/transport.js';

const MiB = 1024 * 1024;

interface RunResult {
  readonly code: number;
  readonly stdout: Buffer;
  readonly stderr: string;
}

let store: SheepStore;
let endpoint: Endpoint;

beforeEach(async () => {
  store = await SheepStore.open({
    objects: new MemoryObjectStore(),
    defaults: { copies: 1, copyPolicy: 0, blockSizeShift: 22 },
    locking: true,
    transport: new TcpTransport(),
    listen: [{ host: '127.0.0.1', port: 0 }],
    clock: realClock,
    eventLog: new EventLog(realClock),
    logger: silentLogger,
  });
  endpoint = store.nodes()[0]!.endpoint;
});

afterEach(async () => {
  await store.close();
});

/** Runs `collie vdi ARGS` (with -p of the test store) and captures everything. */
async function vdi(
  args: string[],
  stdin: Buffer = Buffer.alloc(0),
  port = endpoint.port,
  terminal: Partial<Pick<VdiCliDeps, 'progressClock' | 'stdinBytes'>> & { stderrIsTTY?: boolean } = {},
): Promise<RunResult> {
  const stdout = new PassThrough();
  const stderr = Object.assign(new PassThrough(), { isTTY: terminal.stderrIsTTY === true });
  const outChunks: Buffer[] = [];
  const errChunks: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => outChunks.push(chunk));
  stderr.on('data', (chunk: Buffer) => errChunks.push(chunk));
  let code = 0;
  const program = new Command('collie').exitOverride();
  registerVdiCommands(program, {
    transport: new TcpTransport(),
    clock: realClock,
    stdout,
    stderr,
    stdin: (async function* () {
      if (stdin.length > 0) yield stdin;
    })(),
    setExitCode: (value) => {
      code = value;
    },
    ...(terminal.progressClock === undefined ? {} : { progressClock: terminal.progressClock }),
    ...(terminal.stdinBytes === undefined ? {} : { stdinBytes: terminal.stdinBytes }),
  });
  // Sub-subcommands ("lock list") take -p after their own name.
  await program.parseAsync(['vdi', ...args, '-p', String(port)], { from: 'user' });
  return { code, stdout: Buffer.concat(outChunks), stderr: Buffer.concat(errChunks).toString() };
}

/** Deterministic test bytes: byte i of the pattern is (seed + i * 7) & 0xff. */
function pattern(lengthBytes: number, seed: number): Buffer {
  const out = Buffer.alloc(lengthBytes);
  for (let i = 0; i < lengthBytes; i++) out[i] = (seed + i * 7) & 0xff;
  return out;
}

describe('collie vdi against the embedded store', () => {
  test('create, write across an object boundary, read back ranges and the whole VDI', async () => {
    expect((await vdi(['create', 'vol0', '12M'])).code).toBe(0);
    const data = pattern(3 * MiB, 1);
    const written = await vdi(['write', 'vol0', String(3 * MiB)], data);
    expect(written.stderr).toBe('');
    expect(written.code).toBe(0);

    const range = await vdi(['read', 'vol0', String(3 * MiB), String(3 * MiB)]);
    expect(range.code).toBe(0);
    expect(range.stdout.equals(data)).toBe(true);

    const whole = await vdi(['read', 'vol0']);
    expect(whole.stdout.length).toBe(12 * MiB);
    expect(whole.stdout.subarray(0, 3 * MiB).every((b) => b === 0)).toBe(true);
    expect(whole.stdout.subarray(3 * MiB, 6 * MiB).equals(data)).toBe(true);
    expect(whole.stdout.subarray(6 * MiB).every((b) => b === 0)).toBe(true);
  });

  test('an overwrite inside an allocated object keeps the bytes around it', async () => {
    await vdi(['create', 'vol0', '8M']);
    await vdi(['write', 'vol0', '0'], pattern(MiB, 3));
    await vdi(['write', 'vol0', '4096', '4096'], Buffer.alloc(8192, 0xee));
    const read = await vdi(['read', 'vol0', '0', '1M']);
    const expected = pattern(MiB, 3);
    expected.fill(0xee, 4096, 8192);
    expect(read.stdout.equals(expected)).toBe(true);
  });

  test('snapshot, then a write COWs: the snapshot keeps the old bytes, the VDI has old + new', async () => {
    await vdi(['create', 'vol0', '8M']);
    await vdi(['write', 'vol0'], pattern(4 * MiB, 5));
    expect((await vdi(['snapshot', '-s', 'before', 'vol0'])).code).toBe(0);
    await vdi(['write', 'vol0', '1M', '4096'], Buffer.alloc(4096, 0xab));

    const snap = await vdi(['read', '-s', 'before', 'vol0', '0', '4M']);
    expect(snap.stdout.equals(pattern(4 * MiB, 5))).toBe(true);
    const snapById = await vdi(['read', '-s', '1', 'vol0', '0', '4M']);
    expect(snapById.stdout.equals(snap.stdout)).toBe(true);

    const current = await vdi(['read', 'vol0', '0', '4M']);
    const expected = pattern(4 * MiB, 5);
    expected.fill(0xab, MiB, MiB + 4096);
    expect(current.stdout.equals(expected)).toBe(true);

    const again = await vdi(['snapshot', '-s', 'before', 'vol0']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already has a snapshot tagged "before"');
  });

  test('list shows the working VDI and its snapshot like dog, and raw mode has exact numbers', async () => {
    await vdi(['create', 'vol0', '8M']);
    await vdi(['write', 'vol0'], pattern(4096, 9));
    await vdi(['snapshot', '-s', 'snap1', 'vol0']);
    const listed = await vdi(['list']);
    const lines = listed.stdout.toString().trimEnd().split('\n');
    expect(lines[0]).toBe(VDI_LIST_HEADER);
    expect(lines).toHaveLength(3);
    expect(lines.some((line) => /^s vol0\s+1\s+8\.0 MB\s+4\.0 MB\s+0\.0 MB .* snap1\s+22$/.test(line))).toBe(
      true,
    );
    expect(lines.some((line) => /^ {2}vol0\s+0\s+8\.0 MB\s+0\.0 MB\s+4\.0 MB /.test(line))).toBe(true);

    const raw = (await vdi(['list', '-r'])).stdout.toString().trimEnd().split('\n');
    expect(raw).toHaveLength(2);
    expect(raw.some((line) => /^s vol0 1 8388608 4194304 0 \d+ [0-9a-f]+ 1 snap1 22$/.test(line))).toBe(true);
    expect(raw.some((line) => /^= vol0 0 8388608 0 4194304 \d+ [0-9a-f]+ 1 {2}22$/.test(line))).toBe(true);
  });

  test('delete removes the VDI; later lookups say not found with the create hint', async () => {
    await vdi(['create', 'vol0', '8M']);
    await vdi(['write', 'vol0'], pattern(4096, 2));
    expect((await vdi(['delete', 'vol0'])).code).toBe(0);
    const read = await vdi(['read', 'vol0']);
    expect(read.code).toBe(1);
    expect(read.stderr).toBe(
      `VDI "vol0" not found on 127.0.0.1:${endpoint.port} (create it: collie vdi create vol0 10G -p ${endpoint.port})\n`,
    );
    expect((await vdi(['list'])).stdout.toString().trimEnd().split('\n')).toHaveLength(1);
  });

  test('lock list shows a shared lock with its participant, and unlock releases it', async () => {
    await vdi(['create', 'vol0', '8M']);
    const conn = await SheepConnection.open(new TcpTransport(), endpoint, { clock: realClock });
    await lockVdi(conn, { name: 'vol0', type: LockType.SHARED });
    conn.close();
    const listed = (await vdi(['lock', 'list'])).stdout.toString();
    expect(listed).toMatch(
      new RegExp(`vol0\\s+83d61e\\s+shared\\s+127\\.0\\.0\\.1:${endpoint.port} \\(MODIFIED\\)`),
    );
    const unlocked = await vdi(['lock', 'unlock', 'vol0']);
    expect(unlocked.stderr).toBe('');
    expect(unlocked.code).toBe(0);
    expect((await vdi(['lock', 'list'])).stdout.toString().trimEnd().split('\n')).toHaveLength(1);
    const again = await vdi(['lock', 'unlock', 'vol0']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('is not locked');
  });

  test('write is lock-less: a target holding the VDI is invalidated (this store says so), a normal lock refuses it', async () => {
    await vdi(['create', 'vol0', '8M']);
    const conn = await SheepConnection.open(new TcpTransport(), endpoint, { clock: realClock });
    const { vid } = await lockVdi(conn, { name: 'vol0', type: LockType.SHARED });
    const node = `127.0.0.1:${endpoint.port}`;
    expect(store.locks.participantState(vid, node)).toBe('modified');
    const written = await vdi(['write', 'vol0', '1000'], pattern(5000, 4));
    expect(written.stderr).toBe('');
    expect(written.code).toBe(0);
    // The write holds no lock and joined nobody, yet the store invalidated the target's node.
    expect(store.locks.view(vid).participants).toEqual([{ node, state: 'invalidated' }]);
    expect((await vdi(['read', 'vol0', '1000', '5000'])).stdout.equals(pattern(5000, 4))).toBe(true);
    await releaseVdi(conn, { vid, type: LockType.SHARED });

    await lockVdi(conn, { name: 'vol0', type: LockType.NORMAL });
    const refused = await vdi(['write', 'vol0', '0'], pattern(512, 5));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      new RegExp(
        `^VDI "vol0" is locked exclusively \\(normal lock, e\\.g\\. qemu\\) through ${node.replace(/\./g, '\\.')}.*collie vdi lock unlock vol0 -a 127\\.0\\.0\\.1 -p ${endpoint.port}\\) and retry\n$`,
      ),
    );
    conn.close();
  });

  test('errors are one line naming the thing and the fix, with exit code 1', async () => {
    const tooBig = await vdi(['create', 'big', '5T']);
    expect(tooBig.code).toBe(1);
    expect(tooBig.stderr).toContain('too large');
    const badSize = await vdi(['create', 'x', '10Q']);
    expect(badSize.stderr).toContain('SIZE "10Q" is not a size');
    await vdi(['create', 'vol0', '8M']);
    const exists = await vdi(['create', 'vol0', '8M']);
    expect(exists.stderr).toContain('VDI "vol0" already exists');
    const beyond = await vdi(['read', 'vol0', '9M']);
    expect(beyond.stderr).toContain('beyond the end');
    const noTag = await vdi(['read', '-s', 'nope', 'vol0']);
    expect(noTag.stderr).toContain('snapshot "nope" of VDI "vol0" not found');
  });

  test('read and write show a progress line on a terminal stderr; none with --no-progress', async () => {
    await vdi(['create', 'vol0', '16M']);
    // A clock that moves 1 s each time it is read: every update is due for a redraw.
    let ms = 0;
    const progressClock = { now: () => (ms += 1_000) };
    const tty = { stderrIsTTY: true, progressClock };
    const data = pattern(8 * MiB, 9);
    const written = await vdi(['write', 'vol0', '4M'], data, endpoint.port, {
      ...tty,
      stdinBytes: data.length,
    });
    expect(written.code).toBe(0);
    // Each redraw is "\r" LINE "\x1b[K" (clear to the end of the line); finish ends with "\n".
    const redraws = (stderr: string) => stderr.split('\r').slice(1);
    expect(written.stderr.startsWith('\r')).toBe(true);
    expect(written.stderr.endsWith('\x1b[K\n')).toBe(true);
    expect(redraws(written.stderr).at(-1)).toMatch(/^vdi write: 8\.0 MB \/ 8\.0 MB \(100%\), [\d.]+ MB\/s/);

    const read = await vdi(['read', 'vol0', '4M', '8M'], Buffer.alloc(0), endpoint.port, tty);
    expect(read.stdout.equals(data)).toBe(true);
    expect(redraws(read.stderr)[0]).toMatch(/^vdi read: 4\.0 MB \/ 8\.0 MB \(50%\), [\d.]+ MB\/s, 1s left/);
    expect(redraws(read.stderr).at(-1)).toMatch(/^vdi read: 8\.0 MB \/ 8\.0 MB \(100%\), [\d.]+ MB\/s/);
    expect(read.stderr.endsWith('\x1b[K\n')).toBe(true);

    const quiet = await vdi(
      ['read', '--no-progress', 'vol0', '4M', '8M'],
      Buffer.alloc(0),
      endpoint.port,
      tty,
    );
    expect(quiet.stdout.equals(data)).toBe(true);
    expect(quiet.stderr).toBe('');
  });

  test('an unreachable sheep gets the "is it running?" hint', async () => {
    const listener = await new TcpTransport().listen({ host: '127.0.0.1', port: 0 }, () => {});
    const port = listener.address.port;
    await listener.close();
    const result = await vdi(['list'], Buffer.alloc(0), port);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `cannot reach sheep at 127.0.0.1:${port} (is it running? start one: collie sheep --store DIR --listen 127.0.0.1:${port})\n`,
    );
  });
});
