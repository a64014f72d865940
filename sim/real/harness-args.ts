/** The few flags of the real-process harnesses (crash-main.ts, soak-main.ts). */

export interface HarnessArgSpec {
  readonly usage: string;
  /** Flags taking a positive number (`--kills 20`, `--minutes 0.5`). */
  readonly numbers: readonly string[];
  /** Flags without a value. */
  readonly flags: readonly string[];
  /** Flags taking a string. */
  readonly strings: readonly string[];
}

export interface HarnessArgs {
  readonly numbers: Map<string, number>;
  readonly flags: Set<string>;
  readonly strings: Map<string, string>;
}

export function parseHarnessArgs(argv: readonly string[], spec: HarnessArgSpec): HarnessArgs {
  const result: HarnessArgs = { numbers: new Map(), flags: new Set(), strings: new Map() };
  const fail = (message: string): never => {
    process.stderr.write(`${message}\nusage: ${spec.usage}\n`);
    process.exit(2);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(`usage: ${spec.usage}\n`);
      process.exit(0);
    }
    if (spec.flags.includes(arg)) {
      result.flags.add(arg);
      continue;
    }
    const value = argv[i + 1];
    if (spec.numbers.includes(arg)) {
      const number = Number(value);
      if (value === undefined || !Number.isFinite(number) || number <= 0)
        fail(`${arg} needs a positive number`);
      result.numbers.set(arg, number);
      i++;
    } else if (spec.strings.includes(arg)) {
      if (value === undefined) fail(`${arg} needs a value`);
      result.strings.set(arg, value!);
      i++;
    } else {
      fail(`unknown argument ${JSON.stringify(arg)}`);
    }
  }
  return result;
}
