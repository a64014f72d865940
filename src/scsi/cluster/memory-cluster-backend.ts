/**
 * A BlockBackend for one node of a simulated cluster: the data of a backend every node shares
 * (one MemoryBackend, say) plus this node's MemorySharedCell, so the SCSI layer runs in cluster
 * mode over memory (tests, the simulator).
 *
 * Rules
 * - Every read, write and unmap first "reaches the store" (MemorySharedCell.ioReachesStore): if
 *   the cell changed since the IO was issued, this node learns it and the IO's guard decides
 *   whether it goes on. That models the sheepdog backend learning of other nodes' updates on its
 *   next store request, and the IO guard contract of shared-cell.ts.
 * - `beforeStore` (optional) runs between issuing and reaching the store, so a test can hold an
 *   IO in flight while other nodes act, then let it land.
 * - A write whose signal is aborted before it reaches the store sends nothing (BackendError
 *   'unavailable', as the sheepdog backend rejects it).
 */
import {
  BackendError,
  type BlockBackend,
  type ReadOptions,
  type WriteOptions,
} from '../../backends/block-backend.js';
import type { MemorySharedCell } from './memory-shared-cell.js';

export interface StoreIo {
  readonly kind: 'read' | 'write' | 'unmap';
  readonly offsetBytes: number;
  readonly lengthBytes: number;
}

export interface MemoryClusterBackendOptions {
  readonly beforeStore?: (io: StoreIo) => Promise<void> | void;
}

export class MemoryClusterBackend implements BlockBackend {
  readonly blockSizeBytes: number;
  readonly sizeBytes: number;
  readonly thin: boolean;
  readonly readOnly: boolean;
  readonly identity: string;
  readonly sharedCell: MemorySharedCell;
  readonly unmap?: (offsetBytes: number, lengthBytes: number) => Promise<void>;
  readonly mapStatus?: BlockBackend['mapStatus'];
  readonly #data: BlockBackend;
  readonly #beforeStore: ((io: StoreIo) => Promise<void> | void) | undefined;

  constructor(data: BlockBackend, cell: MemorySharedCell, options: MemoryClusterBackendOptions = {}) {
    this.#data = data;
    this.sharedCell = cell;
    this.#beforeStore = options.beforeStore;
    this.blockSizeBytes = data.blockSizeBytes;
    this.sizeBytes = data.sizeBytes;
    this.thin = data.thin;
    this.readOnly = data.readOnly;
    this.identity = data.identity;
    const unmap = data.unmap?.bind(data);
    if (unmap !== undefined) {
      this.unmap = (offsetBytes, lengthBytes) =>
        this.#atStore({ kind: 'unmap', offsetBytes, lengthBytes }, undefined, () =>
          unmap(offsetBytes, lengthBytes),
        );
    }
    const mapStatus = data.mapStatus?.bind(data);
    if (mapStatus !== undefined) this.mapStatus = mapStatus;
  }

  read(offsetBytes: number, lengthBytes: number, options?: ReadOptions): Promise<Buffer> {
    return this.#atStore({ kind: 'read', offsetBytes, lengthBytes }, options?.guard, () =>
      this.#data.read(offsetBytes, lengthBytes),
    );
  }

  write(offsetBytes: number, data: Buffer, options?: WriteOptions): Promise<void> {
    return this.#atStore({ kind: 'write', offsetBytes, lengthBytes: data.length }, options?.guard, () => {
      if (options?.signal?.aborted) {
        return Promise.reject(new BackendError('unavailable', 'the write was aborted before it was sent'));
      }
      return this.#data.write(offsetBytes, data, options?.fua === undefined ? {} : { fua: options.fua });
    });
  }

  flush(): Promise<void> {
    return this.#data.flush();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Issues the IO, lets it reach the store, and calls `apply` in the same synchronous step as the
   * last check that the cell did not change under it (nothing can land in between).
   */
  async #atStore<T>(io: StoreIo, guard: ReadOptions['guard'], apply: () => Promise<T>): Promise<T> {
    let seen = this.sharedCell.cached.version;
    await this.#beforeStore?.(io);
    for (;;) {
      const consulted = this.sharedCell.ioReachesStore(seen, guard);
      if (consulted === undefined) return apply();
      seen = await consulted;
    }
  }
}
