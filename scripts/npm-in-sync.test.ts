// The set-up's check that node_modules matches package-lock.json, on stand-in trees.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const SCRIPT = join(import.meta.dirname, 'npm-in-sync.mjs');
type Pkgs = Record<string, { version?: string; optional?: boolean }>;
const trees: string[] = [];
afterEach(() => {
  for (const t of trees.splice(0)) rmSync(t, { recursive: true, force: true });
});

/** A tree with package-lock.json `locked`, npm's record `installed` (undefined: no node_modules) and their directories. */
async function check(locked: Pkgs, installed?: Pkgs, dirs = Object.keys(installed ?? {})) {
  const tree = mkdtempSync(join(tmpdir(), 'halab-npm-'));
  trees.push(tree);
  mkdirSync(join(tree, 'scripts'));
  copyFileSync(SCRIPT, join(tree, 'scripts', 'npm-in-sync.mjs'));
  writeFileSync(join(tree, 'package-lock.json'), JSON.stringify({ packages: { '': {}, ...locked } }));
  if (installed) {
    mkdirSync(join(tree, 'node_modules'));
    writeFileSync(join(tree, 'node_modules', '.package-lock.json'), JSON.stringify({ packages: installed }));
  }
  for (const d of dirs) mkdirSync(join(tree, d), { recursive: true });
  return promisify(execFile)('node', [join(tree, 'scripts', 'npm-in-sync.mjs')]).then(
    (r) => ({ code: 0, out: r.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
  );
}

const yaml = { 'node_modules/yaml': { version: '2.9.1' } };
describe('npm-in-sync', () => {
  it('passes when every locked package is installed at its version', async () => {
    expect(await check(yaml, yaml)).toEqual({ code: 0, out: '' });
  });
  it('fails without node_modules, with the reason', async () => {
    expect(await check(yaml)).toMatchObject({ code: 1, out: expect.stringMatching(/node_modules is not installed/) });
  });
  it('fails on another version, a missing package, an unlocked one, or a directory that is gone', async () => {
    expect((await check(yaml, { 'node_modules/yaml': { version: '2.8.0' } })).out).toMatch(
      /node_modules\/yaml: 2.8.0 installed, 2.9.1 locked/,
    );
    expect((await check({ ...yaml, 'node_modules/zod': { version: '4.0.0' } }, yaml)).out).toMatch(
      /node_modules\/zod: missing/,
    );
    expect((await check(yaml, { ...yaml, 'node_modules/left-pad': { version: '1.0.0' } })).out).toMatch(
      /left-pad: installed, not locked/,
    );
    expect((await check(yaml, yaml, [])).out).toMatch(/yaml: its directory is gone/);
  });
  it('lets an optional package be absent (another platform, a native build that failed)', async () => {
    const locked = { ...yaml, 'node_modules/@esbuild/darwin-arm64': { version: '0.28.2', optional: true } };
    expect((await check(locked, yaml)).code).toBe(0);
  });
});
