/** Every fuzz target, in the order a run goes through them. */

import { clientFuzzTarget } from './client-fuzz.js';
import type { FuzzTarget } from './fuzz-common.js';
import { codecFuzzTarget } from './iscsi-codec-fuzz.js';
import { liveTargetFuzzTarget } from './live-target-fuzz.js';
import { storeFuzzTarget } from './store-fuzz.js';

export function allFuzzTargets(): FuzzTarget[] {
  return [codecFuzzTarget, liveTargetFuzzTarget, storeFuzzTarget, clientFuzzTarget];
}
