/**
 * Found by the store fuzzer (sim/fuzz/store-fuzz.ts; known bug 'store-new-vdi-name-too-long').
 *
 * Bug: NEW_VDI takes its name as whatever the 256-byte field holds (SheepServer #newVdi,
 * src/store/sheep-server.ts: cString(payload, 0, SD_MAX_VDI_LEN), decoded as UTF-8) and the VDI
 * table writes it into the new inode without a check: VdiTable #create/#clone/#snapshot ->
 * #writeInode -> encodeInodeHeader (src/sheepdog/wire/inode.ts) -> FixedWriter.fixedString
 * (src/sheepdog/wire/writer.ts:78) asserts the name fits a 256-byte C string (< 256 bytes of
 * UTF-8). A name that fills the field with no NUL (256 ASCII bytes), or invalid UTF-8 (each bad
 * byte decodes to U+FFFD, 3 bytes), fails that assertion. An AssertionError in a handler is a
 * broken store invariant: SheepServer.handle logs store.invariant_broken and calls
 * onInvariantBroken, the endpoint destroys the connection, and `collie sheep` / `collie up` exit
 * with status 70 (src/cli/sheep.ts:106, src/cli/up.ts:304). One request from any client stops
 * the store.
 *
 * Stack (fuzzer, seed 1, case 611 at the time): AssertionError: string of 469 bytes does not fit a
 * 256-byte C string field (validate it first) at FixedWriter.fixedString <- encodeInodeHeader <-
 * VdiTable #writeInode <- #clone <- SheepServer #newVdi.
 *
 * Expected: such a name is refused with INVALID_PARMS (or stored as sheep stores its bytes), the
 * connection stays open and no invariant breaks.
 */
import { expect, test } from 'vitest';
import { SdFlag, SdOp, SdRes } from '../../src/sheepdog/wire/constants.js';
import { vdiRequest } from '../../src/sheepdog/wire/header.js';
import { storeWorld } from '../support/store-world.js';

async function newVdiWithName(nameField: Buffer) {
  const world = await storeWorld();
  const conn = await world.connect('client', 7000);
  const answer = await world
    .settle(
      conn.request(
        vdiRequest({ opcode: SdOp.NEW_VDI, flags: SdFlag.WRITE, dataLength: 256, vdiSize: 1n << 30n }),
        nameField,
      ),
    )
    .then(
      (response) => response.header.result,
      (error: Error) => error.message,
    );
  const broken = world.events.toArray().filter((event) => event.type === 'store.invariant_broken');
  return { answer, broken };
}

test('NEW_VDI whose name fills the 256-byte field (no NUL) is refused, not a broken invariant', async () => {
  const { answer, broken } = await newVdiWithName(Buffer.alloc(256, 0x61));
  expect(broken).toEqual([]);
  expect(answer).toBe(SdRes.INVALID_PARMS);
});

test('NEW_VDI whose name is not UTF-8 is refused, not a broken invariant', async () => {
  const field = Buffer.alloc(256);
  field.fill(0xff, 0, 100); // 100 bytes that each decode to U+FFFD (3 bytes of UTF-8)
  const { answer, broken } = await newVdiWithName(field);
  expect(broken).toEqual([]);
  expect(answer).toBe(SdRes.INVALID_PARMS);
});
