/**
 * tgt's backing-store syntax for sheepdog LUs (protocol doc §9), parsed and printed. Pure.
 *
 *   tcp:HOST:PORT:VDI     e.g. tcp:127.0.0.1:7000:vol0; an IPv6 host goes in brackets
 *                         (tcp:[::1]:7000:vol0)
 *   unix:PATH:VDI         e.g. unix:/var/lib/sheepdog/sock:vol0 (the path ends at the last ':')
 *
 * A fifth field (tgt's old VDI:TAG or VDI:SNAPID snapshot LUNs) is refused, as tgt has refused
 * it since 2016: a LU must be a writable working VDI. Errors are values with a message that
 * names what was wrong and how to write it instead.
 */
import type { Endpoint } from '../../../transports/transport.js';
import { SD_LISTEN_PORT, SD_MAX_VDI_LEN } from '../wire/constants.js';
import { fixedStringFits } from '../wire/writer.js';

export type BackingStoreSpec =
  | { readonly kind: 'tcp'; readonly endpoint: Endpoint; readonly vdiName: string }
  | { readonly kind: 'unix'; readonly socketPath: string; readonly vdiName: string };

export type BackingStoreSpecResult =
  | { readonly ok: true; readonly spec: BackingStoreSpec }
  | { readonly ok: false; readonly message: string };

const SYNTAX = 'tcp:HOST:PORT:VDI or unix:PATH:VDI';

function failed(text: string, why: string): BackingStoreSpecResult {
  return { ok: false, message: `backing store ${JSON.stringify(text)}: ${why}; write it as ${SYNTAX}` };
}

function checkVdiName(text: string, vdiName: string): BackingStoreSpecResult | undefined {
  if (vdiName === '') return failed(text, 'the VDI name is missing');
  if (vdiName.includes(':')) {
    return failed(
      text,
      `"${vdiName}" has a ':' (a snapshot LUN, VDI:TAG); snapshots cannot back a LU, so export a clone of the snapshot instead`,
    );
  }
  if (!fixedStringFits(vdiName, SD_MAX_VDI_LEN)) {
    return failed(text, `the VDI name must be 1 to ${SD_MAX_VDI_LEN - 1} bytes of UTF-8 without NUL`);
  }
  return undefined;
}

export function parseBackingStoreSpec(text: string): BackingStoreSpecResult {
  const colon = text.indexOf(':');
  const protocol = colon < 0 ? '' : text.slice(0, colon);
  const rest = text.slice(colon + 1);
  if (protocol === 'unix') {
    const last = rest.lastIndexOf(':');
    if (last <= 0) return failed(text, 'unix needs a socket path and a VDI name');
    const vdiName = rest.slice(last + 1);
    return (
      checkVdiName(text, vdiName) ?? {
        ok: true,
        spec: { kind: 'unix', socketPath: rest.slice(0, last), vdiName },
      }
    );
  }
  if (protocol !== 'tcp') {
    return failed(text, colon < 0 ? 'no protocol' : `unknown protocol "${protocol}"`);
  }
  let host: string;
  let afterHost: string;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0 || rest[close + 1] !== ':') return failed(text, 'an IPv6 host needs [ADDRESS]:PORT');
    host = rest.slice(1, close);
    afterHost = rest.slice(close + 2);
  } else {
    const hostEnd = rest.indexOf(':');
    if (hostEnd < 0) return failed(text, 'tcp needs a host, a port and a VDI name');
    host = rest.slice(0, hostEnd);
    afterHost = rest.slice(hostEnd + 1);
  }
  if (host === '') return failed(text, 'the host is missing');
  const portEnd = afterHost.indexOf(':');
  if (portEnd < 0) return failed(text, 'tcp needs a port and a VDI name after the host');
  const portText = afterHost.slice(0, portEnd);
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) {
    return failed(text, `port "${portText}" is not 1..65535 (sheep listens on ${SD_LISTEN_PORT} by default)`);
  }
  const vdiName = afterHost.slice(portEnd + 1);
  return (
    checkVdiName(text, vdiName) ?? { ok: true, spec: { kind: 'tcp', endpoint: { host, port }, vdiName } }
  );
}

/** The text form parseBackingStoreSpec reads back to the same spec. */
export function formatBackingStoreSpec(spec: BackingStoreSpec): string {
  if (spec.kind === 'unix') return `unix:${spec.socketPath}:${spec.vdiName}`;
  const host = spec.endpoint.host.includes(':') ? `[${spec.endpoint.host}]` : spec.endpoint.host;
  return `tcp:${host}:${spec.endpoint.port}:${spec.vdiName}`;
}
