/**
 * The error both transports reject connect() and listen() with: a stable `code` (the errno name
 * node:net uses, e.g. 'ECONNREFUSED', 'ETIMEDOUT', 'EADDRINUSE') that callers branch on, and a
 * message naming the address and what to check.
 */
import { type Endpoint, endpointToString } from './transport.js';

export class TransportError extends Error {
  override readonly name = 'TransportError';

  constructor(
    readonly code: string,
    readonly address: Endpoint,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const HINTS: Record<string, string> = {
  ECONNREFUSED: 'nothing listens there; is the server up on that port?',
  ETIMEDOUT: 'no answer in time; is the host reachable (partition, firewall)?',
  EADDRINUSE: 'the port is taken; pick another or stop what holds it',
  EADDRNOTAVAIL: 'this host has no such address; listen on its own address or a wildcard',
  ECONNABORTED: 'the connecting host went down before the connection was made',
};

export function connectError(code: string, address: Endpoint, cause?: unknown): TransportError {
  const hint = HINTS[code] ?? 'see the cause';
  return new TransportError(
    code,
    address,
    `connect to ${endpointToString(address)} failed: ${code} (${hint})`,
    {
      cause,
    },
  );
}

export function listenError(code: string, address: Endpoint, cause?: unknown): TransportError {
  const hint = HINTS[code] ?? 'see the cause';
  return new TransportError(
    code,
    address,
    `listen on ${endpointToString(address)} failed: ${code} (${hint})`,
    {
      cause,
    },
  );
}
