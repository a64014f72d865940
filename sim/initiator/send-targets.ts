/**
 * Discovery (RFC 7143 §4.3, §13.3, Appendix C): log in to a discovery session, ask SendTargets,
 * read the answer, log out. The answer is a run of TargetName keys, each followed by its
 * TargetAddress keys ("host:port,portal-group-tag", an IPv6 host in brackets, §13.8).
 */
import type { TextPair } from '../../src/iscsi/pdu/text.js';
import type { Endpoint, Transport } from '../../transports/transport.js';
import { type InitiatorOptions, IscsiInitiator } from './iscsi-initiator.js';

export interface DiscoveredPortal {
  readonly host: string;
  readonly port: number;
  readonly portalGroupTag: number;
}

export interface DiscoveredTarget {
  readonly name: string;
  readonly portals: readonly DiscoveredPortal[];
}

/** Asks `SendTargets=<value>` (default All) in a discovery session and logs out. */
export async function sendTargets(
  transport: Transport,
  portal: Endpoint,
  options: InitiatorOptions & { readonly value?: string },
): Promise<DiscoveredTarget[]> {
  const initiator = await IscsiInitiator.loginDiscovery(transport, portal, options);
  try {
    const pairs = await initiator.text([['SendTargets', options.value ?? 'All']]);
    return parseSendTargets(pairs);
  } finally {
    await initiator.close();
  }
}

/** Groups TargetAddress keys under the TargetName before them; malformed addresses are skipped. */
export function parseSendTargets(pairs: readonly TextPair[]): DiscoveredTarget[] {
  const targets: { name: string; portals: DiscoveredPortal[] }[] = [];
  for (const [key, value] of pairs) {
    if (key === 'TargetName') targets.push({ name: value, portals: [] });
    else if (key === 'TargetAddress') {
      const portal = parseTargetAddress(value);
      if (portal !== undefined) targets.at(-1)?.portals.push(portal);
    }
  }
  return targets;
}

export function parseTargetAddress(text: string): DiscoveredPortal | undefined {
  const match = /^(\[[^\]]+\]|[^:,]+)(?::(\d+))?(?:,(\d+))?$/.exec(text);
  if (match === null) return undefined;
  const host = match[1]!.startsWith('[') ? match[1]!.slice(1, -1) : match[1]!;
  return { host, port: Number(match[2] ?? 3260), portalGroupTag: Number(match[3] ?? 1) };
}
