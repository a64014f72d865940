/**
 * A BlockBackend in memory: sparse, thin-provisioned, exact. For tests and the simulator.
 *
 * - Storage is a Map of 64 KiB chunks, created on first write; a chunk also has a bitmap of which
 *   of its blocks are mapped. Writing a block maps it (even with zeros); unmapping zeroes it and
 *   clears its bit; a chunk with no mapped block is dropped. So memory follows what is mapped, and
 *   mapStatus() is exact to the block.
 * - Unmapped blocks read as zeros (the LU reports LBPRZ).
 * - Reads and writes complete synchronously inside their promise, so overlapping operations apply
 *   in call order and never tear.
 * - Checks its arguments like the contract says the SCSI layer will (multiples of the block size,
 *   inside the device); a violation is a Collie bug and throws AssertionError.
 * - resize() only grows (the admin API's LUN resize): the new blocks are unmapped and read as
 *   zeros; nothing is allocated for them.
 */
import { AssertionError, assert } from '../core/assert.js';
import { BackendError, type BlockBackend } from './block-backend.js';

export const MEMORY_CHUNK_BYTES = 64 * 1024;

export interface MemoryBackendOptions {
  readonly sizeBytes: number;
  readonly blockSizeBytes?: number;
  readonly thin?: boolean;
  readonly readOnly?: boolean;
  /** Stable identity for the LU designators; default "memory:<sizeBytes>". */
  readonly identity?: string;
}

interface Chunk {
  readonly data: Buffer;
  /** One byte per block: 1 = mapped. */
  readonly mapped: Uint8Array;
  mappedCount: number;
}

export class MemoryBackend implements BlockBackend {
  readonly blockSizeBytes: number;
  readonly thin: boolean;
  readonly readOnly: boolean;
  readonly identity: string;
  readonly #chunks = new Map<number, Chunk>();
  readonly #blocksPerChunk: number;
  #sizeBytes: number;
  #closed = false;

  constructor(options: MemoryBackendOptions) {
    this.blockSizeBytes = options.blockSizeBytes ?? 512;
    this.#sizeBytes = options.sizeBytes;
    this.thin = options.thin ?? true;
    this.readOnly = options.readOnly ?? false;
    this.identity = options.identity ?? `memory:${options.sizeBytes}`;
    assert(
      this.blockSizeBytes >= 512 && MEMORY_CHUNK_BYTES % this.blockSizeBytes === 0,
      `MemoryBackend: block size ${this.blockSizeBytes} must divide ${MEMORY_CHUNK_BYTES}`,
    );
    assert(
      this.#sizeBytes > 0 && this.#sizeBytes % this.blockSizeBytes === 0,
      `MemoryBackend: size ${this.#sizeBytes} must be a positive multiple of ${this.blockSizeBytes}`,
    );
    this.#blocksPerChunk = MEMORY_CHUNK_BYTES / this.blockSizeBytes;
  }

  get sizeBytes(): number {
    return this.#sizeBytes;
  }

  /** Grows the device to `sizeBytes` (a multiple of the block size, not smaller than now). */
  async resize(sizeBytes: number): Promise<void> {
    this.#checkOpen('resize');
    assert(
      Number.isSafeInteger(sizeBytes) &&
        sizeBytes >= this.#sizeBytes &&
        sizeBytes % this.blockSizeBytes === 0,
      `MemoryBackend ${this.identity}: resize to ${sizeBytes} bytes (it has ${this.#sizeBytes}; grow only, by whole ${this.blockSizeBytes}-byte blocks)`,
    );
    this.#sizeBytes = sizeBytes;
  }

  /** Bytes held by chunks (for tests that check sparseness). */
  get allocatedBytes(): number {
    return this.#chunks.size * MEMORY_CHUNK_BYTES;
  }

  async read(offsetBytes: number, lengthBytes: number): Promise<Buffer> {
    this.#checkRange('read', offsetBytes, lengthBytes);
    // Not zero-filled up front: each piece is either copied or zeroed below.
    const out = Buffer.allocUnsafe(lengthBytes);
    this.#forEachPiece(offsetBytes, lengthBytes, (chunkIndex, inChunk, outOffset, pieceBytes) => {
      const chunk = this.#chunks.get(chunkIndex);
      if (chunk !== undefined) chunk.data.copy(out, outOffset, inChunk, inChunk + pieceBytes);
      else out.fill(0, outOffset, outOffset + pieceBytes);
    });
    return out;
  }

  async write(offsetBytes: number, data: Buffer, _options?: { fua?: boolean }): Promise<void> {
    this.#checkRange('write', offsetBytes, data.length);
    if (this.readOnly) throw new BackendError('read-only', `memory backend ${this.identity} is read-only`);
    this.#forEachPiece(offsetBytes, data.length, (chunkIndex, inChunk, dataOffset, pieceBytes) => {
      const chunk = this.#chunk(chunkIndex);
      data.copy(chunk.data, inChunk, dataOffset, dataOffset + pieceBytes);
      this.#mark(chunk, inChunk, pieceBytes, 1);
    });
  }

  async flush(): Promise<void> {
    this.#checkOpen('flush');
  }

  async unmap(offsetBytes: number, lengthBytes: number): Promise<void> {
    this.#checkRange('unmap', offsetBytes, lengthBytes);
    assert(this.thin, `MemoryBackend ${this.identity}: unmap() on a fully provisioned backend`);
    if (this.readOnly) throw new BackendError('read-only', `memory backend ${this.identity} is read-only`);
    this.#forEachPiece(offsetBytes, lengthBytes, (chunkIndex, inChunk, _offset, pieceBytes) => {
      const chunk = this.#chunks.get(chunkIndex);
      if (chunk === undefined) return;
      chunk.data.fill(0, inChunk, inChunk + pieceBytes);
      this.#mark(chunk, inChunk, pieceBytes, 0);
      if (chunk.mappedCount === 0) this.#chunks.delete(chunkIndex);
    });
  }

  async mapStatus(
    offsetBytes: number,
    lengthBytes: number,
  ): Promise<Array<{ offsetBytes: number; lengthBytes: number; mapped: boolean }>> {
    this.#checkRange('mapStatus', offsetBytes, lengthBytes);
    const runs: Array<{ offsetBytes: number; lengthBytes: number; mapped: boolean }> = [];
    const push = (start: number, bytes: number, mapped: boolean) => {
      const last = runs[runs.length - 1];
      if (last !== undefined && last.mapped === mapped && last.offsetBytes + last.lengthBytes === start) {
        last.lengthBytes += bytes;
      } else {
        runs.push({ offsetBytes: start, lengthBytes: bytes, mapped });
      }
    };
    this.#forEachPiece(offsetBytes, lengthBytes, (chunkIndex, inChunk, pieceOffset, pieceBytes) => {
      const chunk = this.#chunks.get(chunkIndex);
      const start = offsetBytes + pieceOffset;
      if (chunk === undefined) {
        push(start, pieceBytes, false);
        return;
      }
      for (let done = 0; done < pieceBytes; done += this.blockSizeBytes) {
        const block = (inChunk + done) / this.blockSizeBytes;
        push(start + done, this.blockSizeBytes, chunk.mapped[block] === 1);
      }
    });
    return runs;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#chunks.clear();
  }

  #checkOpen(operation: string): void {
    if (this.#closed)
      throw new BackendError('unavailable', `memory backend ${this.identity}: ${operation} after close()`);
  }

  #checkRange(operation: string, offsetBytes: number, lengthBytes: number): void {
    this.#checkOpen(operation);
    const inside =
      Number.isSafeInteger(offsetBytes) &&
      Number.isSafeInteger(lengthBytes) &&
      offsetBytes >= 0 &&
      lengthBytes >= 0 &&
      offsetBytes % this.blockSizeBytes === 0 &&
      lengthBytes % this.blockSizeBytes === 0 &&
      offsetBytes + lengthBytes <= this.#sizeBytes;
    if (!inside) {
      // Built only on failure: this check runs on every I/O.
      throw new AssertionError(
        `MemoryBackend.${operation}(${offsetBytes}, ${lengthBytes}) outside ${this.#sizeBytes} bytes or not block aligned`,
      );
    }
  }

  #chunk(index: number): Chunk {
    let chunk = this.#chunks.get(index);
    if (chunk === undefined) {
      chunk = {
        data: Buffer.alloc(MEMORY_CHUNK_BYTES),
        mapped: new Uint8Array(this.#blocksPerChunk),
        mappedCount: 0,
      };
      this.#chunks.set(index, chunk);
    }
    return chunk;
  }

  #mark(chunk: Chunk, inChunk: number, pieceBytes: number, value: 0 | 1): void {
    const first = inChunk / this.blockSizeBytes;
    const last = (inChunk + pieceBytes) / this.blockSizeBytes;
    for (let block = first; block < last; block++) {
      if (chunk.mapped[block] !== value) {
        chunk.mapped[block] = value;
        chunk.mappedCount += value === 1 ? 1 : -1;
      }
    }
  }

  /** Calls `visit` for each chunk-sized piece of [offset, offset + length), in order. */
  #forEachPiece(
    offsetBytes: number,
    lengthBytes: number,
    visit: (chunkIndex: number, inChunkBytes: number, pieceOffsetBytes: number, pieceBytes: number) => void,
  ): void {
    let done = 0;
    while (done < lengthBytes) {
      const position = offsetBytes + done;
      const chunkIndex = Math.floor(position / MEMORY_CHUNK_BYTES);
      const inChunk = position - chunkIndex * MEMORY_CHUNK_BYTES;
      const pieceBytes = Math.min(MEMORY_CHUNK_BYTES - inChunk, lengthBytes - done);
      visit(chunkIndex, inChunk, done, pieceBytes);
      done += pieceBytes;
    }
  }
}
