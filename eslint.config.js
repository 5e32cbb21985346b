// Lint rules that carry architecture, not style:
// - no file under provisioning/providers/ or provisioning/artifacts/ is over 300 lines;
// - provisioning/ is the engine: it must never import electron or the renderer, so the CLI,
//   the Electron main process and the browser bridge can all drive the same code.
import svelte from 'eslint-plugin-svelte';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      'out/**',
      '**/*.d.ts',
      'renderer/dist/**',
      'test-results/**',
      'dist-electron/**',
      'release/**',
    ],
  },
  ...tseslint.configs.recommended,
  // the renderer's Svelte components: Svelte's own rules, TypeScript in <script lang="ts">
  ...svelte.configs.recommended,
  {
    files: ['renderer/**/*.svelte', 'renderer/**/*.svelte.ts'],
    languageOptions: { parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.svelte'] } },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // issue 9: a provider's or an artifact's file holds one concern; split one that grows past this
    files: ['provisioning/providers/**/*.ts', 'provisioning/artifacts/**/*.ts'],
    ignores: ['**/*.test.ts', '**/*.testutil.ts'],
    rules: { 'max-lines': ['error', { max: 300, skipBlankLines: false, skipComments: false }] },
  },
  {
    files: ['provisioning/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'electron', message: 'provisioning/ is the engine: no Electron imports (use electron/ for that).' },
          ],
          patterns: [
            { group: ['electron/*'], message: 'provisioning/ must not import Electron.' },
            {
              group: ['**/renderer/**', '../renderer', '../../renderer'],
              message: 'provisioning/ must not import the renderer.',
            },
            { group: ['**/electron/**'], message: 'provisioning/ must not import electron/.' },
          ],
        },
      ],
    },
  },
);
