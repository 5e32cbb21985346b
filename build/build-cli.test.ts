// The CLI bundle runs (its chunks load, no TypeScript at run time), and bin/halab picks it only
// while it is newer than every source: an edited, added or removed file makes it run the sources.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, ROOT } from './build-cli.ts';

const run = promisify(execFile);
let tree = '';
beforeAll(() => {
  tree = mkdtempSync(join(tmpdir(), 'halab-cli-'));
  symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'));
});
afterAll(() => rmSync(tree, { recursive: true, force: true }));

// each test starts node processes (a build, the CLI): seconds on a loaded machine, not a timed claim
describe('the bundle', { timeout: 120_000 }, () => {
  it('answers --help with every command, and runs a command that loads the engine', async () => {
    const entry = await buildCli(join(tree, 'dist', 'cli'));
    const help = await run('node', [entry, '--help']);
    for (const c of ['doctor', 'plan', 'up', 'status', 'down', 'kubeconfig', 'snapshot', 'ui', 'drill', 'quickstart'])
      expect(help.stdout).toMatch(new RegExp(`^  halab ${c}\\b`, 'm'));
    const home = join(tree, 'home');
    const list = await run('node', [entry, 'list', '--json'], { env: { ...process.env, HALAB_HOME: home } });
    expect(JSON.parse(list.stdout)).toEqual([]);
    const bad = await run('node', [entry, 'status', 'no-such-lab'], {
      env: { ...process.env, HALAB_HOME: home },
    }).catch((e: { code: number; stderr: string }) => e);
    expect((bad as { code: number }).code).toBe(1);
    expect((bad as { stderr: string }).stderr).toMatch(/no-such-lab/);
    expect((bad as { stderr: string }).stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
  }, 60_000);
});

describe('bin/halab: the bundle only while it is current', () => {
  // a stand-in tree: a "bundle" and "sources" that say which one ran
  const fake = () => {
    const t = mkdtempSync(join(tmpdir(), 'halab-bin-'));
    mkdirSync(join(t, 'bin'));
    copyFileSync(join(ROOT, 'bin', 'halab'), join(t, 'bin', 'halab'));
    symlinkSync(join(ROOT, 'node_modules'), join(t, 'node_modules'));
    mkdirSync(join(t, 'provisioning', 'cli'), { recursive: true });
    writeFileSync(join(t, 'provisioning', 'cli', 'main.ts'), "process.stdout.write('sources');\n");
    mkdirSync(join(t, 'dist', 'cli'), { recursive: true });
    writeFileSync(join(t, 'dist', 'cli', 'halab.mjs'), "process.stdout.write('bundle');\n");
    // sources from an hour ago, the bundle built ten minutes ago (mtimes have a clock tick's grain)
    const old = new Date(Date.now() - 3600_000);
    for (const p of ['provisioning/cli/main.ts', 'provisioning/cli', 'provisioning']) utimesSync(join(t, p), old, old);
    const built = new Date(Date.now() - 600_000);
    utimesSync(join(t, 'dist', 'cli', 'halab.mjs'), built, built);
    return t;
  };
  const which = async (t: string, env: Record<string, string> = {}) =>
    (await run(join(t, 'bin', 'halab'), [], { env: { ...process.env, HALAB_FROM_SOURCES: '', ...env } })).stdout;

  it('runs the bundle when it is newer than every source', async () => {
    const t = fake();
    try {
      expect(await which(t)).toBe('bundle');
      expect(await which(t, { HALAB_FROM_SOURCES: '1' })).toBe('sources');
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  });
  it('runs the sources when a source was edited, added or removed since the build, or there is no bundle', async () => {
    const cases: [string, (t: string) => void][] = [
      ['edited', (t) => utimesSync(join(t, 'provisioning/cli/main.ts'), new Date(), new Date())],
      ['added', (t) => writeFileSync(join(t, 'provisioning/cli/new.ts'), '')],
      ['removed', (t) => rmSync(join(t, 'provisioning/cli/extra.ts'), { force: true })],
      ['no bundle', (t) => rmSync(join(t, 'dist'), { recursive: true })],
      [
        'package-lock.json changed (npm packages are in the bundle)',
        (t) => writeFileSync(join(t, 'package-lock.json'), '{}'),
      ],
    ];
    for (const [what, change] of cases) {
      const t = fake();
      try {
        if (what === 'removed') {
          writeFileSync(join(t, 'provisioning/cli/extra.ts'), '');
          const old = new Date(Date.now() - 3600_000);
          for (const p of ['provisioning/cli/extra.ts', 'provisioning/cli']) utimesSync(join(t, p), old, old);
          expect(await which(t)).toBe('bundle');
        }
        change(t);
        expect(await which(t), what).toBe('sources');
      } finally {
        rmSync(t, { recursive: true, force: true });
      }
    }
  });
});
