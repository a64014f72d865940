/**
 * Goal: `collie target` serves every kind of backing store (memory, file, a sheepdog VDI on the
 * embedded store) correctly to real initiators: discovery, INQUIRY with its VPD pages, READ
 * CAPACITY(16), I/O at awkward offsets and sizes, and whole-disk copies both ways.
 *
 * Method: per backend, one real `collie target` exporting a 32 MiB LUN 1. iscsi-ls -s,
 * iscsi-inq (standard, VPD 0x80 and 0x83) and iscsi-readcapacity16 check what the LUN says;
 * qemu-io writes and reads patterns larger than 1 MiB, at offsets that are 512- but not
 * 4 KiB-aligned, at odd byte offsets (qemu read-modify-writes) and at the last bytes, checking the
 * untouched bytes around them stay zero; qemu-img convert copies a deterministic image with holes
 * into the LUN and back, and `cmp` compares the bytes. The file and sheepdog backends are then
 * read by a second way (the backing file itself; `collie vdi read`). Skipped without the tools,
 * except in CI.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  collieVdi,
  type SheepHandle,
  startSheep,
  startTarget,
  type TargetHandle,
} from '../support/collie.js';
import { allocatePort } from '../support/ports.js';
import { qemuIo, readPattern, writePattern } from '../support/qemu-io.js';
import { requireTool } from '../support/tools.js';
import {
  KiB,
  logicalUnitDesignators,
  MiB,
  runTool,
  testImage,
  unitSerialNumber,
  writeTestImage,
} from './target-tools.js';

const tools = ['qemu-io', 'qemu-img', 'iscsi-ls', 'iscsi-inq', 'iscsi-readcapacity16', 'cmp'];
const hasTools = tools.map(requireTool).every(Boolean);

const LUN_BYTES = 32 * MiB;
const VDI_NAME = 'vol';
const IMAGE_SEED = 0xc0111e;

/** Written through qemu-io, then read back with the zeros around them. */
const PATTERNS = [
  {
    what: '3 MiB at a 512- but not 4 KiB-aligned offset',
    pattern: 0xa1,
    offset: 1 * MiB + 512,
    length: 3 * MiB,
  },
  { what: '70001 bytes at an odd byte offset', pattern: 0xb2, offset: 9 * MiB + 4099, length: 70_001 },
  { what: '1 MiB + 512 across 8 MiB', pattern: 0xc3, offset: 8 * MiB - 256 * KiB, length: 1 * MiB + 512 },
  { what: 'the last 64 KiB of the LUN', pattern: 0xd4, offset: LUN_BYTES - 64 * KiB, length: 64 * KiB },
];

interface Backend {
  name: string;
  /** The --lun backing text; may start servers (the store). */
  backing(dir: string): Promise<string>;
  /** Reads [offset, offset+length) of the backing store by another way than iSCSI, if there is one. */
  readDirect?(dir: string, offset: number, length: number): Promise<Buffer>;
}

let sheep: SheepHandle | undefined;
let sheepPort = 0;

const BACKENDS: Backend[] = [
  { name: 'mem', backing: async () => 'mem:32M' },
  {
    name: 'file',
    backing: async (dir) => `file:${join(dir, 'lun.img')}:32M`,
    readDirect: async (dir, offset, length) =>
      (await readFile(join(dir, 'lun.img'))).subarray(offset, offset + length),
  },
  {
    name: 'sheepdog',
    backing: async (dir) => {
      sheepPort = await allocatePort();
      sheep = await startSheep({
        storeDir: join(dir, 'store'),
        listen: [{ host: '127.0.0.1', port: sheepPort }],
      });
      const created = await collieVdi(['create', VDI_NAME, String(LUN_BYTES), '-p', String(sheepPort)]);
      if (created.exitCode !== 0) throw new Error(`collie vdi create ${VDI_NAME}: ${created.stderr}`);
      return `tcp:127.0.0.1:${sheepPort}:${VDI_NAME}`;
    },
    readDirect: async (_dir, offset, length) => {
      const run = await collieVdi([
        'read',
        VDI_NAME,
        String(offset),
        String(length),
        '-p',
        String(sheepPort),
      ]);
      if (run.exitCode !== 0) throw new Error(`collie vdi read: ${run.stderr}`);
      return run.stdout;
    },
  },
];

describe.skipIf(!hasTools).each(BACKENDS)('collie target with a $name LUN', (backend) => {
  let dir = '';
  let target: TargetHandle | undefined;
  const iqn = `iqn.2026-11.test.collie:backend-${backend.name}`;
  const url = () => target!.url(1);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `collie-target-${backend.name}-`));
    const backing = await backend.backing(dir);
    target = await startTarget({
      portal: { host: '127.0.0.1', port: await allocatePort() },
      iqn,
      luns: [{ lun: 1, backing }],
    });
  });

  afterAll(async () => {
    await target?.stop();
    await sheep?.stop();
    sheep = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('iscsi-ls -s lists the target, its portal and a disk LUN 1', async () => {
    const portal = `127.0.0.1:${target!.options.portal.port}`;
    const run = await runTool('iscsi-ls', ['-s', `iscsi://${portal}`]);
    expect(run.exitCode, run.describe).toBe(0);
    expect(run.stdout).toContain(`Target:${iqn} Portal:${portal},1`);
    expect(run.stdout).toMatch(/Lun:1\s+Type:DIRECT_ACCESS/);
  });

  test('iscsi-inq: the standard INQUIRY of a disk', async () => {
    const run = await runTool('iscsi-inq', [url()]);
    expect(run.exitCode, run.describe).toBe(0);
    expect(run.stdout).toContain('Peripheral Qualifier:CONNECTED');
    expect(run.stdout).toContain('Peripheral Device Type:DIRECT_ACCESS');
    expect(run.stdout).toMatch(/^Vendor:COLLIE/m);
  });

  test('iscsi-inq: VPD 0x80 has a serial number, VPD 0x83 names the LU and the target port', async () => {
    const serial = await runTool('iscsi-inq', ['-e', '1', '-c', '128', url()]);
    expect(serial.exitCode, serial.describe).toBe(0);
    expect(unitSerialNumber(serial.stdout), serial.describe).toMatch(/^\S+$/);
    const identification = await runTool('iscsi-inq', ['-e', '1', '-c', '131', url()]);
    expect(identification.exitCode, identification.describe).toBe(0);
    expect(identification.stdout).toContain('Page Code:(0x83) DEVICE_IDENTIFICATION');
    const lu = logicalUnitDesignators(identification.stdout);
    expect(
      lu.some((block) => block.includes('Designator Type:(3) NAA')),
      identification.describe,
    ).toBe(true);
    expect(identification.stdout).toContain(`Designator:[${iqn},t,0x0001]`);
  });

  test('iscsi-readcapacity16: 32 MiB in 512-byte blocks', async () => {
    const run = await runTool('iscsi-readcapacity16', [url()]);
    expect(run.exitCode, run.describe).toBe(0);
    expect(run.stdout).toContain(`RETURNED LOGICAL BLOCK ADDRESS:${LUN_BYTES / 512 - 1}`);
    expect(run.stdout).toContain('LOGICAL BLOCK LENGTH IN BYTES:512');
    expect(run.stdout).toContain(`Total size:${LUN_BYTES}`);
  });

  test('qemu-io: large, unaligned and last-block writes read back, their neighbours stay zero', async () => {
    for (const range of PATTERNS) {
      const wrote = await writePattern(url(), range);
      expect(wrote.ok, `${range.what}: ${wrote.output}`).toBe(true);
    }
    for (const range of PATTERNS) {
      const read = await readPattern(url(), range);
      expect(read.ok, `${range.what}: ${read.output}`).toBe(true);
      const before = { pattern: 0, offset: range.offset - 4 * KiB, length: 4 * KiB };
      const after = { pattern: 0, offset: range.offset + range.length, length: 4 * KiB };
      for (const neighbour of [before, after]) {
        if (neighbour.offset + neighbour.length > LUN_BYTES) continue;
        const zeros = await readPattern(url(), neighbour);
        expect(zeros.ok, `next to ${range.what}: ${zeros.output}`).toBe(true);
      }
    }
    const beyond = await qemuIo(url(), [`read ${LUN_BYTES} 512`]);
    expect(beyond.read).toBe(0);
    expect(beyond.errors.join('\n')).toMatch(/read failed/);
  });

  test('qemu-img convert copies an image with holes into the LUN and back, byte for byte', async () => {
    const source = join(dir, 'source.raw');
    const back = join(dir, 'back.raw');
    await writeTestImage(source, LUN_BYTES, IMAGE_SEED);
    // -n: the LUN exists; its old patterns must be overwritten, holes included.
    const into = await runTool('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', source, url()], {
      timeoutMs: 60_000,
    });
    expect(into.exitCode, into.describe).toBe(0);
    const out = await runTool('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', url(), back], {
      timeoutMs: 60_000,
    });
    expect(out.exitCode, out.describe).toBe(0);
    const compare = await runTool('cmp', [source, back]);
    expect(compare.exitCode, compare.describe).toBe(0);
    process.stdout.write(
      `${backend.name}: qemu-img convert of ${LUN_BYTES / MiB} MiB into the LUN ${into.durationMs} ms, out ${out.durationMs} ms\n`,
    );
  });

  const readDirect = backend.readDirect;
  if (!readDirect) return; // memory: no second way in

  test('the backing store itself holds the copied bytes', async () => {
    const image = testImage(LUN_BYTES, IMAGE_SEED);
    for (const [offset, length] of [
      [0, 256 * KiB],
      [4 * MiB - 96 * KiB, 256 * KiB],
      [LUN_BYTES - 256 * KiB, 256 * KiB],
    ] as const) {
      const bytes = await readDirect(dir, offset, length);
      expect(bytes.equals(image.subarray(offset, offset + length)), `bytes at ${offset}+${length}`).toBe(
        true,
      );
    }
  });
});

describe.skipIf(!hasTools)('two collie targets exporting one sheepdog VDI', () => {
  let dir = '';
  let store: SheepHandle | undefined;
  const targets: TargetHandle[] = [];

  afterAll(async () => {
    for (const target of targets) await target.stop();
    await store?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('show the same logical unit identity (VPD 0x83 LU designators and VPD 0x80 serial)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'collie-target-identity-'));
    // One store endpoint (sheep node) per target: a node holds one lock per VDI.
    const storePorts = [await allocatePort(), await allocatePort()];
    store = await startSheep({
      storeDir: join(dir, 'store'),
      listen: storePorts.map((port) => ({ host: '127.0.0.1', port })),
    });
    for (const name of ['shared', 'other']) {
      const created = await collieVdi(['create', name, String(LUN_BYTES), '-p', String(storePorts[0])]);
      expect(created.exitCode, created.stderr).toBe(0);
    }
    for (const [index, name] of ['a', 'b'].entries()) {
      targets.push(
        await startTarget({
          portal: { host: '127.0.0.1', port: await allocatePort() },
          iqn: `iqn.2026-11.test.collie:identity-${name}`,
          luns: [
            { lun: 1, backing: `tcp:127.0.0.1:${storePorts[index]}:shared` },
            { lun: 2, backing: `tcp:127.0.0.1:${storePorts[index]}:other` },
          ],
        }),
      );
    }
    const identity = async (target: TargetHandle, lun: number) => {
      const page83 = await runTool('iscsi-inq', ['-e', '1', '-c', '131', target.url(lun)]);
      expect(page83.exitCode, page83.describe).toBe(0);
      const page80 = await runTool('iscsi-inq', ['-e', '1', '-c', '128', target.url(lun)]);
      expect(page80.exitCode, page80.describe).toBe(0);
      return { designators: logicalUnitDesignators(page83.stdout), serial: unitSerialNumber(page80.stdout) };
    };
    const [a, b] = targets as [TargetHandle, TargetHandle];
    const sharedViaA = await identity(a, 1);
    const sharedViaB = await identity(b, 1);
    expect(sharedViaA.designators.length).toBeGreaterThan(0);
    expect(sharedViaA.serial).toBeDefined();
    expect(sharedViaB).toEqual(sharedViaA);
    // A different VDI is a different logical unit.
    const otherViaA = await identity(a, 2);
    expect(otherViaA.serial).not.toBe(sharedViaA.serial);
    expect(otherViaA.designators).not.toEqual(sharedViaA.designators);
    // And the two paths are one disk: what one writes, the other reads.
    const range = { pattern: 0x77, offset: 5 * MiB + 512, length: 1 * MiB };
    const wrote = await writePattern(a.url(1), range);
    expect(wrote.ok, wrote.output).toBe(true);
    const read = await readPattern(b.url(1), range);
    expect(read.ok, read.output).toBe(true);
  });
});
