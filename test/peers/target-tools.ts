/**
 * Small helpers for the real-initiator tests of `collie target` (target-*.test.ts): running the
 * libiscsi command-line tools and qemu-img with bounded time, reading their output, and making
 * deterministic test images.
 *
 * libiscsi 1.19 facts the tests rely on (checked against its sources and binaries):
 * - iscsi-inq, iscsi-ls and iscsi-readcapacity16 call iscsi_set_header_digest(NONE_CRC32C) after
 *   parsing the URL, so a `?header_digest=crc32c` URL argument has no effect on them; qemu's
 *   `header-digest=crc32c` block option does force "HeaderDigest=CRC32C".
 * - libiscsi always offers DataDigest=None: no libiscsi initiator can use data digests.
 * - CHAP: `iscsi://USER%SECRET@HOST:PORT/...` (or LIBISCSI_CHAP_USERNAME/_PASSWORD); the target's
 *   account for mutual CHAP is `?target_user=U&target_password=P` on the URL or
 *   LIBISCSI_CHAP_TARGET_USERNAME/_PASSWORD in the environment.
 * - iscsi-inq prints binary designators (NAA) as raw bytes, so its output is read as latin1.
 */
import { writeFile } from 'node:fs/promises';
import { runProcess } from '../support/processes.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;

export interface ToolRun {
  exitCode: number | null;
  /** stdout as latin1 (binary-safe). */
  stdout: string;
  stderr: string;
  durationMs: number;
  /** The command line and its output, for assertion messages. */
  describe: string;
}

/** Runs a tool to completion (SIGKILLed after timeoutMs, which then rejects). */
export async function runTool(
  tool: string,
  args: readonly string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<ToolRun> {
  const run = await runProcess(tool, args, {
    timeoutMs: options.timeoutMs ?? 20_000,
    env: options.env ? { ...process.env, ...options.env } : undefined,
  });
  const stdout = run.stdout.toString('latin1');
  const stderr = run.stderr.toString();
  const status = run.signal ? `signal ${run.signal}` : `exit ${run.exitCode}`;
  return {
    exitCode: run.exitCode,
    stdout,
    stderr,
    durationMs: run.durationMs,
    describe: `${tool} ${args.join(' ')} (${status}, ${run.durationMs} ms)\n${stdout}${stderr}`,
  };
}

/**
 * The designators of a VPD page 0x83 printout (`iscsi-inq -e 1 -c 131`) whose association is
 * the logical unit (not the target port), each as its lines without the "#N" header.
 */
export function logicalUnitDesignators(inquiryOutput: string): string[] {
  return inquiryOutput
    .split(/DEVICE DESIGNATOR #\d+\n/)
    .slice(1)
    .filter((block) => block.includes('Association:(0) LOGICAL_UNIT'))
    .map((block) => block.trim());
}

/** The `Unit Serial Number:[...]` of a VPD page 0x80 printout, or undefined. */
export function unitSerialNumber(inquiryOutput: string): string | undefined {
  return /Unit Serial Number:\[([^\]]*)\]/.exec(inquiryOutput)?.[1];
}

/**
 * sizeBytes of deterministic bytes: pseudo-random 64 KiB runs (a seeded xorshift32) alternating
 * with zero runs, so a copy exercises both data and holes.
 */
export function testImage(sizeBytes: number, seed: number): Buffer {
  const image = Buffer.alloc(sizeBytes);
  let state = seed >>> 0 || 1;
  const runBytes = 64 * KiB;
  for (let offset = 0; offset < sizeBytes; offset += runBytes) {
    if ((offset / runBytes) % 3 === 2) continue; // every third run stays zero
    for (let at = offset; at < Math.min(offset + runBytes, sizeBytes); at += 4) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      image.writeUInt32LE(state >>> 0, at);
    }
  }
  return image;
}

/** Writes testImage(sizeBytes, seed) to path. */
export async function writeTestImage(path: string, sizeBytes: number, seed: number): Promise<void> {
  await writeFile(path, testImage(sizeBytes, seed));
}
