/**
 * Goal: CHAP challenges are unpredictable in real runs: the production target takes them from the
 * ChallengeSource it is given (never from its seeded Rng when one is given), `collie target` and
 * `collie up` give it the OS's random source (src/core/real-entropy.ts), and that source returns
 * fresh bytes of the length asked.
 * Method: a target with a recording ChallengeSource, whose bytes must be the CHAP_I and CHAP_C on
 * the wire; realEntropy called directly; the CLI sources read as text (every startTargetService
 * call under src/cli passes `challenges: realEntropy`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { realEntropy } from '../../src/core/real-entropy.js';
import type { ChallengeSource } from '../../src/iscsi/login/chap.js';
import { memoryTarget, securityWorld } from './security-world.js';

const IQN = 'iqn.2026-01.test.collie:chap';
const ALICE = { user: 'alice', secret: 'alice-secret-16b' };

describe('CHAP challenge entropy', () => {
  test("the target's challenges come from the ChallengeSource it is given", async () => {
    const handed: Uint8Array[] = [];
    const source: ChallengeSource = {
      bytes(count) {
        const bytes = realEntropy.bytes(count);
        handed.push(bytes);
        return bytes;
      },
    };
    const world = await securityWorld({ targets: [memoryTarget(IQN, { chap: ALICE })], challenges: source });
    expect(await world.loginStatus({ targetName: IQN, chap: ALICE })).toBe(0);
    expect(await world.loginStatus({ targetName: IQN, chap: ALICE })).toBe(0);
    await world.close();
    expect(handed.map((bytes) => bytes.length)).toEqual([1, 16, 1, 16]);
    const wire = Buffer.concat(world.wire).toString('latin1');
    expect(wire).toContain(`CHAP_I=${handed[0]![0]}\0`);
    expect(wire).toContain(`CHAP_C=0x${Buffer.from(handed[1]!).toString('hex')}\0`);
    expect(wire).toContain(`CHAP_C=0x${Buffer.from(handed[3]!).toString('hex')}\0`);
  });

  test('realEntropy gives fresh bytes of the length asked', () => {
    const seen = new Set<string>();
    for (let k = 0; k < 100; k++) {
      const bytes = realEntropy.bytes(32);
      expect(bytes).toHaveLength(32);
      seen.add(Buffer.from(bytes).toString('hex'));
    }
    expect(seen.size).toBe(100);
  });

  test('every startTargetService call of the CLI passes realEntropy as the challenge source', () => {
    const cli = join(import.meta.dirname, '..', '..', 'src', 'cli');
    const callers = readdirSync(cli)
      .filter((file) => file.endsWith('.ts'))
      .map((file) => ({ file, text: readFileSync(join(cli, file), 'utf8') }))
      .filter(({ text }) => text.includes('startTargetService('));
    expect(callers.map(({ file }) => file).sort()).toEqual(['target.ts', 'up.ts']);
    for (const { file, text } of callers) {
      const calls = text.split('startTargetService(').slice(1);
      for (const call of calls) expect(call.slice(0, 1200), file).toContain('challenges: realEntropy');
    }
  });
});
