/**
 * How the target nodes' state reads as the admin API's answers (admin-api.ts): LunInfo,
 * SessionInfo with the negotiated keys under their RFC 7143 names, and one ALUA row per LU
 * merged from what every node knows. Pure: values in, answers out.
 */
import { endpointToString } from '../../transports/transport.js';
import type { NegotiatedParameters } from '../iscsi/login/negotiate.js';
import type { ServedSession } from '../iscsi/target/iscsi-target-server.js';
import { AluaState, type AluaStateCode } from '../scsi/alua.js';
import type { LunAluaState, LunState } from '../target/target-service.js';
import type { AluaRow, LunInfo, SessionInfo } from './admin-api.js';

export function lunInfo(state: LunState): LunInfo {
  return {
    lun: state.lun,
    backing: state.backing,
    sizeBytes: state.sizeBytes,
    blockSizeBytes: state.blockSizeBytes,
    readOnly: state.readOnly,
    thin: state.thin,
  };
}

export function sessionInfo(node: number, session: ServedSession): SessionInfo {
  return {
    node,
    tsih: session.tsih,
    isid: session.isid,
    initiator: session.initiatorName,
    target: session.target.iqn,
    ...(session.connection === undefined
      ? {}
      : {
          connection: {
            id: session.connection.id,
            local: endpointToString(session.connection.local),
            remote: endpointToString(session.connection.remote),
          },
        }),
    parameters: negotiatedKeys(session.parameters),
    activeTasks: session.activeTasks,
  };
}

const yesNo = (value: boolean) => (value ? 'Yes' : 'No');

/** The negotiated parameters under their RFC 7143 key names, as the login answered them. */
export function negotiatedKeys(parameters: NegotiatedParameters): Record<string, string> {
  const { session, connection } = parameters;
  return {
    HeaderDigest: connection.headerDigest,
    DataDigest: connection.dataDigest,
    MaxConnections: String(session.maxConnections),
    InitialR2T: yesNo(session.initialR2T),
    ImmediateData: yesNo(session.immediateData),
    MaxBurstLength: String(session.maxBurstLengthBytes),
    FirstBurstLength: String(session.firstBurstLengthBytes),
    DefaultTime2Wait: String(session.defaultTime2WaitSeconds),
    DefaultTime2Retain: String(session.defaultTime2RetainSeconds),
    MaxOutstandingR2T: String(session.maxOutstandingR2T),
    DataPDUInOrder: yesNo(session.dataPduInOrder),
    DataSequenceInOrder: yesNo(session.dataSequenceInOrder),
    ErrorRecoveryLevel: String(session.errorRecoveryLevel),
    // Each side declares its own: what the target receives, and what the initiator does (what the target sends).
    MaxRecvDataSegmentLength: String(connection.maxRecvDataSegmentLengthBytes),
    InitiatorMaxRecvDataSegmentLength: String(connection.maxSendDataSegmentLengthBytes),
  };
}

const ALUA_STATE_NAMES: Readonly<Record<AluaStateCode, string>> = {
  [AluaState.ACTIVE_OPTIMIZED]: 'active/optimized',
  [AluaState.ACTIVE_NON_OPTIMIZED]: 'active/non-optimized',
  [AluaState.STANDBY]: 'standby',
  [AluaState.UNAVAILABLE]: 'unavailable',
  [AluaState.LBA_DEPENDENT]: 'lba-dependent',
  [AluaState.OFFLINE]: 'offline',
  [AluaState.TRANSITIONING]: 'transitioning',
};

/**
 * One row per LU, from what each node knows without a store round trip. A clustered LU's groups
 * come from the cluster document each node has cached (a node may not have seen a later joiner
 * yet): every node's groups are merged, and a group's state is taken from the node it belongs to
 * (target port group = node id) when that node reports it. An LU no other node shares has its
 * node's one group.
 */
export function aluaRows(
  perNode: ReadonlyArray<{ nodeId: number; states: readonly LunAluaState[] }>,
): AluaRow[] {
  const rows = new Map<string, { row: LunAluaState; groups: Map<number, AluaStateCode> }>();
  for (const { nodeId, states } of perNode) {
    for (const state of states) {
      const key = `${state.iqn}\n${state.lun}`;
      const entry = rows.get(key) ?? { row: state, groups: new Map<number, AluaStateCode>() };
      for (const group of state.groups) {
        if (!entry.groups.has(group.id) || group.id === nodeId) entry.groups.set(group.id, group.state);
      }
      rows.set(key, entry);
    }
  }
  return [...rows.values()].map(({ row, groups }) => ({
    target: row.iqn,
    lun: row.lun,
    policy: row.policy,
    groups: [...groups]
      .sort(([a], [b]) => a - b)
      .map(([group, state]) => ({ group, state: ALUA_STATE_NAMES[state] ?? `0x${state.toString(16)}` })),
  }));
}
