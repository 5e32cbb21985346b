// The cache: where it lives, what a complete version is, the checks for `doctor`, and one process
// at a time per version.
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fakeCache, fakeGo, noFetch, noRunner, useTmpCache } from './fixtures.testutil.ts';
import {
  artifactDir,
  cacheRoot,
  checkArtifacts,
  ensureArtifacts,
  K8S_COMPONENTS,
  KUBERNETES_VERSION,
} from './kubernetes.ts';
import type { Manifest } from './manifest.ts';

const t = useTmpCache();

describe('cache', () => {
  it('lives under HALAB_CACHE_DIR, else XDG_CACHE_HOME, else ~/.cache', () => {
    expect(cacheRoot({ HALAB_CACHE_DIR: '/x/y' })).toBe('/x/y');
    expect(cacheRoot({ XDG_CACHE_HOME: '/xdg', HOME: '/home/u' })).toBe('/xdg/halab');
    expect(cacheRoot({ HOME: '/home/u' })).toBe('/home/u/.cache/halab');
    expect(artifactDir('v1.34.4', { HALAB_CACHE_DIR: '/c' })).toBe('/c/kubernetes/v1.34.4');
    expect(() => artifactDir('../v1', { HALAB_CACHE_DIR: '/c' })).toThrow(/not a Kubernetes release version/);
  });

  it('returns a complete cache without building or downloading', async () => {
    const dir = fakeCache(t.env, KUBERNETES_VERSION, { withMtime: true });
    const logs: string[] = [];
    const r = await ensureArtifacts({ env: t.env, runner: noRunner, fetch: noFetch, onLog: (l) => logs.push(l) });
    expect(r).toMatchObject({ dir, binDir: join(dir, 'bin'), source: 'built', cached: true });
    expect(r.seconds).toBeLessThan(1);
    expect(logs.join('\n')).toMatch(/is cached/);
  });

  it('hashes files whose mtime is not recorded, and still hits', async () => {
    fakeCache(t.env, KUBERNETES_VERSION);
    const r = await ensureArtifacts({ env: t.env, runner: noRunner, fetch: noFetch });
    expect(r.cached).toBe(true);
  });

  it('checkArtifacts reports every binary ok for a good cache', () => {
    fakeCache(t.env, 'v1.34.4');
    const checks = checkArtifacts('v1.34.4', { env: t.env });
    expect(checks.map((c) => c.component)).toEqual([...K8S_COMPONENTS]);
    expect(checks.every((c) => c.ok && c.present && c.sha256 === c.expectedSha256)).toBe(true);
  });

  it('checkArtifacts detects a corrupted and a missing binary', () => {
    const dir = fakeCache(t.env, 'v1.34.4', { withMtime: true });
    writeFileSync(join(dir, 'bin', 'kubelet'), '#!/bin/sh\necho tampered\n');
    rmSync(join(dir, 'bin', 'kubemark'));
    const byName = Object.fromEntries(checkArtifacts('v1.34.4', { env: t.env }).map((c) => [c.component, c]));
    expect(byName.kubelet).toMatchObject({ present: true, ok: false });
    expect(byName.kubelet?.sha256).not.toBe(byName.kubelet?.expectedSha256);
    expect(byName.kubelet?.problem).toMatch(/sha256/);
    expect(byName.kubemark).toMatchObject({ present: false, ok: false });
    expect(byName.kubectl).toMatchObject({ present: true, ok: true });
  });

  it('checkArtifacts hashes only changed files, unless deep', () => {
    const dir = fakeCache(t.env, 'v1.34.4', { withMtime: true });
    expect(checkArtifacts('v1.34.4', { env: t.env }).every((c) => c.ok && !c.hashed)).toBe(true);
    // bit rot: same size, and the recorded mtime still matches: only a deep check can see it
    const p = join(dir, 'bin', 'kubeadm');
    writeFileSync(p, readFileSync(p, 'utf8').replace('kubeadm', 'kubeadM'));
    const mPath = join(dir, 'manifest.json');
    const m = JSON.parse(readFileSync(mPath, 'utf8')) as Manifest;
    m.binaries.kubeadm = { ...m.binaries.kubeadm!, mtimeMs: statSync(p).mtimeMs };
    writeFileSync(mPath, JSON.stringify(m));
    expect(checkArtifacts('v1.34.4', { env: t.env }).find((c) => c.component === 'kubeadm')?.ok).toBe(true);
    const deep = checkArtifacts('v1.34.4', { env: t.env, deep: true });
    expect(deep.every((c) => c.hashed)).toBe(true);
    expect(deep.find((c) => c.component === 'kubeadm')).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/sha256/),
    });
  });

  it('checkArtifacts reports a missing version as absent, and a manifest of another version as a problem', () => {
    expect(checkArtifacts('v1.34.4', { env: t.env }).every((c) => !c.present && !c.ok)).toBe(true);
    const dir = fakeCache(t.env, 'v1.34.4');
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...m, version: 'v1.33.0' }));
    expect(checkArtifacts('v1.34.4', { env: t.env })[0]).toMatchObject({
      present: true,
      ok: false,
      problem: 'manifest is for v1.33.0',
    });
  });
});

describe('one process at a time', () => {
  it('waits for the process holding the lock and uses what it installed', async () => {
    const root = join(t.env.HALAB_CACHE_DIR!, 'kubernetes');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, '.lock-v1.34.4'), JSON.stringify({ pid: process.ppid })); // a live process
    const logs: string[] = [];
    setTimeout(() => fakeCache(t.env, 'v1.34.4', { withMtime: true }), 150);
    const r = await ensureArtifacts({
      env: t.env,
      runner: noRunner,
      fetch: noFetch,
      lockPollMs: 50,
      onLog: (l) => logs.push(l),
    });
    expect(r.cached).toBe(true);
    expect(logs.join('\n')).toMatch(new RegExp(`waiting for process ${process.ppid}`));
    expect(logs.join('\n')).toMatch(/obtained by another process/);
  });

  it('takes over the lock of a process that is gone (old bare-pid lock files too), and releases it', async () => {
    const root = join(t.env.HALAB_CACHE_DIR!, 'kubernetes');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, '.lock-v1.34.4'), '999999999');
    const go = fakeGo(t.tmp);
    const r = await ensureArtifacts({
      env: t.env,
      runner: go.runner,
      from: 'build',
      goBinary: '/usr/bin/go',
      lockPollMs: 50,
    });
    expect(r.cached).toBe(false);
    expect(() => statSync(join(root, '.lock-v1.34.4'))).toThrow();
  });

  it('is cancelled while waiting', async () => {
    const root = join(t.env.HALAB_CACHE_DIR!, 'kubernetes');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, '.lock-v1.34.4'), JSON.stringify({ pid: process.ppid }));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    await expect(
      ensureArtifacts({ env: t.env, runner: noRunner, fetch: noFetch, lockPollMs: 20, signal: ac.signal }),
    ).rejects.toMatchObject({ code: 'CANCELLED' });
  });
});
