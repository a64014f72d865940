/**
 * A LUN's backing store, as the command line and config files write it:
 *
 *   mem:SIZE                  memory (thin), lost when the target stops
 *   file:PATH[:SIZE]          a file; SIZE creates it (sparse) when missing
 *   tcp:HOST:PORT:VDI         a sheepdog VDI (tgt's syntax), on real sheep or `collie sheep`
 *   unix:PATH:VDI             the same over a unix socket
 *
 * followed by LU options, each after a comma, in any order:
 *
 *   ,ro                       a write-protected LU (MODE SENSE WP; writes get DATA PROTECT,
 *                             WRITE PROTECTED); memory and file backends are opened read-only too
 *   ,removable                removable medium (INQUIRY RMB; START STOP UNIT LOEJ ejects and
 *                             loads it, PREVENT ALLOW MEDIUM REMOVAL holds it)
 *
 * e.g. `mem:64M,removable`, `file:/srv/img:1G,ro`. Only these words count as options: any other
 * text after a comma stays part of what precedes it (a file path may hold commas).
 * `luOptionsFor` gives the LogicalUnit options a spec asks for.
 */

import type { Transport } from '../../transports/transport.js';
import type { BlockBackend } from '../backends/block-backend.js';
import { FileBackend } from '../backends/file-backend.js';
import { MemoryBackend } from '../backends/memory-backend.js';
import { parseSizeBytes } from '../cli/sizes.js';
import type { Clock } from '../core/clock.js';
import type { EventLog } from '../core/event-log.js';
import type { Logger } from '../core/logger.js';
import type { Rng } from '../core/rng.js';
import type { SheepClientMetrics } from '../metrics/sheep-metrics.js';
import type { TestOnlyClusterBug } from '../scsi/cluster/test-only-cluster-bugs.js';
import { type BackingStoreSpec, parseBackingStoreSpec } from '../sheepdog/client/backing-store-spec.js';
import { SheepdogBackend, type SheepdogBackendOptions } from '../sheepdog/client/sheepdog-backend.js';

/** LU options a backing store text may carry (`,ro`, `,removable`); absent when none. */
export interface BackingLuOptions {
  readonly readOnly?: true;
  readonly removable?: true;
}

export type BackingSpec = (
  | { readonly kind: 'memory'; readonly sizeBytes: number }
  | { readonly kind: 'file'; readonly path: string; readonly sizeBytes?: number }
  | { readonly kind: 'sheepdog'; readonly spec: BackingStoreSpec }
) & { readonly lu?: BackingLuOptions };

export class BackingSpecError extends Error {}

const SYNTAX = 'mem:SIZE, file:PATH[:SIZE], tcp:HOST:PORT:VDI or unix:PATH:VDI';

const LU_OPTION_WORDS: Readonly<Record<string, keyof BackingLuOptions>> = {
  ro: 'readOnly',
  removable: 'removable',
};

/** The text without its trailing LU option words, and those options. */
function splitLuOptions(text: string): { store: string; lu: BackingLuOptions | undefined } {
  let store = text;
  const lu: { readOnly?: true; removable?: true } = {};
  for (;;) {
    const comma = store.lastIndexOf(',');
    const option = comma === -1 ? undefined : LU_OPTION_WORDS[store.slice(comma + 1)];
    if (option === undefined) break;
    lu[option] = true;
    store = store.slice(0, comma);
  }
  return { store, lu: Object.keys(lu).length === 0 ? undefined : lu };
}

/** The LogicalUnit options a backing spec asks for (`,ro`, `,removable`). */
export function luOptionsFor(spec: BackingSpec): { readonly readOnly?: true; readonly removable?: true } {
  return spec.lu ?? {};
}

export function parseBackingSpec(text: string): BackingSpec {
  const { store, lu } = splitLuOptions(text);
  const spec = parseStore(store, text);
  return lu === undefined ? spec : { ...spec, lu };
}

function parseStore(text: string, whole: string): BackingSpec {
  const colon = text.indexOf(':');
  const scheme = colon === -1 ? text : text.slice(0, colon);
  const rest = colon === -1 ? '' : text.slice(colon + 1);
  switch (scheme) {
    case 'mem':
      return { kind: 'memory', sizeBytes: size(rest, whole) };
    case 'file': {
      if (rest === '')
        throw new BackingSpecError(
          `backing store ${JSON.stringify(whole)}: the file path is missing (${SYNTAX})`,
        );
      const sizeAt = rest.lastIndexOf(':');
      if (sizeAt > 0 && /^\d+[KMGT]?$/i.test(rest.slice(sizeAt + 1))) {
        return { kind: 'file', path: rest.slice(0, sizeAt), sizeBytes: size(rest.slice(sizeAt + 1), whole) };
      }
      return { kind: 'file', path: rest };
    }
    case 'tcp':
    case 'unix': {
      const parsed = parseBackingStoreSpec(text);
      if (!parsed.ok) throw new BackingSpecError(parsed.message);
      return { kind: 'sheepdog', spec: parsed.spec };
    }
    default:
      throw new BackingSpecError(
        `backing store ${JSON.stringify(whole)}: unknown kind "${scheme}" (write ${SYNTAX})`,
      );
  }
}

function size(text: string, whole: string): number {
  try {
    return parseSizeBytes(text, `the size in ${JSON.stringify(whole)}`);
  } catch (error) {
    throw new BackingSpecError((error as Error).message);
  }
}

export interface BackendEnvironment {
  readonly transport: Transport;
  readonly clock: Clock;
  readonly rng: Rng;
  readonly eventLog: EventLog;
  readonly logger: Logger;
  /** Tunables of sheepdog backends (the simulator shortens time bounds). */
  readonly sheepdogOptions?: SheepdogBackendOptions;
  /** Test-only: a cluster-state bug every LU gets (test-only-cluster-bugs.ts); never in production. */
  readonly clusterBug?: TestOnlyClusterBug;
  /** Where sheepdog backends count round trips, retries, errors and coherence reloads. */
  readonly sheepMetrics?: SheepClientMetrics;
}

/** Where a backend is served: a memory backend's identity is its place (nothing else is its own). */
export interface LuPlace {
  readonly nodeId: number;
  readonly iqn: string;
  readonly lun: number;
}

/**
 * Opens the backend a spec names. A memory backend's identity (its LU's serial number and NAA
 * designator) is its node, target and LUN: two memory LUs are always two disks, and a host's
 * multipath layer must never take them for two paths to one.
 */
export async function openBackend(
  spec: BackingSpec,
  environment: BackendEnvironment,
  place?: LuPlace,
): Promise<BlockBackend> {
  switch (spec.kind) {
    case 'memory':
      return new MemoryBackend({
        sizeBytes: spec.sizeBytes,
        ...(spec.lu?.readOnly ? { readOnly: true } : {}),
        ...(place === undefined ? {} : { identity: `memory:node-${place.nodeId}:${place.iqn}/${place.lun}` }),
      });
    case 'file':
      return FileBackend.open({
        path: spec.path,
        sizeBytes: spec.sizeBytes,
        ...(spec.lu?.readOnly ? { readOnly: true } : {}),
      });
    case 'sheepdog':
      if (spec.spec.kind !== 'tcp') {
        throw new BackingSpecError('unix: sheep sockets are not supported yet (use tcp:HOST:PORT:VDI)');
      }
      return SheepdogBackend.open({
        transport: environment.transport,
        endpoint: spec.spec.endpoint,
        vdiName: spec.spec.vdiName,
        clock: environment.clock,
        rng: environment.rng,
        eventLog: environment.eventLog,
        logger: environment.logger,
        ...(environment.sheepdogOptions === undefined ? {} : { options: environment.sheepdogOptions }),
        ...(environment.sheepMetrics === undefined ? {} : { metrics: environment.sheepMetrics }),
      });
  }
}
