/**
 * Found by the live-target fuzzer (sim/fuzz/live-target-fuzz.ts; known bug
 * 'target-nop-in-echo-oversize').
 *
 * Bug: the target echoes a NOP-Out's ping data whole in its NOP-In (IscsiConnection #nopOut,
 * src/iscsi/target/iscsi-connection.ts: `data: pdu.data`), whatever the initiator's
 * MaxRecvDataSegmentLength. The initiator may send up to the *target's* MaxRecvDataSegmentLength
 * (262,144 by default), but RFC 7143 §11.18 (Ping Data) says "The length of the reflected data is
 * limited to MaxRecvDataSegmentLength" (the initiator's). An initiator that declared less (open-
 * iscsi's default is 262,144, but 8,192 is common and allowed) receives a PDU above its limit:
 * a protocol error that makes it drop the connection (the simulated initiator: 'protocol-error').
 * The fuzzer saw NOP-Ins of 72,952 to 254,496 bytes sent to a raw initiator that declared 65,536.
 *
 * Expected: the NOP-In carries at most the initiator's MaxRecvDataSegmentLength of the ping data
 * (or the NOP-Out is refused), and the connection stays up.
 */
import { expect, test } from 'vitest';
import { targetWorld } from '../iscsi/target/target-world.js';

test('a 16 KiB ping to an initiator that declared MaxRecvDataSegmentLength 8192 gets a NOP-In it can take', async () => {
  const world = await targetWorld();
  const initiator = await world.login({
    offer: { maxRecvDataSegmentLengthBytes: 8192 },
  });
  const ping = Buffer.alloc(16_384, 0x5a);
  const answer = await world.settle(initiator.ping(ping)).then(
    (echo) => echo,
    (error: Error) => error,
  );
  // Today: the target sends a 16,384-byte NOP-In; the initiator's framer stops on it and the
  // connection closes (the ping fails).
  expect(answer).toBeInstanceOf(Buffer);
  expect((answer as Buffer).length).toBeLessThanOrEqual(8192);
  expect(initiator.isClosed).toBe(false);
  await world.close();
});
