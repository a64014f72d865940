/** Parses HOST:PORT, [IPv6]:PORT or a bare PORT (on 127.0.0.1) from the command line. */
import type { Endpoint } from '../../transports/transport.js';

export function parseEndpointArg(text: string, flag: string): Endpoint {
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  const plain = /^([^:]+):(\d+)$/.exec(text);
  const bare = /^(\d+)$/.exec(text);
  const host = bracketed?.[1] ?? plain?.[1] ?? (bare ? '127.0.0.1' : undefined);
  const portText = bracketed?.[2] ?? plain?.[2] ?? bare?.[1];
  const port = Number(portText);
  if (host === undefined || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new Error(
      `${flag} ${JSON.stringify(text)} is not an address (write HOST:PORT, e.g. 127.0.0.1:7000)`,
    );
  }
  return { host, port };
}
