import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HalabError } from '../errors.ts';
import { parseGoMod } from './gomod.ts';
import {
  artifactDir, cacheRoot, checkArtifacts, ensureArtifacts, goArch, K8S_COMPONENTS, KUBERNETES_VERSION,
  renderHelperGoMod, stagingModules, stagingVersion, versionLdflags,
  type CommandRunner, type Manifest, type RunOptions,
} from './kubernetes.ts';

// Trimmed from k8s.io/kubernetes v1.34.4's go.mod, plus the forms the parser must cope with
// (single-line directives, comments, a non-local replace).
const FIXTURE_GOMOD = `// This is a generated file. Do not edit directly.

module k8s.io/kubernetes

go 1.24.0

godebug default=go1.24

require (
	github.com/blang/semver/v4 v4.0.0
	k8s.io/api v0.0.0
	k8s.io/apiextensions-apiserver v0.0.0
	k8s.io/apimachinery v0.0.0
	k8s.io/apiserver v0.0.0
	k8s.io/client-go v0.0.0
	k8s.io/component-base v0.0.0
	k8s.io/cri-api v0.0.0
	k8s.io/klog/v2 v2.130.1
	k8s.io/kubelet v0.0.0
	k8s.io/utils v0.0.0-20250604170112-4c0f3b243397
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	k8s.io/gengo/v2 v2.0.0-20250604051438-85fd79dbfd9f // indirect
)

require k8s.io/kms v0.0.0 // indirect

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/apiextensions-apiserver => ./staging/src/k8s.io/apiextensions-apiserver
	k8s.io/apimachinery => ./staging/src/k8s.io/apimachinery
	k8s.io/apiserver => ./staging/src/k8s.io/apiserver
	k8s.io/client-go => ./staging/src/k8s.io/client-go
	k8s.io/component-base => ./staging/src/k8s.io/component-base
	k8s.io/cri-api => ./staging/src/k8s.io/cri-api
	k8s.io/kms => ./staging/src/k8s.io/kms
	k8s.io/kubelet => ./staging/src/k8s.io/kubelet
	k8s.io/sample-controller => ./staging/src/k8s.io/sample-controller
)

replace github.com/example/forked v1.2.3 => github.com/example/fork v1.2.4
`;

const EXPECTED_STAGING = [
  'k8s.io/api', 'k8s.io/apiextensions-apiserver', 'k8s.io/apimachinery', 'k8s.io/apiserver', 'k8s.io/client-go',
  'k8s.io/component-base', 'k8s.io/cri-api', 'k8s.io/kms', 'k8s.io/kubelet', 'k8s.io/sample-controller',
];

let tmp: string;
let env: Record<string, string | undefined>;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'halab-k8s-test-'));
  env = { ...process.env, HALAB_CACHE_DIR: join(tmp, 'cache') };
  delete env.GOTOOLCHAIN;
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const noRunner: CommandRunner = async (file, args) => { throw new Error(`unexpected command: ${file} ${args.join(' ')}`); };
const noFetch = (async (url: string | URL | Request) => { throw new Error(`unexpected fetch ${String(url)}`); }) as typeof fetch;
/** What fetch does when dl.k8s.io does not resolve. */
const offlineFetch = (async () => {
  throw Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('getaddrinfo ENOTFOUND dl.k8s.io'), { code: 'ENOTFOUND' }) });
}) as typeof fetch;

/** A complete cache directory as ensureArtifacts would leave it. */
function fakeCache(version: string, opts: { withMtime?: boolean } = {}): string {
  const dir = artifactDir(version, env);
  mkdirSync(join(dir, 'bin'), { recursive: true });
  const binaries: Manifest['binaries'] = {};
  for (const c of K8S_COMPONENTS) {
    const p = join(dir, 'bin', c);
    const body = `#!/bin/sh\necho ${c} ${version}\n`;
    writeFileSync(p, body);
    chmodSync(p, 0o755);
    const st = statSync(p);
    binaries[c] = { sha256: sha(body), size: st.size, ...(opts.withMtime ? { mtimeMs: st.mtimeMs } : {}) };
  }
  const m: Manifest = {
    schema: 1, version, source: 'built', os: 'linux', arch: goArch(), createdAt: new Date().toISOString(),
    seconds: 1234, goVersion: 'go1.26.8', binaries,
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
  return dir;
}

describe('helper go.mod', () => {
  it('derives the staging modules from k8s.io/kubernetes go.mod (v0.0.0 requires and ./staging replaces)', () => {
    expect(stagingModules(FIXTURE_GOMOD)).toEqual(EXPECTED_STAGING);
  });

  it('maps the Kubernetes version to the staging release', () => {
    expect(stagingVersion('v1.34.4')).toBe('v0.34.4');
    expect(stagingVersion('v1.36.3')).toBe('v0.36.3');
    expect(stagingVersion('v1.35.0-rc.1')).toBe('v0.35.0-rc.1');
    expect(() => stagingVersion('1.34')).toThrow(HalabError);
  });

  it('requires k8s.io/kubernetes and replaces every staging module with v0.MINOR.PATCH', () => {
    const text = renderHelperGoMod(FIXTURE_GOMOD, 'v1.34.4');
    for (const m of EXPECTED_STAGING) expect(text).toContain(`\t${m} => ${m} v0.34.4\n`);
    expect(text).toContain('require k8s.io/kubernetes v1.34.4\n');
    expect(text).toContain('\ngo 1.24.0\n');
    expect(text).toContain('\ngodebug default=go1.24\n');
    // non-local replacements of Kubernetes are carried over; nothing points at a directory
    expect(text).toContain('github.com/example/forked v1.2.3 => github.com/example/fork v1.2.4');
    const parsed = parseGoMod(text);
    expect(parsed.module).toBe('halab.local/kubernetes-build');
    expect(parsed.require).toEqual([{ path: 'k8s.io/kubernetes', version: 'v1.34.4', indirect: false }]);
    expect(parsed.replace.filter((r) => r.to.startsWith('.'))).toEqual([]);
    expect(parsed.replace.filter((r) => r.toVersion === 'v0.34.4').map((r) => r.from)).toEqual(EXPECTED_STAGING);
    // not hard-coded: another version gives other replace targets
    expect(renderHelperGoMod(FIXTURE_GOMOD, 'v1.35.4')).toContain('\tk8s.io/api => k8s.io/api v0.35.4\n');
  });

  it('refuses a local replace that no module release can satisfy', () => {
    const bad = `${FIXTURE_GOMOD}\nreplace k8s.io/odd => ./third_party/odd\n`;
    expect(() => stagingModules(bad)).toThrow(/third_party\/odd/);
  });
});

describe('version ldflags', () => {
  it('stamps component-base and client-go the way release builds do', () => {
    const f = versionLdflags({ version: 'v1.34.4', buildDate: '2026-02-10T12:53:36Z', gitCommit: 'abc123' });
    const words = f.split(' ');
    expect(words.slice(0, 2)).toEqual(['-s', '-w']);
    for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
      for (const kv of ['gitVersion=v1.34.4', 'gitMajor=1', 'gitMinor=34', 'gitCommit=abc123', 'gitTreeState=clean', 'buildDate=2026-02-10T12:53:36Z']) {
        expect(f).toContain(`-X ${pkg}.${kv}`);
      }
    }
  });

  it('stamps an empty gitCommit when unknown and only stamps packages in the build', () => {
    const f = versionLdflags({ version: 'v1.35.4', buildDate: '2026-01-01T00:00:00Z', packages: ['k8s.io/component-base/version'], strip: false });
    expect(f).toContain('-X k8s.io/component-base/version.gitCommit= ');
    expect(f).not.toContain('client-go');
    expect(f).not.toContain('-s');
    expect(f).toContain('-X k8s.io/component-base/version.gitMinor=35');
  });
});

describe('cache', () => {
  it('lives under HALAB_CACHE_DIR, else XDG_CACHE_HOME, else ~/.cache', () => {
    expect(cacheRoot({ HALAB_CACHE_DIR: '/x/y' })).toBe('/x/y');
    expect(cacheRoot({ XDG_CACHE_HOME: '/xdg', HOME: '/home/u' })).toBe('/xdg/halab');
    expect(cacheRoot({ HOME: '/home/u' })).toBe('/home/u/.cache/halab');
    expect(artifactDir('v1.34.4', { HALAB_CACHE_DIR: '/c' })).toBe('/c/kubernetes/v1.34.4');
  });

  it('returns a complete cache without building or downloading', async () => {
    const dir = fakeCache(KUBERNETES_VERSION, { withMtime: true });
    const logs: string[] = [];
    const r = await ensureArtifacts({ env, runner: noRunner, fetch: noFetch, onLog: (l) => logs.push(l) });
    expect(r).toMatchObject({ dir, binDir: join(dir, 'bin'), source: 'built', cached: true });
    expect(r.seconds).toBeLessThan(1);
    expect(logs.join('\n')).toMatch(/is cached/);
  });

  it('hashes files whose mtime is not recorded, and still hits', async () => {
    fakeCache(KUBERNETES_VERSION);
    const r = await ensureArtifacts({ env, runner: noRunner, fetch: noFetch });
    expect(r.cached).toBe(true);
  });

  it('checkArtifacts reports every binary ok for a good cache', () => {
    fakeCache('v1.34.4');
    const checks = checkArtifacts('v1.34.4', { env });
    expect(checks.map((c) => c.component)).toEqual([...K8S_COMPONENTS]);
    expect(checks.every((c) => c.ok && c.present && c.sha256 === c.expectedSha256)).toBe(true);
  });

  it('checkArtifacts detects a corrupted and a missing binary', () => {
    const dir = fakeCache('v1.34.4', { withMtime: true });
    writeFileSync(join(dir, 'bin', 'kubelet'), '#!/bin/sh\necho tampered\n');
    rmSync(join(dir, 'bin', 'kubemark'));
    const byName = Object.fromEntries(checkArtifacts('v1.34.4', { env }).map((c) => [c.component, c]));
    expect(byName.kubelet).toMatchObject({ present: true, ok: false });
    expect(byName.kubelet?.sha256).not.toBe(byName.kubelet?.expectedSha256);
    expect(byName.kubelet?.problem).toMatch(/sha256/);
    expect(byName.kubemark).toMatchObject({ present: false, ok: false });
    expect(byName.kubectl).toMatchObject({ present: true, ok: true });
  });

  it('checkArtifacts hashes only changed files, unless deep', () => {
    const dir = fakeCache('v1.34.4', { withMtime: true });
    expect(checkArtifacts('v1.34.4', { env }).every((c) => c.ok && !c.hashed)).toBe(true);
    // bit rot: same size, and the recorded mtime still matches: only a deep check can see it
    const p = join(dir, 'bin', 'kubeadm');
    writeFileSync(p, readFileSync(p, 'utf8').replace('kubeadm', 'kubeadM'));
    const mPath = join(dir, 'manifest.json');
    const m = JSON.parse(readFileSync(mPath, 'utf8')) as Manifest;
    m.binaries.kubeadm = { ...m.binaries.kubeadm!, mtimeMs: statSync(p).mtimeMs };
    writeFileSync(mPath, JSON.stringify(m));
    expect(checkArtifacts('v1.34.4', { env }).find((c) => c.component === 'kubeadm')?.ok).toBe(true);
    const deep = checkArtifacts('v1.34.4', { env, deep: true });
    expect(deep.every((c) => c.hashed)).toBe(true);
    expect(deep.find((c) => c.component === 'kubeadm')).toMatchObject({ ok: false, problem: expect.stringMatching(/sha256/) });
  });

  it('checkArtifacts reports a missing version as absent', () => {
    expect(checkArtifacts('v1.34.4', { env }).every((c) => !c.present && !c.ok)).toBe(true);
  });
});

function readManifestFile(): Manifest {
  return JSON.parse(readFileSync(join(artifactDir('v1.34.4', env), 'manifest.json'), 'utf8')) as Manifest;
}

/** A stand-in for the go command: records calls, answers like go would. */
function fakeGo(opts: { failBuild?: boolean; noToolchain?: boolean } = {}) {
  const calls: { args: string[]; opts: RunOptions }[] = [];
  const modCache = join(tmp, 'gomodcache');
  const runner: CommandRunner = async (_file, argv, o) => {
    const args = [...argv];
    calls.push({ args, opts: o });
    const ok = (stdout = '') => ({ exitCode: 0, stdout, stderr: '' });
    if (args[0] === 'env') return ok(JSON.stringify({ GOVERSION: 'go1.26.8', GOTOOLCHAIN: 'auto', GOPROXY: 'https://proxy.golang.org,direct', GOMODCACHE: modCache, GOCACHE: join(tmp, 'gocache') }));
    if (args[0] === 'mod' && args[1] === 'download') {
      const base = join(modCache, 'cache/download/k8s.io/kubernetes/@v');
      mkdirSync(base, { recursive: true });
      writeFileSync(join(base, 'v1.34.4.mod'), FIXTURE_GOMOD);
      writeFileSync(join(base, 'v1.34.4.info'), JSON.stringify({ Version: 'v1.34.4', Time: '2026-02-10T12:53:36Z' }));
      const dir = join(modCache, 'k8s.io/kubernetes@v1.34.4');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, '.go-version'), '1.24.12\n');
      return ok(JSON.stringify({ Path: 'k8s.io/kubernetes', Version: 'v1.34.4', GoMod: join(base, 'v1.34.4.mod'), Info: join(base, 'v1.34.4.info'), Dir: dir, Sum: 'h1:x=' }));
    }
    if (args[0] === 'list') {
      o.onStderrLine?.('go: downloading k8s.io/api v0.34.4');
      return ok('fmt\nk8s.io/component-base/version\nk8s.io/client-go/pkg/version\nk8s.io/kubernetes/cmd/kubectl\n');
    }
    if (args[0] === 'build') {
      if (opts.failBuild) {
        for (let i = 0; i < 50; i++) o.onStderrLine?.(`line ${i}`);
        return { exitCode: 1, stdout: '', stderr: '' };
      }
      const out = args[args.indexOf('-o') + 1] ?? '';
      for (const pkg of args.filter((a) => a.startsWith('k8s.io/kubernetes/cmd/'))) {
        o.onStderrLine?.(pkg);
        writeFileSync(join(out, pkg.split('/').pop() ?? ''), `binary of ${pkg}`);
      }
      return ok();
    }
    const tc = o.env?.GOTOOLCHAIN ?? '';
    const goVer = tc.startsWith('go') ? tc : 'go1.26.8';
    if (args[0] === 'version' && args.length === 1) {
      return opts.noToolchain && tc.startsWith('go')
        ? { exitCode: 1, stdout: '', stderr: `go: download ${tc} for linux/amd64: toolchain not available` }
        : ok(`go version ${goVer} linux/amd64\n`);
    }
    if (args[0] === 'version') return ok(`${args[1]}: ${goVer}\n`);
    throw new Error(`unexpected go ${args.join(' ')}`);
  };
  return { runner, calls };
}

describe('build from the Go module proxy', () => {
  it('falls back to one go build of every component when the official download is unreachable', async () => {
    const go = fakeGo();
    const logs: string[] = [];
    const r = await ensureArtifacts({ env, runner: go.runner, fetch: offlineFetch, goBinary: '/usr/bin/go', onLog: (l) => logs.push(l) });
    expect(r).toMatchObject({ source: 'built', cached: false, dir: artifactDir('v1.34.4', env) });
    expect(logs.join('\n')).toMatch(/official download unavailable \(ENOTFOUND\)/);

    const builds = go.calls.filter((c) => c.args[0] === 'build');
    expect(builds).toHaveLength(1);
    const b = builds[0]!;
    expect(b.args).toContain('-trimpath');
    expect(b.args.filter((a) => a.startsWith('k8s.io/kubernetes/cmd/')).sort()).toEqual(K8S_COMPONENTS.map((c) => `k8s.io/kubernetes/cmd/${c}`).sort());
    expect(b.opts.env?.CGO_ENABLED).toBe('0');
    const ld = b.args.find((a) => a.startsWith('-ldflags='));
    expect(ld).toContain('-X k8s.io/component-base/version.gitVersion=v1.34.4');
    expect(ld).toContain('-X k8s.io/client-go/pkg/version.gitVersion=v1.34.4');
    expect(ld).toContain('buildDate=2026-02-10T12:53:36Z');
    // GOCACHE / GOMODCACHE are left to Go
    expect(b.opts.env?.GOCACHE).toBe(process.env.GOCACHE);
    expect(b.opts.env?.GOMODCACHE).toBe(process.env.GOMODCACHE);

    // the helper module sits under the cache and carries the replaces
    const helper = readFileSync(join(env.HALAB_CACHE_DIR!, 'kubernetes/.gomod/v1.34.4/go.mod'), 'utf8');
    expect(helper).toContain('\tk8s.io/client-go => k8s.io/client-go v0.34.4\n');
    expect(b.opts.cwd).toBe(join(env.HALAB_CACHE_DIR!, 'kubernetes/.gomod/v1.34.4'));

    // compiled with upstream's Go release (.go-version), fetched by go through the proxy
    expect(b.opts.env?.GOTOOLCHAIN).toBe('go1.24.12');
    const manifest = JSON.parse(readFileSync(join(r.dir, 'manifest.json'), 'utf8')) as Manifest;
    expect(manifest).toMatchObject({ version: 'v1.34.4', source: 'built', goVersion: 'go1.24.12' });
    expect(Object.keys(manifest.binaries).sort()).toEqual([...K8S_COMPONENTS].sort());
    expect(checkArtifacts('v1.34.4', { env }).every((c) => c.ok)).toBe(true);

    // second run: nothing to do
    const again = await ensureArtifacts({ env, runner: noRunner, fetch: noFetch });
    expect(again.cached).toBe(true);
  });

  it('uses the installed Go when upstream\'s toolchain cannot be fetched, or when asked to', async () => {
    const go = fakeGo({ noToolchain: true });
    const logs: string[] = [];
    await ensureArtifacts({ env, runner: go.runner, from: 'build', goBinary: '/usr/bin/go', onLog: (l) => logs.push(l) });
    expect(logs.join('\n')).toMatch(/cannot get go1\.24\.12 .*using go1\.26\.8/);
    expect(go.calls.find((c) => c.args[0] === 'build')?.opts.env?.GOTOOLCHAIN).toBe('local');
    expect(readManifestFile().goVersion).toBe('go1.26.8');

    rmSync(artifactDir('v1.34.4', env), { recursive: true });
    const local = fakeGo();
    await ensureArtifacts({ env, runner: local.runner, from: 'build', goBinary: '/usr/bin/go', toolchain: 'local' });
    expect(local.calls.find((c) => c.args[0] === 'build')?.opts.env?.GOTOOLCHAIN).toBe('local');
  });

  it('rebuilds over a corrupted cache', async () => {
    const dir = fakeCache('v1.34.4', { withMtime: true });
    writeFileSync(join(dir, 'bin', 'kubectl'), 'x');
    const go = fakeGo();
    const r = await ensureArtifacts({ env, runner: go.runner, from: 'build', goBinary: '/usr/bin/go' });
    expect(r.cached).toBe(false);
    expect(readFileSync(join(dir, 'bin', 'kubectl'), 'utf8')).toBe('binary of k8s.io/kubernetes/cmd/kubectl');
    expect(checkArtifacts('v1.34.4', { env }).every((c) => c.ok)).toBe(true);
  });

  it('reports a failed build with the last 30 lines of go output and leaves no partial cache', async () => {
    const go = fakeGo({ failBuild: true });
    const err = await ensureArtifacts({ env, runner: go.runner, from: 'build', goBinary: '/usr/bin/go' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HalabError);
    const e = err as HalabError;
    expect(e.code).toBe('K8S_BUILD_FAILED');
    expect(e.details?.split('\n')).toHaveLength(30);
    expect(e.details?.split('\n').at(-1)).toBe('line 49');
    expect(checkArtifacts('v1.34.4', { env }).some((c) => c.present)).toBe(false);
  });

  it('says how to install Go when there is none', async () => {
    const err = await ensureArtifacts({ env, from: 'build', goBinary: join(tmp, 'no-such-go') }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'GO_MISSING' });
    expect((err as HalabError).fix).toMatch(/golang-go/);
  });
});

describe('one process at a time', () => {
  it('waits for the process holding the lock and uses what it installed', async () => {
    const root = join(env.HALAB_CACHE_DIR!, 'kubernetes');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, '.lock-v1.34.4'), String(process.ppid)); // a live process
    const logs: string[] = [];
    setTimeout(() => fakeCache('v1.34.4', { withMtime: true }), 150);
    const r = await ensureArtifacts({ env, runner: noRunner, fetch: noFetch, lockPollMs: 50, onLog: (l) => logs.push(l) });
    expect(r.cached).toBe(true);
    expect(logs.join('\n')).toMatch(new RegExp(`waiting for process ${process.ppid}`));
  });

  it('takes over the lock of a process that is gone, and releases it', async () => {
    const root = join(env.HALAB_CACHE_DIR!, 'kubernetes');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, '.lock-v1.34.4'), '999999999');
    const go = fakeGo();
    const r = await ensureArtifacts({ env, runner: go.runner, from: 'build', goBinary: '/usr/bin/go', lockPollMs: 50 });
    expect(r.cached).toBe(false);
    expect(() => statSync(join(root, '.lock-v1.34.4'))).toThrow();
  });
});

describe('official download', () => {
  function fakeRelease(bodies: Record<string, string>, sums: Record<string, string> = {}) {
    const urls: string[] = [];
    const f = (async (input: string | URL | Request) => {
      const url = String(input);
      urls.push(url);
      const name = url.split('/').pop() ?? '';
      if (name.endsWith('.sha256')) {
        const c = name.slice(0, -'.sha256'.length);
        return new Response(sums[c] ?? sha(bodies[c] ?? ''), { status: bodies[c] === undefined ? 404 : 200 });
      }
      return bodies[name] === undefined ? new Response('', { status: 404 }) : new Response(bodies[name]);
    }) as typeof fetch;
    return { f, urls };
  }
  const bodies = Object.fromEntries(K8S_COMPONENTS.map((c) => [c, `official ${c}`]));

  it('downloads and verifies every binary', async () => {
    const { f, urls } = fakeRelease(bodies);
    const r = await ensureArtifacts({ env, fetch: f, runner: noRunner });
    expect(r.source).toBe('download');
    expect(urls).toContain(`https://dl.k8s.io/release/v1.34.4/bin/linux/${goArch()}/kubectl.sha256`);
    expect(readFileSync(join(r.binDir, 'kubemark'), 'utf8')).toBe('official kubemark');
    expect(checkArtifacts('v1.34.4', { env }).every((c) => c.ok)).toBe(true);
  });

  it('refuses a binary that does not match its published sha256', async () => {
    const { f } = fakeRelease(bodies, { kubelet: 'a'.repeat(64) });
    await expect(ensureArtifacts({ env, fetch: f, runner: noRunner })).rejects.toMatchObject({ code: 'K8S_DOWNLOAD_CHECKSUM' });
  });

  it('builds when a component is not published', async () => {
    const { kubemark: _omit, ...partial } = bodies;
    const { f } = fakeRelease(partial);
    const go = fakeGo();
    const r = await ensureArtifacts({ env, fetch: f, runner: go.runner, goBinary: '/usr/bin/go' });
    expect(r.source).toBe('built');
  });

  it('--from download fails with a fix when the server is unreachable', async () => {
    await expect(ensureArtifacts({ env, fetch: offlineFetch, runner: noRunner, from: 'download' }))
      .rejects.toMatchObject({ code: 'K8S_DOWNLOAD_FAILED' });
  });
});
