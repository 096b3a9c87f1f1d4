import { defineConfig } from 'vitest/config';

// Unit tests are pure and fast; integration tests talk to a real Postgres and a real AWS API
// endpoint (moto server, started by the global setup when none is running).
export default defineConfig({
  test: {
    // Node 20 is supported locally; the SDK's notice that its 2027 releases need Node 22 is in the README.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // Pure and fast: run first, so a broken core fails the run early.
          sequence: { groupOrder: 0 },
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          sequence: { groupOrder: 1 },
          globalSetup: ['test/integration/globalSetup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          // Files share one moto server and one Postgres; each file uses its own schema and
          // its own resource names, so they may run in parallel.
          fileParallelism: true,
          maxWorkers: 2,
        },
      },
    ],
  },
});
