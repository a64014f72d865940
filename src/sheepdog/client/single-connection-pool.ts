/**
 * One SheepConnection the caller already opened, seen as a SheepRequestPool, for a lock-less
 * client that does one job and leaves (`collie vdi read/write` on the CLI's connection, as dog
 * runs): no reconnects and no resends. A connection failure is final: it rejects as
 * SheepUnavailableError (what the IO runner and inode cache treat as "sheep unreachable"), or
 * as the SheepConnectionError itself for a caller that asked `resend: false`. The connection
 * stays the caller's to close.
 */
import { type Endpoint, endpointFromString } from '../../../transports/transport.js';
import {
  type SheepConnection,
  SheepConnectionError,
  type SheepRequestHeader,
  type SheepResponse,
} from '../sheep-connection.js';
import {
  POOL_UNAVAILABLE_AFTER_MS_DEFAULT,
  type PoolRequestOptions,
  type SheepRequestPool,
  SheepUnavailableError,
} from './sheep-pool.js';

export class SingleConnectionPool implements SheepRequestPool {
  readonly #conn: SheepConnection;
  readonly reconnects = 0;
  readonly unavailableAfterMs = POOL_UNAVAILABLE_AFTER_MS_DEFAULT;

  constructor(conn: SheepConnection) {
    this.#conn = conn;
  }

  get endpoint(): string {
    return this.#conn.endpoint;
  }

  get address(): Endpoint {
    return endpointFromString(this.#conn.endpoint);
  }

  async request(
    header: SheepRequestHeader,
    payload?: Buffer,
    options: PoolRequestOptions = {},
  ): Promise<SheepResponse> {
    try {
      return await this.#conn.request(header, payload);
    } catch (error) {
      if (!(error instanceof SheepConnectionError) || options.resend === false) throw error;
      throw new SheepUnavailableError(this.endpoint, error.message, { cause: error });
    }
  }
}
