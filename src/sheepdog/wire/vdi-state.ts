/**
 * `struct vdi_state` (1,428 bytes, section 7), one per VDI in a GET_VDI_COPIES (0xAB) answer,
 * which is how `dog vdi lock list` shows locks and coherence participants:
 *   vid u32@0 nr_copies@4 snapshot@5 deleted@6 copy_policy@7 block_size_shift@8 (pad 9-11)
 *   parent_vid u32@12 lock_state u32@16 lock_owner node_id@20 nr_participants u32@60
 *   participants_state[31] u32@64 participants[31] node_id@188
 * Slots past nr_participants are zero when encoded and ignored when decoded.
 */
import { assert } from '../../core/assert.js';
import { SD_MAX_COPIES, SD_NODE_ID_SIZE, SD_VDI_STATE_SIZE, SdRes } from './constants.js';
import { type DecodeResult, decoded, decodeFailed, shortBuffer } from './errors.js';
import { decodeNodeId, encodeNodeId, type NodeId } from './node-id.js';
import { WireReader } from './reader.js';
import { FixedWriter } from './writer.js';

const PARENT_VID_OFFSET = 12;
const LOCK_STATE_OFFSET = 16;
const LOCK_OWNER_OFFSET = 20;
const NR_PARTICIPANTS_OFFSET = 60;
const PARTICIPANTS_STATE_OFFSET = 64;
const PARTICIPANTS_OFFSET = 188;

export interface VdiStateParticipant {
  readonly node: NodeId;
  /** ParticipantState: MODIFIED 1, SHARED 2, INVALIDATED 3. */
  readonly state: number;
}

export interface VdiState {
  readonly vid: number;
  readonly nrCopies: number;
  readonly snapshot: boolean;
  readonly deleted: boolean;
  readonly copyPolicy: number;
  readonly blockSizeShift: number;
  readonly parentVid: number;
  /** LockState: UNLOCKED 1, LOCKED 2, SHARED 3. */
  readonly lockState: number;
  /** The normal-lock owner; undefined when the 40 bytes are all zero. */
  readonly lockOwner: NodeId | undefined;
  /** At most SD_MAX_COPIES (31). */
  readonly participants: readonly VdiStateParticipant[];
}

export function encodeVdiState(s: VdiState): Buffer {
  assert(s.participants.length <= SD_MAX_COPIES, `vdi_state holds at most ${SD_MAX_COPIES} participants`);
  const w = new FixedWriter(SD_VDI_STATE_SIZE);
  w.u32(s.vid)
    .u8(s.nrCopies)
    .u8(s.snapshot ? 1 : 0)
    .u8(s.deleted ? 1 : 0)
    .u8(s.copyPolicy)
    .u8(s.blockSizeShift);
  w.seek(PARENT_VID_OFFSET).u32(s.parentVid);
  w.seek(LOCK_STATE_OFFSET).u32(s.lockState);
  if (s.lockOwner !== undefined) w.seek(LOCK_OWNER_OFFSET).bytes(encodeNodeId(s.lockOwner));
  w.seek(NR_PARTICIPANTS_OFFSET).u32(s.participants.length);
  s.participants.forEach((participant, index) => {
    w.seek(PARTICIPANTS_STATE_OFFSET + 4 * index).u32(participant.state);
    w.seek(PARTICIPANTS_OFFSET + SD_NODE_ID_SIZE * index).bytes(encodeNodeId(participant.node));
  });
  return w.finish();
}

export function decodeVdiState(buf: Buffer, offset = 0): DecodeResult<VdiState> {
  if (buf.length - offset < SD_VDI_STATE_SIZE)
    return shortBuffer('vdi_state', offset + SD_VDI_STATE_SIZE, buf.length);
  const r = new WireReader(buf, offset);
  const vid = r.u32();
  const nrCopies = r.u8();
  const snapshot = r.u8() !== 0;
  const deleted = r.u8() !== 0;
  const copyPolicy = r.u8();
  const blockSizeShift = r.u8();
  const parentVid = r.seek(offset + PARENT_VID_OFFSET).u32();
  const lockState = r.seek(offset + LOCK_STATE_OFFSET).u32();
  const ownerBytes = r.seek(offset + LOCK_OWNER_OFFSET).bytes(SD_NODE_ID_SIZE);
  const nrParticipants = r.seek(offset + NR_PARTICIPANTS_OFFSET).u32();
  if (nrParticipants > SD_MAX_COPIES) {
    return decodeFailed({
      code: 'SD_ERR_BAD_FIELD',
      message: `vdi_state of vid 0x${vid.toString(16)} claims ${nrParticipants} participants; at most ${SD_MAX_COPIES} fit`,
      offset: offset + NR_PARTICIPANTS_OFFSET,
      answer: SdRes.INVALID_PARMS,
    });
  }
  let lockOwner: NodeId | undefined;
  if (ownerBytes.some((byte) => byte !== 0)) {
    const owner = decodeNodeId(ownerBytes);
    if (!owner.ok) return owner;
    lockOwner = owner.value;
  }
  const participants: VdiStateParticipant[] = [];
  for (let index = 0; index < nrParticipants; index++) {
    const state = r.seek(offset + PARTICIPANTS_STATE_OFFSET + 4 * index).u32();
    const node = decodeNodeId(buf, offset + PARTICIPANTS_OFFSET + SD_NODE_ID_SIZE * index);
    if (!node.ok) return node;
    participants.push({ node: node.value, state });
  }
  return decoded({
    vid,
    nrCopies,
    snapshot,
    deleted,
    copyPolicy,
    blockSizeShift,
    parentVid,
    lockState,
    lockOwner,
    participants,
  });
}

/** A GET_VDI_COPIES payload: a whole number of 1,428-byte records. */
export function decodeVdiStateList(buf: Buffer): DecodeResult<VdiState[]> {
  if (buf.length % SD_VDI_STATE_SIZE !== 0) {
    return decodeFailed({
      code: 'SD_ERR_BAD_FIELD',
      message: `a vdi_state list of ${buf.length} bytes is not a whole number of ${SD_VDI_STATE_SIZE}-byte records`,
      offset: buf.length - (buf.length % SD_VDI_STATE_SIZE),
    });
  }
  const states: VdiState[] = [];
  for (let offset = 0; offset < buf.length; offset += SD_VDI_STATE_SIZE) {
    const state = decodeVdiState(buf, offset);
    if (!state.ok) return state;
    states.push(state.value);
  }
  return decoded(states);
}
