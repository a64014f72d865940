/**
 * Prints the functions with the most self time in a V8 .cpuprofile (from `node --cpu-prof`).
 *
 *   node dist/bench/cpu-profile-top.js FILE.cpuprofile [COUNT]
 *
 * Theory: the profile is a call tree of nodes (function, url, line) and a list of samples, each
 * naming the node that was on top of the stack, with the time since the previous sample in
 * timeDeltas. A sample's time is that node's self time; summing by (function, url, line) merges
 * the same function reached through different call paths. Native and idle time show up as
 * "(program)", "(garbage collector)" and "(idle)".
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

function shortUrl(url: string): string {
  const at = url.search(/\/(dist|node_modules)\//);
  return at === -1 ? url.replace(/^file:\/\//, '') : url.slice(at + 1);
}

function main(): void {
  const [file, countText] = process.argv.slice(2);
  if (file === undefined) throw new Error('usage: cpu-profile-top FILE.cpuprofile [COUNT]');
  const count = Number.parseInt(countText ?? '30', 10);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const frameOf = new Map<number, string>();
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? ` ${shortUrl(url)}:${lineNumber + 1}` : '';
    frameOf.set(node.id, `${functionName || '(anonymous)'}${where}`);
  }
  const selfMicros = new Map<string, number>();
  let totalMicros = 0;
  profile.samples.forEach((nodeId, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    const frame = frameOf.get(nodeId) ?? `node ${nodeId}`;
    selfMicros.set(frame, (selfMicros.get(frame) ?? 0) + delta);
    totalMicros += delta;
  });
  const busyMicros = totalMicros - (selfMicros.get('(idle)') ?? 0);
  process.stdout.write(
    `${file}: ${(totalMicros / 1e6).toFixed(1)} s sampled, ${(busyMicros / 1e6).toFixed(1)} s not idle\n` +
      '  self ms   % busy  function\n',
  );
  const top = [...selfMicros].filter(([frame]) => frame !== '(idle)').sort((a, b) => b[1] - a[1]);
  for (const [frame, micros] of top.slice(0, count)) {
    const percent = ((100 * micros) / Math.max(1, busyMicros)).toFixed(1);
    process.stdout.write(`${(micros / 1000).toFixed(0).padStart(8)} ${percent.padStart(7)}%  ${frame}\n`);
  }
}

main();
