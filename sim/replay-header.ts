/**
 * The first line of a simulator event file (`collie sim run --events FILE`): what the run was, so
 * `collie sim replay FILE` can run it again. The version says which line format follows; it does
 * not depend on git, so a file stays replayable as long as the simulator's behaviour is the same
 * (a changed digest then means the code changed what happens, which is what replay is for).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { TestOnlyClientBug } from '../src/sheepdog/client/io-runner.js';
import type { FaultClass } from './faults.js';

export const SIM_EVENTS_FORMAT = 'collie-sim-events';
export const SIM_EVENTS_VERSION = 1;

export interface RunHeader {
  readonly scenario: string;
  readonly seed: number;
  readonly coherence: boolean;
  readonly clientBug: TestOnlyClientBug | null;
  readonly faults: readonly FaultClass[];
  /** A test-only switch of any layer (sim/mutants.ts); absent in files written before it. */
  readonly mutant?: string | null;
}

/** Creates (truncates) `path` with the header line; the events are appended after it. */
export function writeHeaderLine(path: string, header: RunHeader): void {
  const line = JSON.stringify({ format: SIM_EVENTS_FORMAT, version: SIM_EVENTS_VERSION, ...header });
  writeFileSync(path, `${line}\n`);
}

export class ReplayFileError extends Error {}

/** The header and the event lines of an events file. */
export function readEventsFile(path: string): { header: RunHeader; lines: string[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ReplayFileError(`cannot read ${path}: ${(error as Error).message}`);
  }
  const lines = text.split('\n').filter((line) => line !== '');
  const first = lines.shift();
  let parsed: Record<string, unknown> | undefined;
  try {
    parsed = first === undefined ? undefined : (JSON.parse(first) as Record<string, unknown>);
  } catch {
    parsed = undefined;
  }
  if (parsed?.format !== SIM_EVENTS_FORMAT) {
    throw new ReplayFileError(
      `${path} does not start with a simulator header line (write one with: collie sim run --events ${path} ...)`,
    );
  }
  if (parsed.version !== SIM_EVENTS_VERSION) {
    throw new ReplayFileError(
      `${path} has event format version ${String(parsed.version)}; this simulator reads version ${SIM_EVENTS_VERSION}`,
    );
  }
  const header: RunHeader = {
    scenario: String(parsed.scenario),
    seed: Number(parsed.seed),
    coherence: parsed.coherence !== false,
    clientBug: (parsed.clientBug as TestOnlyClientBug | null) ?? null,
    faults: (parsed.faults as FaultClass[] | undefined) ?? [],
    mutant: typeof parsed.mutant === 'string' ? parsed.mutant : null,
  };
  if (!Number.isSafeInteger(header.seed))
    throw new ReplayFileError(`${path}: the header's seed is not an integer`);
  return { header, lines };
}
