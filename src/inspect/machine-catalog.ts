/**
 * Every long-lived or per-IO machine the inspector knows: its stable id (used in URLs, SVG file
 * names and projection states), a title, and the xstate definition it is drawn from. The drawing
 * and the projection both read this list, so a machine added here is drawn and projected.
 */
import type { AnyStateMachine } from 'xstate';
import { inodeViewMachine } from '../../machines/inode-view.js';
import { ioRequestMachine } from '../../machines/io-request.js';
import { iscsiConnectionMachine } from '../../machines/iscsi-connection.js';
import { iscsiSessionMachine } from '../../machines/iscsi-session.js';
import { createLoginMachine } from '../../machines/login.js';
import { participantMachine } from '../../machines/participant.js';
import { scsiTaskMachine } from '../../machines/scsi-task.js';
import { vdiLockMachine } from '../../machines/vdi-lock.js';
import type { MachineId } from '../core/machine-ids.js';

export { MACHINE_IDS, type MachineId } from '../core/machine-ids.js';

export interface CatalogEntry {
  readonly id: MachineId;
  readonly title: string;
  /** Where it runs, for the page's legend. */
  readonly side: 'store' | 'sheep client' | 'iSCSI target';
  readonly machine: AnyStateMachine;
}

export const MACHINE_CATALOG: readonly CatalogEntry[] = [
  { id: 'participant', title: 'Inode coherence participant', side: 'store', machine: participantMachine },
  { id: 'vdi-lock', title: 'VDI lock', side: 'store', machine: vdiLockMachine },
  { id: 'inode-view', title: "Client's view of the inode", side: 'sheep client', machine: inodeViewMachine },
  { id: 'io-request', title: 'Sheep IO request', side: 'sheep client', machine: ioRequestMachine },
  { id: 'login', title: 'iSCSI login', side: 'iSCSI target', machine: createLoginMachine() },
  {
    id: 'iscsi-connection',
    title: 'iSCSI connection',
    side: 'iSCSI target',
    machine: iscsiConnectionMachine,
  },
  { id: 'iscsi-session', title: 'iSCSI session', side: 'iSCSI target', machine: iscsiSessionMachine },
  { id: 'scsi-task', title: 'SCSI task', side: 'iSCSI target', machine: scsiTaskMachine },
];

export function catalogEntry(id: string): CatalogEntry | undefined {
  return MACHINE_CATALOG.find((entry) => entry.id === id);
}
