/**
 * Whether a real peer's binary is installed. Outside CI a missing tool skips the test file
 * (`describe.skipIf(!requireTool('tgtd'))`); in CI (`CI=true`) it fails loudly, because CI installs
 * every tool (.ci/run) and a skip there would hide a broken setup.
 */
import { findExecutable } from './processes.js';

/** Debian package that ships each tool the tests use. */
const debianPackageByTool: ReadonlyArray<readonly [RegExp, string]> = [
  [/^(tgtd|tgtadm|tgt-admin)$/, 'tgt'],
  [/^(qemu-io|qemu-img|qemu-nbd)$/, 'qemu-utils'],
  [/^iscsi-/, 'libiscsi-bin'],
  // test/peers/multipath-scsi-initiator.py drives libiscsi (libiscsi7, a dependency of
  // libiscsi-bin) through ctypes, which Debian's python3 ships.
  [/^python3$/, 'python3'],
];

/** The Debian package providing tool, or undefined when the tests don't know it. */
export function debianPackageFor(tool: string): string | undefined {
  return debianPackageByTool.find(([pattern]) => pattern.test(tool))?.[1];
}

/** True when tool is on PATH. Missing: throws when CI=true, otherwise returns false. */
export function requireTool(name: string): boolean {
  if (findExecutable(name)) return true;
  if (process.env.CI === 'true') {
    const pkg = debianPackageFor(name);
    const install = pkg
      ? `install Debian package ${pkg} (apt-get install -y ${pkg}; .ci/run does this)`
      : 'install it (no Debian package is known for it in test/support/tools.ts)';
    throw new Error(
      `Required tool '${name}' is not on PATH (${process.env.PATH ?? ''}): ${install}. ` +
        'Tests only skip missing tools outside CI.',
    );
  }
  return false;
}
