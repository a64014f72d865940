/**
 * A flat xstate machine compiled into a transition table at module load, plus a tiny
 * interpreter, for lifecycles too frequent for an actor each (an IO request, a SCSI task): an
 * xstate actor costs tens of microseconds, a table step an array lookup, a guard call and a few
 * stores. The machine stays the source of truth and the drawing.
 *
 * Compilation reads the machine's JSON definition, so the table cannot drift from it: every
 * state, event, guard, target and action comes from there. Guards and context updates are looked
 * up by name in the same objects the machine's setup() uses; every other action name must be a
 * declared output (an effect the caller performs).
 *
 * Semantics kept from xstate (each user checks them with a property test against the machine):
 * - candidates for an event are tried in definition order; the first whose guard passes wins;
 * - a transition's updates apply in order; its outputs are the non-update actions, in order;
 * - an event with no enabled transition, and any event in a final state, changes nothing.
 * The compiler refuses what the interpreter does not implement (nested states, entry/exit
 * actions, delays, invokes, parameterised guards or actions), naming the state to fix.
 */
import { assert } from './assert.js';

export type GuardFn<C, E> = (context: C, event: E) => boolean;
export type UpdateFn<C, E> = (context: C, event: E) => void;

interface CompiledTransition<C, E, O> {
  readonly guard: GuardFn<C, E> | undefined;
  readonly target: number;
  readonly updates: readonly UpdateFn<C, E>[];
  readonly outputs: readonly O[];
}

/** One run's state while the table runs it; the interpreter mutates it in place. */
export interface TableRun<C> {
  state: number;
  readonly context: C;
}

/** The shape of the machine JSON the compiler reads (xstate's StateMachineDefinition, serialised). */
export interface JsonTransition {
  readonly target?: readonly string[];
  readonly guard?: unknown;
  readonly actions?: readonly unknown[];
  readonly eventType: string;
}

export interface JsonState {
  readonly key: string;
  readonly type: string;
  readonly states?: Record<string, JsonState>;
  readonly on?: Record<string, readonly JsonTransition[]>;
  readonly entry?: readonly unknown[];
  readonly exit?: readonly unknown[];
  readonly invoke?: readonly unknown[];
  readonly initial?: { readonly target?: readonly string[] };
}

const NO_OUTPUTS: readonly never[] = Object.freeze([]);

export interface MachineImplementations<C, E, O extends string> {
  /** Guards by name, the same functions the machine's setup() uses. */
  readonly guards: Record<string, GuardFn<C, E>>;
  /** Context updates by name, the same functions the machine's assign() actions call. */
  readonly updates: Record<string, UpdateFn<C, E>>;
  /** Every other action name: an effect the caller performs. */
  readonly outputs: readonly O[];
}

export class MachineTable<S extends string, C, E extends { readonly type: string }, O extends string> {
  readonly stateNames: readonly S[];
  readonly initialState: number;
  readonly #transitions: readonly (readonly (readonly CompiledTransition<C, E, O>[])[])[];
  readonly #eventIndex: ReadonlyMap<string, number>;
  readonly #final: readonly boolean[];

  constructor(definition: JsonState, machineId: string, implementations: MachineImplementations<C, E, O>) {
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

    const outputs = new Set<string>(implementations.outputs);
    const transitions = names.map((name) => {
      const state = states[name]!;
      checkFlat(state, name);
      const row: CompiledTransition<C, E, O>[][] = Array.from({ length: eventIndex.size }, () => []);
      for (const [eventType, candidates] of Object.entries(state.on ?? {})) {
        assert(
          !eventType.startsWith('xstate.') && eventType !== '*',
          `state ${name}: ${eventType} transitions are not compiled; use plain named events`,
        );
        row[eventIndex.get(eventType)!] = candidates.map((candidate) => {
          const targets = candidate.target ?? [];
          assert(targets.length <= 1, `state ${name}, event ${eventType}: one target at most`);
          const updates: UpdateFn<C, E>[] = [];
          const effects: O[] = [];
          for (const action of candidate.actions ?? []) {
            const actionName = nameOf(action, `state ${name}, event ${eventType}: action`);
            const update = implementations.updates[actionName];
            if (update !== undefined) updates.push(update);
            else {
              assert(
                outputs.has(actionName),
                `state ${name}, event ${eventType}: action ${actionName} is neither a context update nor a declared output (declare it as an output)`,
              );
              effects.push(actionName as O);
            }
          }
          let guard: GuardFn<C, E> | undefined;
          if (candidate.guard !== undefined) {
            const guardName = nameOf(candidate.guard, `state ${name}, event ${eventType}: guard`);
            guard = implementations.guards[guardName];
            assert(
              guard !== undefined,
              `state ${name}: guard ${guardName} is not among the machine's guards`,
            );
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
    this.stateNames = names as S[];
    this.#transitions = transitions;
    this.#eventIndex = eventIndex;
    this.#final = names.map((name) => states[name]!.type === 'final');
  }

  /** A fresh run in the initial state with this context. */
  run(context: C): TableRun<C> {
    return { state: this.initialState, context };
  }

  /**
   * Applies one event: moves `run` to the next state, applies updates to its context, and returns
   * the outputs to perform (a shared frozen array: do not modify). Unmatched events return none.
   */
  step(run: TableRun<C>, event: E): readonly O[] {
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

  stateName(state: number): S {
    return this.stateNames[state]!;
  }

  isFinal(state: number): boolean {
    return this.#final[state]!;
  }
}

function checkFlat(state: JsonState, name: string): void {
  assert(
    Object.keys(state.states ?? {}).length === 0,
    `state ${name} has child states; the table compiles flat machines only`,
  );
  assert(
    (state.entry ?? []).length === 0 && (state.exit ?? []).length === 0,
    `state ${name} has entry/exit actions; put them on the transitions instead`,
  );
  assert((state.invoke ?? []).length === 0, `state ${name} invokes an actor; the table cannot run it`);
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

/** Compiles a machine (its serialised definition) with its named implementations. */
export function compileMachineTable<
  S extends string,
  C,
  E extends { readonly type: string },
  O extends string,
>(
  machine: { readonly id: string; readonly definition: unknown },
  implementations: MachineImplementations<C, E, O>,
): MachineTable<S, C, E, O> {
  return new MachineTable<S, C, E, O>(
    JSON.parse(JSON.stringify(machine.definition)) as JsonState,
    machine.id,
    implementations,
  );
}
