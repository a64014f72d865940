/**
 * `collie sim replay FILE`: reads the header of an events file, runs the same scenario with the
 * same seed and switches again, and compares the new event log with the recorded one: the digest
 * (SHA-256 over the event lines, the one every run prints) and, when they differ, the first line
 * that differs, so a divergence points at the event where determinism broke or the code changed.
 */
import { createHash } from 'node:crypto';
import type { EventSink, LogEvent } from '../src/core/event.js';
import { canonicalEventLine } from '../src/core/event-sinks.js';
import { readEventsFile } from './replay-header.js';
import { type RunResult, runScenario } from './run.js';

export interface ReplayResult {
  readonly run: RunResult;
  readonly recordedDigest: string;
  readonly same: boolean;
  /** The first differing line (1-based among event lines), when not the same. */
  readonly firstDifference?: { readonly line: number; readonly recorded: string; readonly replayed: string };
}

/** The digest a run printed, recomputed from the event lines of its file. */
export function digestOfLines(lines: readonly string[]): string {
  const hash = createHash('sha256');
  for (const line of lines) hash.update(`${line}\n`);
  return hash.digest('hex');
}

export async function replayFile(path: string, print?: (line: string) => void): Promise<ReplayResult> {
  const { header, lines } = readEventsFile(path);
  const replayed: string[] = [];
  const collect: EventSink = { write: (event: LogEvent) => void replayed.push(canonicalEventLine(event)) };
  const run = await runScenario({
    scenario: header.scenario,
    seed: header.seed,
    coherence: header.coherence,
    ...(header.clientBug === null ? {} : { clientBug: header.clientBug }),
    faults: header.faults,
    ...(header.mutant ? { mutant: header.mutant } : {}),
    ...(print === undefined ? {} : { print }),
    extraSinks: [collect],
  });
  const recordedDigest = digestOfLines(lines);
  const same = recordedDigest === run.digest;
  if (same) return { run, recordedDigest, same };
  const length = Math.max(lines.length, replayed.length);
  for (let index = 0; index < length; index++) {
    if (lines[index] !== replayed[index]) {
      return {
        run,
        recordedDigest,
        same,
        firstDifference: {
          line: index + 1,
          recorded: lines[index] ?? '(end of file)',
          replayed: replayed[index] ?? '(end of the replayed log)',
        },
      };
    }
  }
  return { run, recordedDigest, same };
}
