import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CommandError } from '../errors.ts';
import { run } from './local.ts';

const node = process.execPath;

describe('run (local)', () => {
  it('collects output and streams it line by line, per stream', async () => {
    const lines: string[] = [];
    const r = await run(node, ['-e', 'process.stdout.write("a\\nb"); process.stderr.write("e1\\n")'], {
      onLine: (l, s) => lines.push(`${s}:${l}`),
    });
    expect(r).toMatchObject({ exitCode: 0, stdout: 'a\nb', stderr: 'e1\n' });
    expect(lines.sort()).toEqual(['stderr:e1', 'stdout:a', 'stdout:b']);
  });

  it('runs in cwd, and gives the child only env with extendEnv: false', async () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'halab-local-')));
    try {
      const script = 'console.log(process.cwd(), process.env.HALAB_X, process.env.PATH === undefined)';
      const only = await run(node, ['-e', script], { cwd: dir, env: { HALAB_X: 'y' }, extendEnv: false });
      expect(only.stdout.trim()).toBe(`${dir} y true`);
      const extended = await run(node, ['-e', script], { cwd: dir, env: { HALAB_X: 'z' } });
      expect(extended.stdout.trim()).toBe(`${dir} z false`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a non-zero exit is a CommandError unless allowFail; a missing program is TOOL_MISSING', async () => {
    const err = await run(node, ['-e', 'process.exit(3)']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect(err).toMatchObject({ exitCode: 3, code: 'COMMAND_FAILED' });
    expect((await run(node, ['-e', 'process.exit(3)'], { allowFail: true })).exitCode).toBe(3);
    await expect(run('/no/such/program', [])).rejects.toMatchObject({ code: 'TOOL_MISSING' });
  });
});
