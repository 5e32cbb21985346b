import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vitest/config';

// Projects:
// - unit: fast tests next to the code (engine, service, bridge, Electron main with electron
//   mocked, packaging config, the renderer's pure stores);
// - renderer: Svelte component tests in jsdom (browser build of Svelte);
// - integration: tests that build real labs (root, network namespaces, real sshd/etcd/haproxy/
//   keepalived), including the UI end-to-end test (tests/ui/*.e2e.test.ts: `halab ui` in
//   Chromium against a real lab). They run one file at a time: labs are heavy on 2 cores.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'provisioning/**/*.test.ts',
            'scripts/**/*.test.ts',
            'electron/**/*.test.ts',
            'tests/lint/**/*.test.ts',
            'build/**/*.test.ts',
            'renderer/src/**/*.test.ts',
          ],
          exclude: ['**/node_modules/**', 'renderer/src/**/*.svelte.test.ts'],
          environment: 'node',
        },
      },
      {
        plugins: [svelte({ configFile: false, compilerOptions: { runes: true } })],
        resolve: { conditions: ['browser'] },
        test: {
          name: 'renderer',
          include: ['renderer/src/**/*.svelte.test.ts'],
          environment: 'jsdom',
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts', 'tests/ui/**/*.e2e.test.ts'],
          environment: 'node',
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
