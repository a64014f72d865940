/**
 * The answer to a SendTargets text request (RFC 7143 §13.3 and Appendix C).
 *
 * The answer is a list of pairs: for each target, `TargetName=<iqn>` followed by one
 * `TargetAddress=<host>:<port>,<portal group tag>` per portal (an IPv6 host in brackets, §13.8;
 * the tag is mandatory in SendTargets answers). Which targets:
 * - discovery session, `SendTargets=All`: every target the initiator may access (ACLs apply, so a
 *   refused initiator learns nothing about the target);
 * - `SendTargets=<iSCSI name>`: that target, if it exists and the initiator may access it (in a
 *   normal session only the session's own target is reported, as Appendix C allows);
 * - normal session, `SendTargets=` (empty): the session's own target;
 * - `All` in a normal session, or an empty value in a discovery session, is answered
 *   `SendTargets=Reject`: Appendix C reserves All for discovery, and a discovery session has no
 *   target of its own.
 * An unknown or refused name yields an empty answer, the same as a target with no portals, so
 * names cannot be probed through SendTargets (a normal login still answers 0x0203 for a name that
 * does not exist: target names are not secrets, docs/security.md). A portal bound to a wildcard address (0.0.0.0, ::) is reported with
 * the address the request arrived on, or left out when that is unknown. Splitting a long answer
 * into continued Text Responses is the text layer's job.
 */
import { isIP } from 'node:net';
import { type InitiatorAccess, type InitiatorIdentity, isInitiatorAllowed } from './access.js';
import type { SessionType } from './negotiate.js';
import { sameIscsiName } from './text-values.js';

export interface Portal {
  readonly host: string;
  readonly port: number;
  readonly portalGroupTag: number;
}

export interface DiscoverableTarget {
  readonly name: string;
  readonly portals: readonly Portal[];
  readonly access: InitiatorAccess;
}

export interface SendTargetsRequest {
  /** The value of the SendTargets key. */
  readonly value: string;
  readonly sessionType: SessionType;
  /** Normal sessions: the TargetName the session logged in to. */
  readonly sessionTargetName?: string;
  readonly initiator: InitiatorIdentity;
  /** The target address the request arrived on; stands in for wildcard portal hosts. */
  readonly localAddress?: string;
}

export function answerSendTargets(
  request: SendTargetsRequest,
  targets: readonly DiscoverableTarget[],
): Array<[string, string]> {
  const visible = (target: DiscoverableTarget) => isInitiatorAllowed(target.access, request.initiator);
  let chosen: DiscoverableTarget[];
  if (request.sessionType === 'Discovery') {
    if (request.value === '') return [['SendTargets', 'Reject']];
    chosen =
      request.value === 'All'
        ? targets.filter(visible)
        : targets.filter((target) => sameIscsiName(target.name, request.value) && visible(target));
  } else {
    if (request.value === 'All') return [['SendTargets', 'Reject']];
    const own = request.sessionTargetName;
    const wanted = request.value === '' ? own : request.value;
    chosen =
      own === undefined || wanted === undefined || !sameIscsiName(wanted, own)
        ? []
        : targets.filter((target) => sameIscsiName(target.name, own) && visible(target));
  }
  const pairs: Array<[string, string]> = [];
  for (const target of chosen) {
    pairs.push(['TargetName', target.name]);
    for (const portal of target.portals) {
      const host = reportedHost(portal.host, request.localAddress);
      if (host !== undefined) {
        pairs.push(['TargetAddress', formatTargetAddress(host, portal.port, portal.portalGroupTag)]);
      }
    }
  }
  return pairs;
}

/** `host:port,tag`, with an IPv6 host in brackets (§13.8). */
export function formatTargetAddress(host: string, port: number, portalGroupTag: number): string {
  const shown = isIP(host) === 6 ? `[${host}]` : host;
  return `${shown}:${port},${portalGroupTag}`;
}

function reportedHost(host: string, localAddress: string | undefined): string | undefined {
  if (host !== '0.0.0.0' && host !== '::') return host;
  return localAddress;
}
