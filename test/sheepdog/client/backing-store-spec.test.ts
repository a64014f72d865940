/**
 * Goal: tgt's sheepdog backing-store syntax parses as tgt reads it, prints back to itself, and
 * every mistake gets a message naming what was wrong and the syntax to use.
 * Method: examples (tcp, IPv6 in brackets, unix paths with colons) and refusals, checked by
 * value and by message; a round trip through format and parse.
 */
import { describe, expect, test } from 'vitest';
import {
  formatBackingStoreSpec,
  parseBackingStoreSpec,
} from '../../../src/sheepdog/client/backing-store-spec.js';

describe('parse', () => {
  test.each([
    [
      'tcp:127.0.0.1:7000:vol0',
      { kind: 'tcp', endpoint: { host: '127.0.0.1', port: 7000 }, vdiName: 'vol0' },
    ],
    [
      'tcp:sheep-a:7001:my volume',
      { kind: 'tcp', endpoint: { host: 'sheep-a', port: 7001 }, vdiName: 'my volume' },
    ],
    ['tcp:[::1]:7000:v', { kind: 'tcp', endpoint: { host: '::1', port: 7000 }, vdiName: 'v' }],
    [
      'unix:/var/lib/sheepdog/sock:vol0',
      { kind: 'unix', socketPath: '/var/lib/sheepdog/sock', vdiName: 'vol0' },
    ],
    ['unix:/odd:dir/sock:vol0', { kind: 'unix', socketPath: '/odd:dir/sock', vdiName: 'vol0' }],
  ])('%s', (text, spec) => {
    const parsed = parseBackingStoreSpec(text);
    expect(parsed).toEqual({ ok: true, spec });
    if (parsed.ok) expect(formatBackingStoreSpec(parsed.spec)).toBe(text);
  });
});

describe('refusals name the problem and the syntax', () => {
  test.each([
    ['vol0', /no protocol; write it as tcp:HOST:PORT:VDI or unix:PATH:VDI/],
    ['iscsi:1.2.3.4:7000:v', /unknown protocol "iscsi"/],
    ['tcp:127.0.0.1:7000', /needs a port and a VDI name/],
    ['tcp:127.0.0.1', /needs a host, a port and a VDI name/],
    ['tcp::7000:v', /the host is missing/],
    ['tcp:h:70000:v', /port "70000" is not 1\.\.65535/],
    ['tcp:h:0:v', /port "0" is not 1\.\.65535/],
    ['tcp:h:x:v', /port "x"/],
    ['tcp:h:7000:', /the VDI name is missing/],
    ['tcp:h:7000:vol:snap1', /snapshot LUN.*export a clone/],
    ['tcp:[::1:7000:v', /IPv6 host needs \[ADDRESS\]:PORT/],
    ['unix:vol0', /unix needs a socket path and a VDI name/],
    [`tcp:h:7000:${'x'.repeat(256)}`, /1 to 255 bytes/],
  ])('%s', (text, message) => {
    const parsed = parseBackingStoreSpec(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.message).toMatch(message);
  });
});
