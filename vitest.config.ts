import { defineConfig } from 'vitest/config';

// Two projects: fast unit tests next to the code, and integration tests that build real labs
// (root, network namespaces, real sshd/etcd/haproxy/keepalived). Integration tests run one file
// at a time: labs are heavy on a 2-core machine.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['provisioning/**/*.test.ts', 'scripts/**/*.test.ts', 'electron/**/*.test.ts', 'tests/lint/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          environment: 'node',
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
