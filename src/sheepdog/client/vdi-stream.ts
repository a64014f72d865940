/**
 * Streams a byte range of a VDI out (to stdout) or in (from stdin) through a lock-less client,
 * without holding the whole range: the range is cut into IOs of at most STREAM_IO_BYTES_MAX, and
 * every IO but the last ends at a multiple of it (so IOs of objects up to 4 MiB never share an
 * object and pipeline, while a short range that straddles a boundary stays one IO with one inode
 * update), and at most `windowMax` IOs run at once (ordered-window.ts), delivered in order.
 *
 * - Reads: every IO's bytes go to `onData` in range order; the next waits for its promise
 *   (backpressure).
 * - Writes: pieces are taken from the source as the window has room. A source that ends early
 *   writes what it had and stops (no zero padding, unlike dog).
 * The first failure stops new IOs; those already started are awaited, then it is thrown.
 */
import { assert } from '../../core/assert.js';
import { ByteSource } from '../byte-source.js';
import { forEachOrdered } from '../ordered-window.js';

/** Largest IO (and so largest request) a stream sends. */
export const STREAM_IO_BYTES_MAX = 4 * 1024 * 1024;
/** IOs in flight at once. */
export const STREAM_WINDOW_DEFAULT = 8;

/** What a stream needs from the client (LocklessVdi). */
export interface ByteRangeIo {
  read(offsetBytes: number, lengthBytes: number): Promise<Buffer>;
  write(offsetBytes: number, data: Buffer): Promise<void>;
}

interface IoRange {
  readonly offsetBytes: number;
  readonly lengthBytes: number;
}

/** [offset, offset + length) cut into IOs as the file comment says. */
export function* streamRanges(offsetBytes: number, lengthBytes: number): Generator<IoRange> {
  assert(
    Number.isSafeInteger(offsetBytes) &&
      Number.isSafeInteger(lengthBytes) &&
      offsetBytes >= 0 &&
      lengthBytes >= 0,
    `stream range of ${lengthBytes} bytes at ${offsetBytes} is not a byte range`,
  );
  const endBytes = offsetBytes + lengthBytes;
  for (let position = offsetBytes; position < endBytes; ) {
    let next = Math.min(endBytes, position + STREAM_IO_BYTES_MAX);
    if (next < endBytes) next = Math.floor(next / STREAM_IO_BYTES_MAX) * STREAM_IO_BYTES_MAX;
    yield { offsetBytes: position, lengthBytes: next - position };
    position = next;
  }
}

/** Reads [offset, offset + length) in order into `onData`; resolves with the bytes delivered. */
export async function streamRead(
  vdi: ByteRangeIo,
  options: {
    readonly offsetBytes: number;
    readonly lengthBytes: number;
    readonly onData: (chunk: Buffer) => void | Promise<void>;
    readonly windowMax?: number;
  },
): Promise<number> {
  let bytesRead = 0;
  await forEachOrdered(
    streamRanges(options.offsetBytes, options.lengthBytes),
    options.windowMax ?? STREAM_WINDOW_DEFAULT,
    (range) => vdi.read(range.offsetBytes, range.lengthBytes),
    async (data) => {
      bytesRead += data.length;
      await options.onData(data);
    },
  );
  return bytesRead;
}

/**
 * Writes up to `lengthBytes` bytes of `source` at `offset`; resolves with the bytes written
 * (fewer when the source ended first).
 */
export async function streamWrite(
  vdi: ByteRangeIo,
  options: {
    readonly offsetBytes: number;
    readonly lengthBytes: number;
    readonly source: Buffer | AsyncIterable<Buffer | Uint8Array | string>;
    readonly windowMax?: number;
  },
): Promise<number> {
  const { source } = options;
  const bytes = new ByteSource(source);
  // A Buffer's length is known, so the cut follows it (a short range stays one IO).
  const lengthBytes = Buffer.isBuffer(source)
    ? Math.min(options.lengthBytes, source.length)
    : options.lengthBytes;
  async function* pieces(): AsyncGenerator<{ offsetBytes: number; data: Buffer }> {
    for (const range of streamRanges(options.offsetBytes, lengthBytes)) {
      const data = await bytes.read(range.lengthBytes);
      if (data.length === 0) return;
      yield { offsetBytes: range.offsetBytes, data };
      if (data.length < range.lengthBytes) return;
    }
  }
  let bytesWritten = 0;
  await forEachOrdered(
    pieces(),
    options.windowMax ?? STREAM_WINDOW_DEFAULT,
    (piece) => vdi.write(piece.offsetBytes, piece.data),
    (_done, piece) => {
      bytesWritten += piece.data.length;
    },
  );
  return bytesWritten;
}
