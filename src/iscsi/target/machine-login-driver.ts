/**
 * The login of one connection, run by the login machine (machines/login.ts) over the pure login
 * core (src/iscsi/login/login-core.ts), behind the LoginDriver seam the connection uses.
 *
 * CHAP challenges come from `challenges` when given (real runs: src/core/real-entropy.ts), else
 * from `rng` (the simulator and tests, so a seed replays them). `attempts` is the node's login
 * rate limit (login-rate-limit.ts), one object shared by every connection; without it, none.
 */
import { Subject } from 'rxjs';
import { createActor } from 'xstate';
import { createLoginMachine, type LoginEvent, type LoginResponse } from '../../../machines/login.js';
import type { EventLog } from '../../core/event-log.js';
import { stateValuePath } from '../../core/live-machines.js';
import type { Rng } from '../../core/rng.js';
import { type ChallengeSource, type ChapSecrets, rngChallengeSource } from '../login/chap.js';
import { type LoginResult as CoreResult, createLoginCore, type LoginTarget } from '../login/login-core.js';
import type { LoginAttempts } from '../login/login-rate-limit.js';
import { COLLIE_NEGOTIATION_DEFAULTS, type DigestPolicy } from '../login/negotiate.js';
import type { LoginRequestPdu } from '../pdu/messages.js';
import { encodeTextData, parseTextData } from '../pdu/text.js';
import type { LoginAnswer, LoginDriver } from './login-driver.js';
import type { TargetNode } from './target-node.js';

export interface LoginPolicy {
  readonly targets: readonly TargetNode[];
  readonly digests: DigestPolicy;
  readonly discoveryChap?: ChapSecrets;
  readonly portalGroupTag: number;
}

export function machineLoginDriver(options: {
  connectionId: string;
  initiatorAddress: string;
  policy: LoginPolicy;
  rng: Rng;
  /** Unpredictable CHAP challenges for real runs; absent: drawn from `rng`. */
  challenges?: ChallengeSource;
  attempts?: LoginAttempts;
  eventLog: EventLog;
}): LoginDriver {
  const { policy } = options;
  const byName = new Map(policy.targets.map((target) => [target.iqn.toLowerCase(), target]));
  const loginTargets: LoginTarget[] = policy.targets.map((target) => ({
    name: target.iqn,
    alias: target.alias,
    access: target.access ?? {},
    chap: target.chap,
  }));
  const core = createLoginCore({
    config: {
      portalGroupTag: policy.portalGroupTag,
      targets: loginTargets,
      discoveryChap: policy.discoveryChap,
      // 'require' insists on header digests only: initiators (libiscsi among them) may never offer
      // data digests, and the header digest is what protects the stream's framing.
      negotiation: {
        ...COLLIE_NEGOTIATION_DEFAULTS,
        headerDigest: policy.digests,
        dataDigest: policy.digests === 'require' ? 'allow' : policy.digests,
      },
    },
    challenges: options.challenges ?? rngChallengeSource(options.rng),
    initiatorAddress: options.initiatorAddress,
    ...(options.attempts === undefined ? {} : { attempts: options.attempts }),
    parseText: (data) => {
      const parsed = parseTextData(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      return parsed.ok ? { pairs: parsed.value.pairs } : { problem: parsed.error.message };
    },
  });
  let sent: LoginResponse | undefined;
  const actor = createActor(
    createLoginMachine<CoreResult>().provide({
      actions: {
        sendResponse: (_, params) => {
          sent = params.response;
        },
      },
    }),
    { input: { connectionId: options.connectionId, eventLog: options.eventLog, core } },
  );
  actor.start();
  // The machine's inputs, one synchronous stream: it moves before next() returns.
  const inputs = new Subject<LoginEvent>();
  inputs.subscribe((event) => actor.send(event));
  // The machine logs its steps from its actions, before xstate publishes the new snapshot: while
  // a request is being handled its state is not observable (LiveMachine.busy).
  let stepping = false;
  let unregister = (): void => {};
  const registry = options.eventLog.liveMachines;
  if (registry !== null) {
    unregister = registry.register({
      key: `iscsi/login/${options.connectionId}`,
      machine: 'login',
      state: () => stateValuePath(actor.getSnapshot().value),
      busy: () => stepping,
    });
    actor.subscribe({
      complete: unregister,
      error: (error: unknown) => {
        unregister();
        // Still reported as unhandled, as it is when nobody subscribes.
        throw error;
      },
    });
  }

  return {
    inputs$: inputs.asObservable(),
    handle(pdu: LoginRequestPdu): LoginAnswer {
      sent = undefined;
      if (actor.getSnapshot().status !== 'active') {
        return refusal(pdu);
      }
      stepping = true;
      try {
        inputs.next({ type: 'LOGIN_REQUEST', request: pdu });
      } finally {
        stepping = false;
      }
      const response = sent as LoginResponse | undefined;
      const step = actor.getSnapshot().context.last;
      if (!response || !step) return refusal(pdu);
      const data = encodeTextData(response.keys.map(([key, value]) => [key, value] as [string, string]));
      const base = {
        statusClass: response.statusClass,
        statusDetail: response.statusDetail,
        transit: response.transit,
        continue: response.continue,
        csg: response.csg,
        nsg: response.nsg,
        data,
      };
      if (step.next === 'failed') return { ...base, outcome: 'failed' };
      if (step.next !== 'fullFeature') return { ...base, outcome: 'continue' };
      const result = step.result;
      if (result?.outcome !== 'fullFeature') return { ...base, outcome: 'failed' };
      const target =
        result.targetName === undefined ? undefined : byName.get(result.targetName.toLowerCase());
      return {
        ...base,
        outcome: 'done',
        result: {
          sessionType: result.sessionKind === 'normal' ? 'Normal' : 'Discovery',
          initiatorName: result.initiatorName,
          target,
          parameters: result.parameters,
        },
      };
    },
    dispose: () => {
      unregister();
      inputs.complete();
    },
  };
}

/** The login is over (failed or done) but the initiator keeps sending: refuse and close. */
function refusal(pdu: LoginRequestPdu): LoginAnswer {
  return {
    statusClass: 0x02,
    statusDetail: 0x0b,
    transit: false,
    continue: false,
    csg: pdu.csg,
    nsg: 0,
    data: Buffer.alloc(0),
    outcome: 'failed',
  };
}
