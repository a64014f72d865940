/**
 * Maps one block IO onto data objects against the cached inode (protocol doc §6.1). Pure.
 *
 *   idx = offset >> block_size_shift; each piece is the part of the IO inside one object.
 *
 * Reads, per object owner in data_vdi_id[idx]:
 *   our vid     READ_OBJ of our object. Sheep checks it against our vid, so a stale cache is
 *               caught there (INODE_INVALIDATED).
 *   0           zeros, no request; but the IO carries the probe, because nothing else would
 *               tell us that another target allocated the area meanwhile (tgt's
 *               is_refresh_required).
 *   an ancestor READ_OBJ of the ancestor's object, plus the probe: sheep checks that read
 *               against the ancestor's vid, which nobody share-locks, so it would serve the
 *               parent's data even after another target copied-on-write the object (the
 *               "important gap" of §8.3). The probe is answered after every invalidation that
 *               preceded this IO, so its INODE_INVALIDATED voids the whole round.
 * Writes:
 *   our vid     WRITE_OBJ.
 *   0           CREATE_AND_WRITE_OBJ of our object.
 *   an ancestor CREATE_AND_WRITE_OBJ of our object with COW from the ancestor's object.
 *   Every create is followed by one inode update of data_vdi_id[min..max created]; the pieces
 *   of one IO are contiguous objects, so every entry in that range is ours once it succeeds.
 *
 * One gap stays open by default: after a snapshot taken while both targets run, the other
 * target may copy-on-write an object into the new working VDI while our cache still calls the
 * old vid (now the snapshot) ours; a read of that object is checked against the old vid, which
 * nobody invalidates. Probe 'always' (the backend's probeEveryRead) closes it at the price of
 * one 8-byte request per read.
 *
 * A lock-less client (`collie vdi read/write`, lockless-vdi.ts) plans with probe 'never': it is
 * no participant, so the probe would answer for the node's participant (a target's), not for
 * it. Its reads are planned against an inode it loaded after the IO began, which is what makes
 * them current.
 */
import { assert } from '../../core/assert.js';

/** What planning needs from the inode cache. */
export interface InodeMapping {
  /** The working VDI. */
  readonly vid: number;
  readonly objectBytes: number;
  readonly generation: number;
  owner(idx: number): number;
}

export type PieceAction = 'read' | 'zero' | 'write' | 'create';

export interface IoPiece {
  readonly action: PieceAction;
  /** Data object index. */
  readonly idx: number;
  /** Byte offset inside the object. */
  readonly offset: number;
  readonly lengthBytes: number;
  /** Where the piece starts inside the IO's buffer. */
  readonly bufferOffset: number;
  /** read: the vid whose object is read; create: the COW source (0 = a fresh object). */
  readonly sourceVid: number;
}

export interface IoPlan {
  readonly vid: number;
  /** The cache generation the plan was made from (for reload de-duplication). */
  readonly generation: number;
  readonly pieces: readonly IoPiece[];
  /** Send the coherence probe with the pieces. */
  readonly probe: boolean;
  readonly createCount: number;
  /** Created index range; -1 when nothing is created. */
  readonly createMinIdx: number;
  readonly createMaxIdx: number;
}

export interface ObjectRange {
  readonly firstIdx: number;
  /** Inclusive. */
  readonly lastIdx: number;
}

/** The data objects [offset, offset + length) touches; length must be > 0. */
export function objectRange(offsetBytes: number, lengthBytes: number, objectBytes: number): ObjectRange {
  assert(lengthBytes > 0, 'an IO range needs at least one byte');
  return {
    firstIdx: Math.floor(offsetBytes / objectBytes),
    lastIdx: Math.floor((offsetBytes + lengthBytes - 1) / objectBytes),
  };
}

function* slices(
  offsetBytes: number,
  lengthBytes: number,
  objectBytes: number,
): Generator<{ idx: number; offset: number; lengthBytes: number; bufferOffset: number }> {
  let doneBytes = 0;
  while (doneBytes < lengthBytes) {
    const position = offsetBytes + doneBytes;
    const idx = Math.floor(position / objectBytes);
    const offset = position - idx * objectBytes;
    const pieceBytes = Math.min(lengthBytes - doneBytes, objectBytes - offset);
    yield { idx, offset, lengthBytes: pieceBytes, bufferOffset: doneBytes };
    doneBytes += pieceBytes;
  }
}

/**
 * When a read carries the probe: 'unowned' (default) when it touches an area the working VDI
 * does not own, 'always', or 'never' (a lock-less client; see the file comment).
 */
export type ReadProbe = 'unowned' | 'always' | 'never';

export function planRead(
  mapping: InodeMapping,
  offsetBytes: number,
  lengthBytes: number,
  options: { probe?: ReadProbe; testOnlySkipUnallocatedProbe?: boolean } = {},
): IoPlan {
  const pieces: IoPiece[] = [];
  const when = options.probe ?? 'unowned';
  let probe = when === 'always';
  for (const slice of slices(offsetBytes, lengthBytes, mapping.objectBytes)) {
    const owner = mapping.owner(slice.idx);
    // The test-only bug (TestOnlyClientBug): an unallocated area is served as zeros unprobed.
    if (owner !== mapping.vid && !(owner === 0 && options.testOnlySkipUnallocatedProbe === true))
      probe ||= when === 'unowned';
    pieces.push({ ...slice, action: owner === 0 ? 'zero' : 'read', sourceVid: owner });
  }
  return { vid: mapping.vid, generation: mapping.generation, pieces, probe, ...NO_CREATES };
}

export function planWrite(mapping: InodeMapping, offsetBytes: number, lengthBytes: number): IoPlan {
  const pieces: IoPiece[] = [];
  let createCount = 0;
  let createMinIdx = -1;
  let createMaxIdx = -1;
  for (const slice of slices(offsetBytes, lengthBytes, mapping.objectBytes)) {
    const owner = mapping.owner(slice.idx);
    if (owner === mapping.vid) {
      pieces.push({ ...slice, action: 'write', sourceVid: mapping.vid });
      continue;
    }
    pieces.push({ ...slice, action: 'create', sourceVid: owner });
    createCount += 1;
    if (createMinIdx < 0) createMinIdx = slice.idx;
    createMaxIdx = slice.idx;
  }
  return {
    vid: mapping.vid,
    generation: mapping.generation,
    pieces,
    probe: false,
    createCount,
    createMinIdx,
    createMaxIdx,
  };
}

/** No data, only the probe: "is our cached mapping still current?" (GET LBA STATUS). */
export function planProbe(mapping: InodeMapping): IoPlan {
  return { vid: mapping.vid, generation: mapping.generation, pieces: [], probe: true, ...NO_CREATES };
}

const NO_CREATES = { createCount: 0, createMinIdx: -1, createMaxIdx: -1 } as const;
