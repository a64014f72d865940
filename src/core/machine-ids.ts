/**
 * The stable ids of Collie's machines, as the event log, the live-machine registry and the
 * inspector name them (src/inspect/machine-catalog.ts maps each to its xstate definition). No
 * imports, so the core and the browser page can name machines without compiling them.
 */
export const MACHINE_IDS = [
  'participant',
  'vdi-lock',
  'inode-view',
  'io-request',
  'login',
  'iscsi-connection',
  'iscsi-session',
  'scsi-task',
] as const;

export type MachineId = (typeof MACHINE_IDS)[number];
