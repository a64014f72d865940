/**
 * Which initiators may reach a target: by iSCSI name, by address, or both (every list that is
 * set must match). Names compare case-insensitively (iSCSI names are normalized to lower case);
 * addresses match exactly or by CIDR block, IPv4 and IPv6, and an IPv4-mapped IPv6 address
 * ("::ffff:10.0.0.1", what a dual-stack socket reports) counts as its IPv4 address.
 *
 * Used twice: at login (a refused initiator gets 0x0202 Authorization failure) and by SendTargets
 * (a refused initiator does not even see the target).
 */
import { BlockList, isIP } from 'node:net';
import { sameIscsiName } from './text-values.js';

export interface InitiatorAccess {
  /** iSCSI names allowed; absent: any name. */
  readonly initiatorNames?: readonly string[];
  /** Addresses or CIDR blocks ("10.0.0.0/8", "fd00::/8", "192.0.2.7"); absent: any address. */
  readonly initiatorAddresses?: readonly string[];
}

export interface InitiatorIdentity {
  readonly name: string;
  /** The peer address of the connection, as the socket reports it. */
  readonly address: string;
}

export function isInitiatorAllowed(access: InitiatorAccess, initiator: InitiatorIdentity): boolean {
  if (access.initiatorNames !== undefined) {
    if (!access.initiatorNames.some((name) => sameIscsiName(name, initiator.name))) return false;
  }
  if (access.initiatorAddresses !== undefined) {
    if (!access.initiatorAddresses.some((rule) => addressMatches(rule, initiator.address))) return false;
  }
  return true;
}

/** Entries of `access` that can never match, each naming the fix; empty when all are usable. */
export function validateAccess(access: InitiatorAccess): string[] {
  return (access.initiatorAddresses ?? [])
    .filter((rule) => parseRule(rule) === undefined)
    .map(
      (rule) =>
        `initiator address "${rule}" is not an IP address or CIDR block (write 10.0.0.0/8 or fd00::/8)`,
    );
}

interface AddressRule {
  readonly address: string;
  readonly family: 'ipv4' | 'ipv6';
  readonly prefixBits: number;
}

function parseRule(rule: string): AddressRule | undefined {
  const slash = rule.indexOf('/');
  const address = normalizeAddress(slash === -1 ? rule : rule.slice(0, slash));
  const version = isIP(address);
  if (version === 0) return undefined;
  const family = version === 4 ? 'ipv4' : 'ipv6';
  const bitsMax = version === 4 ? 32 : 128;
  if (slash === -1) return { address, family, prefixBits: bitsMax };
  const prefixText = rule.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefixBits = Number(prefixText);
  if (prefixBits > bitsMax) return undefined;
  return { address, family, prefixBits };
}

function addressMatches(ruleText: string, peerAddress: string): boolean {
  const rule = parseRule(ruleText);
  const address = normalizeAddress(peerAddress);
  const version = isIP(address);
  if (rule === undefined || version === 0) return false;
  const family = version === 4 ? 'ipv4' : 'ipv6';
  if (family !== rule.family) return false;
  const block = new BlockList();
  block.addSubnet(rule.address, rule.prefixBits, rule.family);
  return block.check(address, family);
}

function normalizeAddress(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return mapped ? mapped[1]! : address;
}
