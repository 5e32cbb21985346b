// Builds from the Go module proxy, with a stand-in for go: Kubernetes (ensureArtifacts) and any
// other module (ensureGoBinaries).
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CommandError, HalabError } from '../errors.ts';
import type { LocalRunner } from '../exec/local.ts';
import { ensureGoBinaries } from './go-build.ts';
import { fakeCache, fakeGo, noFetch, noRunner, offlineFetch, useTmpCache } from './fixtures.testutil.ts';
import { artifactDir, checkArtifacts, ensureArtifacts, K8S_COMPONENTS } from './kubernetes.ts';
import type { Manifest } from './manifest.ts';

const t = useTmpCache();
const readManifestFile = (dir: string) => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;

describe('build of Kubernetes from the Go module proxy', () => {
  it('falls back to one go build of every component when the official download is unreachable', async () => {
    const go = fakeGo(t.tmp);
    const logs: string[] = [];
    const r = await ensureArtifacts({
      env: t.env,
      runner: go.runner,
      fetch: offlineFetch,
      goBinary: '/usr/bin/go',
      onLog: (l) => logs.push(l),
    });
    expect(r).toMatchObject({ source: 'built', cached: false, dir: artifactDir('v1.34.4', t.env) });
    expect(logs.join('\n')).toMatch(/official download unavailable \(ENOTFOUND\)/);
    // go's stdout (the package list) is not progress: only its stderr reaches the log
    expect(logs).not.toContain('fmt');

    const builds = go.calls.filter((c) => c.args[0] === 'build');
    expect(builds).toHaveLength(1);
    const b = builds[0]!;
    expect(b.args).toContain('-trimpath');
    expect(b.args.filter((a) => a.startsWith('k8s.io/kubernetes/cmd/')).sort()).toEqual(
      K8S_COMPONENTS.map((c) => `k8s.io/kubernetes/cmd/${c}`).sort(),
    );
    expect(b.opts.env?.CGO_ENABLED).toBe('0');
    expect(b.opts.extendEnv).toBe(false);
    const ld = b.args.find((a) => a.startsWith('-ldflags='));
    expect(ld).toContain('-X k8s.io/component-base/version.gitVersion=v1.34.4');
    expect(ld).toContain('-X k8s.io/client-go/pkg/version.gitVersion=v1.34.4');
    expect(ld).toContain('buildDate=2026-02-10T12:53:36Z');
    // GOCACHE / GOMODCACHE are left to Go
    expect(b.opts.env?.GOCACHE).toBe(process.env.GOCACHE);
    expect(b.opts.env?.GOMODCACHE).toBe(process.env.GOMODCACHE);

    // the helper module sits under the cache and carries the replaces
    const helper = readFileSync(join(t.env.HALAB_CACHE_DIR!, 'kubernetes/.gomod/v1.34.4/go.mod'), 'utf8');
    expect(helper).toContain('\tk8s.io/client-go => k8s.io/client-go v0.34.4\n');
    expect(b.opts.cwd).toBe(join(t.env.HALAB_CACHE_DIR!, 'kubernetes/.gomod/v1.34.4'));

    // compiled with upstream's Go release (.go-version), fetched by go through the proxy
    expect(b.opts.env?.GOTOOLCHAIN).toBe('go1.24.12');
    const manifest = readManifestFile(r.dir);
    expect(manifest).toMatchObject({ version: 'v1.34.4', source: 'built', goVersion: 'go1.24.12' });
    expect(manifest.module).toEqual({
      path: 'k8s.io/kubernetes',
      version: 'v1.34.4',
      sum: 'h1:x=',
      stagingVersion: 'v0.34.4',
    });
    expect(Object.keys(manifest.binaries).sort()).toEqual([...K8S_COMPONENTS].sort());
    expect(checkArtifacts('v1.34.4', { env: t.env }).every((c) => c.ok)).toBe(true);

    // second run: nothing to do
    const again = await ensureArtifacts({ env: t.env, runner: noRunner, fetch: noFetch });
    expect(again.cached).toBe(true);
  });

  it("uses the installed Go when upstream's toolchain cannot be fetched, or when asked to", async () => {
    const go = fakeGo(t.tmp, { noToolchain: true });
    const logs: string[] = [];
    const r = await ensureArtifacts({
      env: t.env,
      runner: go.runner,
      from: 'build',
      goBinary: '/usr/bin/go',
      onLog: (l) => logs.push(l),
    });
    expect(logs.join('\n')).toMatch(/cannot get go1\.24\.12 .*using go1\.26\.8/);
    expect(go.calls.find((c) => c.args[0] === 'build')?.opts.env?.GOTOOLCHAIN).toBe('local');
    expect(readManifestFile(r.dir).goVersion).toBe('go1.26.8');

    rmSync(artifactDir('v1.34.4', t.env), { recursive: true });
    const local = fakeGo(t.tmp);
    await ensureArtifacts({
      env: t.env,
      runner: local.runner,
      from: 'build',
      goBinary: '/usr/bin/go',
      toolchain: 'local',
    });
    expect(local.calls.find((c) => c.args[0] === 'build')?.opts.env?.GOTOOLCHAIN).toBe('local');
  });

  it('rebuilds over a corrupted cache', async () => {
    const dir = fakeCache(t.env, 'v1.34.4', { withMtime: true });
    writeFileSync(join(dir, 'bin', 'kubectl'), 'x');
    const go = fakeGo(t.tmp);
    const r = await ensureArtifacts({ env: t.env, runner: go.runner, from: 'build', goBinary: '/usr/bin/go' });
    expect(r.cached).toBe(false);
    expect(readFileSync(join(dir, 'bin', 'kubectl'), 'utf8')).toBe('binary of k8s.io/kubernetes/cmd/kubectl');
    expect(checkArtifacts('v1.34.4', { env: t.env }).every((c) => c.ok)).toBe(true);
  });

  it('reports a failed build with the last 30 lines of go output and leaves no partial cache', async () => {
    const go = fakeGo(t.tmp, { failBuild: true });
    const err = await ensureArtifacts({ env: t.env, runner: go.runner, from: 'build', goBinary: '/usr/bin/go' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HalabError);
    const e = err as HalabError;
    expect(e.code).toBe('K8S_BUILD_FAILED');
    expect(e.details?.split('\n')).toHaveLength(30);
    expect(e.details?.split('\n').at(-1)).toBe('line 49');
    expect(checkArtifacts('v1.34.4', { env: t.env }).some((c) => c.present)).toBe(false);
  });

  it('a go killed by a signal is a failed build, not a crash', async () => {
    const go = fakeGo(t.tmp);
    const killed: LocalRunner = async (file, args, o) => {
      if (args[0] !== 'build') return go.runner(file, args, o);
      throw new CommandError({
        command: 'go build',
        exitCode: null,
        stdout: '',
        stderr: 'compiling',
        reason: 'signal',
        signal: 'SIGKILL',
      });
    };
    await expect(
      ensureArtifacts({ env: t.env, runner: killed, from: 'build', goBinary: '/usr/bin/go' }),
    ).rejects.toMatchObject({ code: 'K8S_BUILD_FAILED', message: expect.stringContaining('exit 128') });
  });

  it('says how to install Go when there is none', async () => {
    const err = await ensureArtifacts({ env: t.env, from: 'build', goBinary: join(t.tmp, 'no-such-go') }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'GO_MISSING' });
    expect((err as HalabError).fix).toMatch(/golang-go/);
  });
});

describe('ensureGoBinaries: any module, the same way', () => {
  const module = {
    path: 'github.com/containerd/containerd/v2',
    version: 'v2.1.4',
    goMod:
      'module github.com/containerd/containerd/v2\n\ngo 1.23.0\n\nreplace github.com/a/b => github.com/a/c v1.0.0\n',
  };
  const artifact = {
    name: 'containerd',
    module: module.path,
    version: module.version,
    packages: ['github.com/containerd/containerd/v2/cmd/containerd', 'github.com/containerd/containerd/v2/cmd/ctr'],
  };

  it('builds the packages into <cache>/<name>/<version> with a manifest, then reuses them', async () => {
    const go = fakeGo(t.tmp, { module });
    const r = await ensureGoBinaries(artifact, { env: t.env, runner: go.runner, goBinary: '/usr/bin/go' });
    expect(r).toMatchObject({ dir: join(t.env.HALAB_CACHE_DIR!, 'containerd/v2.1.4'), source: 'built', cached: false });
    expect(readFileSync(join(r.binDir, 'ctr'), 'utf8')).toBe('binary of github.com/containerd/containerd/v2/cmd/ctr');
    const m = readManifestFile(r.dir);
    expect(Object.keys(m.binaries).sort()).toEqual(['containerd', 'ctr']);
    expect(m.module).toEqual({ path: module.path, version: 'v2.1.4', sum: 'h1:x=' });
    const build = go.calls.find((c) => c.args[0] === 'build')!;
    expect(build.args).toContain('-ldflags=-s -w');
    // no .go-version upstream and a recent local Go: the installed one
    expect(build.opts.env?.GOTOOLCHAIN).toBe('local');
    const helper = readFileSync(join(t.env.HALAB_CACHE_DIR!, 'containerd/.gomod/v2.1.4/go.mod'), 'utf8');
    expect(helper).toContain('module halab.local/containerd-build\n');
    expect(helper).toContain('require github.com/containerd/containerd/v2 v2.1.4\n');
    expect(helper).toContain('\tgithub.com/a/b => github.com/a/c v1.0.0\n');

    const again = await ensureGoBinaries(artifact, { env: t.env, runner: noRunner });
    expect(again.cached).toBe(true);
  });

  it('refuses a version that is not a module version (it becomes a directory name)', async () => {
    await expect(ensureGoBinaries({ ...artifact, version: '../x' }, { env: t.env })).rejects.toMatchObject({
      code: 'BAD_VERSION',
    });
  });

  it('names a module the proxy does not serve', async () => {
    const go = fakeGo(t.tmp, { module });
    const unknown: LocalRunner = async (file, args, o) =>
      args[0] === 'mod'
        ? {
            command: 'go mod download',
            exitCode: 1,
            stdout: JSON.stringify({ Error: 'unknown revision v2.1.4' }),
            stderr: '',
            durationMs: 1,
          }
        : go.runner(file, args, o);
    await expect(
      ensureGoBinaries(
        { ...artifact, codePrefix: 'CONTAINERD' },
        { env: t.env, runner: unknown, goBinary: '/usr/bin/go' },
      ),
    ).rejects.toMatchObject({
      code: 'CONTAINERD_VERSION_UNAVAILABLE',
      fix: expect.stringContaining('https://proxy.golang.org/github.com/containerd/containerd/v2/@v/list'),
    });
  });
});
