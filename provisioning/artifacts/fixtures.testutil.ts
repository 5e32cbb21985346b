// Shared by the artifact tests: a temp cache, a complete fake cache, and stand-ins for the go
// command and for fetch, so no test runs go or touches the network.
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import type { LocalRunner, LocalRunOptions } from '../exec/local.ts';
import type { ExecResult } from '../exec/types.ts';
import type { Env } from './cache.ts';
import { artifactDir, K8S_COMPONENTS } from './kubernetes.ts';
import type { Manifest } from './manifest.ts';
import { goArch } from './version.ts';

// Trimmed from k8s.io/kubernetes v1.34.4's go.mod, plus the forms the parser must cope with
// (single-line directives, comments, a non-local replace).
export const FIXTURE_GOMOD = `// This is a generated file. Do not edit directly.

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

export const EXPECTED_STAGING = [
  'k8s.io/api',
  'k8s.io/apiextensions-apiserver',
  'k8s.io/apimachinery',
  'k8s.io/apiserver',
  'k8s.io/client-go',
  'k8s.io/component-base',
  'k8s.io/cri-api',
  'k8s.io/kms',
  'k8s.io/kubelet',
  'k8s.io/sample-controller',
];

/** A fresh temp dir per test, with HALAB_CACHE_DIR inside it and no GOTOOLCHAIN. */
export function useTmpCache(): { readonly tmp: string; readonly env: Env } {
  const ctx = { tmp: '', env: {} as Env };
  beforeEach(() => {
    ctx.tmp = mkdtempSync(join(tmpdir(), 'halab-k8s-test-'));
    ctx.env = { ...process.env, HALAB_CACHE_DIR: join(ctx.tmp, 'cache') };
    delete ctx.env.GOTOOLCHAIN;
  });
  afterEach(() => rmSync(ctx.tmp, { recursive: true, force: true }));
  return ctx;
}

export const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

export const noRunner: LocalRunner = async (file, args) => {
  throw new Error(`unexpected command: ${file} ${args.join(' ')}`);
};
export const noFetch = (async (url: string | URL | Request) => {
  throw new Error(`unexpected fetch ${String(url)}`);
}) as typeof fetch;
/** What fetch does when dl.k8s.io does not resolve. */
export const offlineFetch = (async () => {
  throw Object.assign(new TypeError('fetch failed'), {
    cause: Object.assign(new Error('getaddrinfo ENOTFOUND dl.k8s.io'), { code: 'ENOTFOUND' }),
  });
}) as typeof fetch;

/** A complete Kubernetes cache directory as ensureArtifacts would leave it. */
export function fakeCache(env: Env, version: string, opts: { withMtime?: boolean } = {}): string {
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
    schema: 1,
    version,
    source: 'built',
    os: 'linux',
    arch: goArch(),
    createdAt: new Date().toISOString(),
    seconds: 1234,
    goVersion: 'go1.26.8',
    binaries,
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
  return dir;
}

export interface FakeGoOptions {
  failBuild?: boolean;
  /** go cannot fetch upstream's toolchain. */
  noToolchain?: boolean;
  /** The module the proxy serves (default k8s.io/kubernetes v1.34.4 with FIXTURE_GOMOD). */
  module?: { path: string; version: string; goMod: string; goVersionFile?: string };
}

/** A stand-in for the go command: records calls, answers like go would. */
export function fakeGo(tmp: string, opts: FakeGoOptions = {}) {
  const mod = opts.module ?? {
    path: 'k8s.io/kubernetes',
    version: 'v1.34.4',
    goMod: FIXTURE_GOMOD,
    goVersionFile: '1.24.12\n',
  };
  const calls: { args: string[]; opts: LocalRunOptions }[] = [];
  const modCache = join(tmp, 'gomodcache');
  const runner: LocalRunner = async (file, argv, o = {}) => {
    const args = [...argv];
    calls.push({ args, opts: o });
    const res = (exitCode: number, stdout = '', stderr = ''): ExecResult => ({
      command: `${file} ${args.join(' ')}`,
      exitCode,
      stdout,
      stderr,
      durationMs: 1,
    });
    const stderrLine = (l: string) => o.onLine?.(l, 'stderr');
    if (args[0] === 'env')
      return res(
        0,
        JSON.stringify({
          GOVERSION: 'go1.26.8',
          GOTOOLCHAIN: 'auto',
          GOPROXY: 'https://proxy.golang.org,direct',
          GOMODCACHE: modCache,
          GOCACHE: join(tmp, 'gocache'),
        }),
      );
    if (args[0] === 'mod' && args[1] === 'download') {
      const base = join(modCache, 'cache/download', mod.path, '@v');
      mkdirSync(base, { recursive: true });
      writeFileSync(join(base, `${mod.version}.mod`), mod.goMod);
      writeFileSync(
        join(base, `${mod.version}.info`),
        JSON.stringify({ Version: mod.version, Time: '2026-02-10T12:53:36Z' }),
      );
      const dir = join(modCache, `${mod.path}@${mod.version}`);
      mkdirSync(dir, { recursive: true });
      if (mod.goVersionFile) writeFileSync(join(dir, '.go-version'), mod.goVersionFile);
      return res(
        0,
        JSON.stringify({
          Path: mod.path,
          Version: mod.version,
          GoMod: join(base, `${mod.version}.mod`),
          Info: join(base, `${mod.version}.info`),
          Dir: dir,
          Sum: 'h1:x=',
        }),
      );
    }
    if (args[0] === 'list') {
      stderrLine('go: downloading k8s.io/api v0.34.4');
      return res(
        0,
        'fmt\nk8s.io/component-base/version\nk8s.io/client-go/pkg/version\nk8s.io/kubernetes/cmd/kubectl\n',
      );
    }
    if (args[0] === 'build') {
      if (opts.failBuild) {
        for (let i = 0; i < 50; i++) stderrLine(`line ${i}`);
        return res(1);
      }
      const out = args[args.indexOf('-o') + 1] ?? '';
      for (const pkg of args.filter((a) => a.startsWith(`${mod.path}/`))) {
        stderrLine(pkg);
        writeFileSync(join(out, pkg.split('/').pop() ?? ''), `binary of ${pkg}`);
      }
      return res(0);
    }
    const tc = o.env?.GOTOOLCHAIN ?? '';
    const goVer = tc.startsWith('go') ? tc : 'go1.26.8';
    if (args[0] === 'version' && args.length === 1) {
      return opts.noToolchain && tc.startsWith('go')
        ? res(1, '', `go: download ${tc} for linux/amd64: toolchain not available`)
        : res(0, `go version ${goVer} linux/amd64\n`);
    }
    if (args[0] === 'version') return res(0, `${args[1]}: ${goVer}\n`);
    throw new Error(`unexpected go ${args.join(' ')}`);
  };
  return { runner, calls };
}
