// The architecture rule: the engine (provisioning/) never imports Electron or the renderer.
import { ESLint } from 'eslint';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const eslint = new ESLint({ cwd: root });

async function lint(file: string, code: string) {
  const [r] = await eslint.lintText(code, { filePath: resolve(root, file) });
  return r!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('provisioning/ import boundary', { timeout: 120_000 }, () => {
  it('refuses electron and the renderer inside provisioning/', async () => {
    expect(await lint('provisioning/engine/x.ts', "import { app } from 'electron';\nexport const a = app;\n")).toEqual([
      "'electron' import is restricted from being used. provisioning/ is the engine: no Electron imports (use electron/ for that).",
    ]);
    expect(
      (
        await lint(
          'provisioning/engine/x.ts',
          "import { x } from '../../renderer/src/store.ts';\nexport const a = x;\n",
        )
      ).length,
    ).toBe(1);
    expect(
      (await lint('provisioning/engine/x.ts', "import { x } from '../../electron/main.ts';\nexport const a = x;\n"))
        .length,
    ).toBe(1);
  });
  it('allows them outside provisioning/', async () => {
    expect(await lint('electron/main.ts', "import { app } from 'electron';\nexport const a = app;\n")).toEqual([]);
  });
});
