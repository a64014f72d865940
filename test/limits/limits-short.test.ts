/**
 * Goal: the short form of `npm run limits` in CI: every hostile scenario (slowloris logins from
 * one and from many addresses, half PDUs, zero-window readers, a session flood, a CmdSN window
 * overrun, lying lengths, budget hogs) leaves the target bounded and the healthy session beside
 * it working, as sim/limits/limits-scenarios.ts checks.
 * Method: runLimits({ short: true }) one scenario per test; a failure prints the scenario's whole
 * report (what the target did, the healthy session's IOs, the peaks, each check).
 */
import { describe, expect, test } from 'vitest';
import { describeReport, runLimits, SCENARIO_NAMES } from '../../sim/limits/limits-scenarios.js';

describe('npm run limits --short', () => {
  for (const name of SCENARIO_NAMES) {
    test(name, async () => {
      const [report] = await runLimits({ short: true, only: [name] });
      const text = describeReport(report!).join('\n');
      if (process.env.COLLIE_LIMITS_PRINT) console.log(text);
      expect(report!.pass, text).toBe(true);
    });
  }
});
