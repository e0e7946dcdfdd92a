import { defineConfig } from 'vitest/config';

/** Suites that also run on a real 3-master Redis Cluster (SPEC §10). */
const ON_CLUSTER = [
  'test/integration/webhook.test.ts',
  'test/integration/handoff-worker.test.ts',
  'test/integration/async-channels.test.ts',
  'test/integration/phone-takeover.test.ts',
  'test/integration/back-to-bot.test.ts',
  'test/integration/hardening.test.ts',
  'test/integration/edges.test.ts',
  'test/integration/identity.test.ts',
  'test/integration/one-job.test.ts',
  'test/integration/no-human.test.ts',
  'test/integration/late-and-context.test.ts',
  'test/integration/console-api.test.ts',
  'test/integration/admin.test.ts',
  'test/resilience/multi-process.test.ts',
  'test/cluster/*.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Tests start real servers and processes; keep the machine from thrashing on 2 cores.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: 'single', include: ['test/**/*.test.ts'], exclude: ['test/cluster/**'], globalSetup: ['test/helpers/global-setup.ts'] },
      },
      {
        extends: true,
        test: { name: 'cluster', include: ON_CLUSTER, globalSetup: ['test/helpers/global-setup.ts', 'test/helpers/cluster-setup.ts'] },
      },
    ],
  },
});
