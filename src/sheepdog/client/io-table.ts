/**
 * The IO request machine (machines/io-request.ts), compiled into a transition table at module
 * load, plus a tiny interpreter for the hot path. An xstate actor per IO costs tens of
 * microseconds; a table step is an array lookup, a guard call and a few stores.
 *
 * Compilation reads the machine's JSON definition (what the drawing is made from), so the table
 * cannot drift from the machine: every state, event, guard, target and action comes from it.
 * Guards and context updates are looked up by name in the same objects the machine's setup()
 * uses (ioRequestGuards, ioRequestUpdates); every other action name must be a declared output.
 *
 * Semantics kept from xstate (and checked by a property test against the real machine):
 * - candidates for an event are tried in definition order; the first whose guard passes wins;
 * - a transition's updates apply in order; its outputs are the non-update actions, in order;
 * - an event with no enabled transition, and any event in a final state, changes nothing.
 * The compiler refuses what the interpreter does not implement (nested states, entry/exit
 * actions, delays, invokes, parameterised guards or actions), naming the state to fix.
 */
import {
  IO_REQUEST_OUTPUTS,
  type IoRequestContext,
  type IoRequestEvent,
  type IoRequestInput,
  type IoRequestOutput,
  type IoRequestStateName,
  initialIoRequestContext,
  ioRequestGuards,
  ioRequestMachine,
  ioRequestUpdates,
} from '../../../machines/io-request.js';
import { assert } from '../../core/assert.js';

type GuardFn = (context: IoRequestContext, event: IoRequestEvent) => boolean;
type UpdateFn = (context: IoRequestContext, event: IoRequestEvent) => void;

interface CompiledTransition {
  readonly guard: GuardFn | undefined;
  readonly target: number;
  readonly updates: readonly UpdateFn[];
  readonly outputs: readonly IoRequestOutput[];
}

/** One IO's state while the table runs it; the interpreter mutates it in place. */
export interface IoRun {
  state: number;
  readonly context: IoRequestContext;
}

/** The shape of the machine JSON the compiler reads (xstate's StateMachineDefinition, serialised). */
interface JsonTransition {
  readonly target?: readonly string[];
  readonly guard?: unknown;
  readonly actions?: readonly unknown[];
  readonly eventType: string;
}

interface JsonState {
  readonly key: string;
  readonly type: string;
  readonly states?: Record<string, JsonState>;
  readonly on?: Record<string, readonly JsonTransition[]>;
  readonly entry?: readonly unknown[];
  readonly exit?: readonly unknown[];
  readonly invoke?: readonly unknown[];
  readonly initial?: { readonly target?: readonly string[] };
}

const NO_OUTPUTS: readonly IoRequestOutput[] = Object.freeze([]);

export class IoTable {
  readonly stateNames: readonly IoRequestStateName[];
  readonly initialState: number;
  readonly #transitions: readonly (readonly (readonly CompiledTransition[])[])[];
  readonly #eventIndex: ReadonlyMap<string, number>;
  readonly #final: readonly boolean[];

  constructor(definition: JsonState, machineId: string) {
    const states = definition.states ?? {};
    const names = Object.keys(states);
    assert(names.length > 0, `machine ${machineId} has no states to compile`);
    const stateIndex = new Map(names.map((name, index) => [name, index]));
    const resolveTarget = (target: string, from: string): number => {
      const prefix = `#${machineId}.`;
      assert(target.startsWith(prefix), `state ${from}: target ${target} is not a top-level state`);
      const index = stateIndex.get(target.slice(prefix.length));
      assert(index !== undefined, `state ${from}: unknown target ${target}`);
      return index;
    };

    const eventIndex = new Map<string, number>();
    for (const name of names) {
      for (const eventType of Object.keys(states[name]!.on ?? {})) {
        if (!eventIndex.has(eventType)) eventIndex.set(eventType, eventIndex.size);
      }
    }

    const outputs = new Set<string>(IO_REQUEST_OUTPUTS);
    const transitions = names.map((name) => {
      const state = states[name]!;
      checkFlat(state, name);
      const row: CompiledTransition[][] = Array.from({ length: eventIndex.size }, () => []);
      for (const [eventType, candidates] of Object.entries(state.on ?? {})) {
        assert(
          !eventType.startsWith('xstate.') && eventType !== '*',
          `state ${name}: ${eventType} transitions are not compiled; use plain named events`,
        );
        row[eventIndex.get(eventType)!] = candidates.map((candidate) => {
          const targets = candidate.target ?? [];
          assert(targets.length <= 1, `state ${name}, event ${eventType}: one target at most`);
          const updates: UpdateFn[] = [];
          const effects: IoRequestOutput[] = [];
          for (const action of candidate.actions ?? []) {
            const actionName = nameOf(action, `state ${name}, event ${eventType}: action`);
            const update = (ioRequestUpdates as Record<string, UpdateFn>)[actionName];
            if (update !== undefined) updates.push(update);
            else {
              assert(
                outputs.has(actionName),
                `state ${name}, event ${eventType}: action ${actionName} is neither a context update nor a declared output (add it to IO_REQUEST_OUTPUTS)`,
              );
              effects.push(actionName as IoRequestOutput);
            }
          }
          let guard: GuardFn | undefined;
          if (candidate.guard !== undefined) {
            const guardName = nameOf(candidate.guard, `state ${name}, event ${eventType}: guard`);
            guard = (ioRequestGuards as Record<string, GuardFn>)[guardName];
            assert(guard !== undefined, `state ${name}: guard ${guardName} is not in ioRequestGuards`);
          }
          return {
            guard,
            target: targets.length === 0 ? stateIndex.get(name)! : resolveTarget(targets[0]!, name),
            updates,
            outputs: effects.length === 0 ? NO_OUTPUTS : Object.freeze(effects),
          };
        });
      }
      return row;
    });

    const initialTarget = definition.initial?.target?.[0];
    assert(initialTarget !== undefined, `machine ${machineId} has no initial state`);
    this.initialState = resolveTarget(initialTarget, '(initial)');
    this.stateNames = names as IoRequestStateName[];
    this.#transitions = transitions;
    this.#eventIndex = eventIndex;
    this.#final = names.map((name) => states[name]!.type === 'final');
  }

  /** A fresh run in the initial state, with the machine's initial context. */
  start(input: IoRequestInput): IoRun {
    return { state: this.initialState, context: initialIoRequestContext(input) };
  }

  /**
   * Applies one event: moves `run` to the next state, applies updates to its context, and returns
   * the outputs to perform (a shared frozen array: do not modify). Unmatched events return none.
   */
  step(run: IoRun, event: IoRequestEvent): readonly IoRequestOutput[] {
    const eventIndex = this.#eventIndex.get(event.type);
    if (eventIndex === undefined) return NO_OUTPUTS;
    const candidates = this.#transitions[run.state]![eventIndex]!;
    for (let i = 0; i < candidates.length; i++) {
      const candidate = candidates[i]!;
      if (candidate.guard !== undefined && !candidate.guard(run.context, event)) continue;
      for (let u = 0; u < candidate.updates.length; u++) candidate.updates[u]!(run.context, event);
      run.state = candidate.target;
      return candidate.outputs;
    }
    return NO_OUTPUTS;
  }

  stateName(state: number): IoRequestStateName {
    return this.stateNames[state]!;
  }

  isFinal(state: number): boolean {
    return this.#final[state]!;
  }
}

function checkFlat(state: JsonState, name: string): void {
  assert(
    Object.keys(state.states ?? {}).length === 0,
    `state ${name} has child states; the io table compiles flat machines only`,
  );
  assert(
    (state.entry ?? []).length === 0 && (state.exit ?? []).length === 0,
    `state ${name} has entry/exit actions; put them on the transitions instead`,
  );
  assert((state.invoke ?? []).length === 0, `state ${name} invokes an actor; the io table cannot run it`);
}

function nameOf(item: unknown, what: string): string {
  if (typeof item === 'string') return item;
  const typed = item as { type?: unknown; params?: unknown } | null;
  assert(
    typed !== null && typeof typed.type === 'string' && typed.params === undefined,
    `${what} must be referenced by name without params, got ${JSON.stringify(item)}`,
  );
  return typed.type;
}

/** Compiled once, at module load, from the machine's serialised definition. */
export const ioTable = new IoTable(
  JSON.parse(JSON.stringify(ioRequestMachine.definition)) as JsonState,
  ioRequestMachine.id,
);
