/**
 * The IO request machine (machines/io-request.ts), compiled into a transition table at module
 * load (src/core/machine-table.ts explains the compiler and the semantics it keeps). The hot
 * path runs this table; a property test checks it against the machine.
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
import {
  type GuardFn,
  type JsonState,
  MachineTable,
  type TableRun,
  type UpdateFn,
} from '../../core/machine-table.js';

/** One IO's state while the table runs it; the interpreter mutates it in place. */
export type IoRun = TableRun<IoRequestContext>;

export class IoTable extends MachineTable<
  IoRequestStateName,
  IoRequestContext,
  IoRequestEvent,
  IoRequestOutput
> {
  constructor(definition: JsonState, machineId: string) {
    super(definition, machineId, {
      guards: ioRequestGuards as unknown as Record<string, GuardFn<IoRequestContext, IoRequestEvent>>,
      updates: ioRequestUpdates as unknown as Record<string, UpdateFn<IoRequestContext, IoRequestEvent>>,
      outputs: IO_REQUEST_OUTPUTS,
    });
  }

  /** A fresh run in the initial state, with the machine's initial context. */
  start(input: IoRequestInput): IoRun {
    return this.run(initialIoRequestContext(input));
  }
}

/** Compiled once, at module load, from the machine's serialised definition. */
export const ioTable = new IoTable(
  JSON.parse(JSON.stringify(ioRequestMachine.definition)) as JsonState,
  ioRequestMachine.id,
);
