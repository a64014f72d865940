/**
 * Runs libiscsi's conformance suite (iscsi-test-cu) and counts its outcomes from the -V log.
 * The suite reports a skipped test as a CUnit pass with "[SKIPPED]" in its output, so CUnit's
 * own summary cannot be trusted: a test failed when its block ends with FAILED, was skipped when
 * it printed [SKIPPED], and passed otherwise.
 */
import { runProcess } from './processes.js';

export interface TestCuCounts {
  readonly total: number;
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
  readonly failedTests: string[];
  readonly skippedTests: string[];
}

export function parseTestCuLog(log: string): TestCuCounts {
  let suite = '';
  const outcomes = new Map<string, 'passed' | 'failed' | 'skipped'>();
  let current: string | undefined;
  let body: string[] = [];
  const finish = () => {
    if (current === undefined) return;
    const text = body.join('\n');
    const failed = /(\.\.\.FAILED|^FAILED)/m.test(text);
    outcomes.set(current, failed ? 'failed' : text.includes('[SKIPPED]') ? 'skipped' : 'passed');
  };
  for (const line of log.split('\n')) {
    const suiteMatch = /^Suite: (\S+)/.exec(line);
    if (suiteMatch) {
      finish();
      current = undefined;
      suite = suiteMatch[1]!;
      continue;
    }
    const testMatch = /^ {2}Test: (\S+) \.\.\./.exec(line);
    if (testMatch) {
      finish();
      current = `${suite}.${testMatch[1]}`;
      body = [line];
      continue;
    }
    if (line.startsWith('Run Summary:')) {
      finish();
      current = undefined;
      continue;
    }
    if (current !== undefined) body.push(line);
  }
  finish();
  const of = (kind: string) => [...outcomes].filter(([, outcome]) => outcome === kind).map(([name]) => name);
  return {
    total: outcomes.size,
    passed: of('passed').length,
    failed: of('failed').length,
    skipped: of('skipped').length,
    failedTests: of('failed'),
    skippedTests: of('skipped'),
  };
}

export async function runTestCu(
  url: string,
  tests: string,
  options: { timeoutMs: number; extraUrls?: string[] },
): Promise<{ counts: TestCuCounts; log: string; exitCode: number | null }> {
  const result = await runProcess(
    'iscsi-test-cu',
    ['--dataloss', '-V', '-t', tests, url, ...(options.extraUrls ?? [])],
    { timeoutMs: options.timeoutMs, name: `iscsi-test-cu ${tests}` },
  );
  const log = result.stdout.toString('utf8') + result.stderr.toString('utf8');
  return { counts: parseTestCuLog(log), log, exitCode: result.exitCode };
}
