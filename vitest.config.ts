import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start real processes (tgtd, qemu-io, the store); give them room.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: run files in parallel, but the real-peer tests serialise themselves on ports.
    maxWorkers: 2,
    reporters: ['default', './test/support/summary-reporter.ts'],
    globalSetup: ['./test/support/global-setup.ts'],
  },
});
