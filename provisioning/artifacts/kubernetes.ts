// Kubernetes binaries at one pinned version, obtained the same way on every machine:
//   1. the official release (dl.k8s.io, each binary checked against its published sha256), or,
//      when that is unreachable,
//   2. a build from the Go module proxy: a generated helper module requires k8s.io/kubernetes at
//      the pinned version and replaces every staging module (required there at v0.0.0) by its
//      own v0.MINOR.PATCH release, then ONE `go build` compiles all components.
// Results are cached per version under ${XDG_CACHE_HOME:-~/.cache}/halab/kubernetes/<version>/
// (bin/<component> + manifest.json), installed atomically (temp dir + rename). GOCACHE and
// GOMODCACHE stay where Go keeps them, so a rebuild after a cache wipe is incremental.

import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { accessSync, constants as fsc, readFileSync, readdirSync, rmSync, statSync, statfsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { CancelledError, HalabError } from '../errors.ts';
import { isLocalPath, parseGoMod } from './gomod.ts';

// ---------------------------------------------------------------------------------------------
// What and where
// ---------------------------------------------------------------------------------------------

export const KUBERNETES_VERSION = 'v1.34.4';

export const K8S_COMPONENTS = [
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubectl',
  'kubeadm',
  'kubelet',
  'kubemark',
] as const;
export type K8sComponent = (typeof K8S_COMPONENTS)[number];

/** Go package of each component inside k8s.io/kubernetes. */
export const K8S_PACKAGES: Record<K8sComponent, string> = Object.fromEntries(
  K8S_COMPONENTS.map((c) => [c, `k8s.io/kubernetes/cmd/${c}`]),
) as Record<K8sComponent, string>;

export const KUBERNETES_MODULE = 'k8s.io/kubernetes';
/** Packages whose version variables `kubectl version` / `--version` print. */
export const VERSION_PACKAGES = ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'] as const;
export const DEFAULT_DOWNLOAD_BASE = 'https://dl.k8s.io/release';
/** Oldest Go that can build (it switches to the toolchain the go.mod asks for through the proxy). */
const MIN_GO: [number, number] = [1, 21];
const GO_FIX = 'apt-get install golang-go or install Go >= 1.24 from https://go.dev/dl (and put it on PATH)';

type Env = Record<string, string | undefined>;

/** Cache root: $HALAB_CACHE_DIR, else ${XDG_CACHE_HOME:-$HOME/.cache}/halab. */
export function cacheRoot(env: Env = process.env): string {
  if (env.HALAB_CACHE_DIR) return resolve(env.HALAB_CACHE_DIR);
  const xdg = env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : join(env.HOME || homedir(), '.cache');
  return join(xdg, 'halab');
}

function kubeRoot(env: Env): string {
  return join(cacheRoot(env), 'kubernetes');
}

/** Directory of one version: bin/<component> and manifest.json. */
export function artifactDir(version: string = KUBERNETES_VERSION, env: Env = process.env): string {
  parseVersion(version);
  return join(kubeRoot(env), version);
}

export function binaryPath(component: K8sComponent, version: string = KUBERNETES_VERSION, env: Env = process.env): string {
  return join(artifactDir(version, env), 'bin', component);
}

export interface ParsedVersion { major: number; minor: number; patch: number; pre: string }

export function parseVersion(version: string): ParsedVersion {
  const m = /^v(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?$/.exec(version);
  if (!m) {
    throw new HalabError('K8S_BAD_VERSION', `"${version}" is not a Kubernetes release version`, {
      fix: `use a version like ${KUBERNETES_VERSION}`,
    });
  }
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), pre: m[4] ?? '' };
}

/** The staging modules' release for a Kubernetes version: v1.34.4 -> v0.34.4. */
export function stagingVersion(version: string): string {
  const v = parseVersion(version);
  return `v0.${v.minor}.${v.patch}${v.pre}`;
}

export function goArch(arch: string = process.arch): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  const a = map[arch];
  if (!a) throw new HalabError('UNSUPPORTED_ARCH', `no Kubernetes binaries for CPU architecture ${arch}`);
  return a;
}

// ---------------------------------------------------------------------------------------------
// Generated helper module and version stamping (pure: unit-tested)
// ---------------------------------------------------------------------------------------------

/**
 * Modules k8s.io/kubernetes develops in its staging/ tree: required at v0.0.0 and replaced by
 * a local ./staging/src/<module> directory. Read from its go.mod, never hard-coded.
 */
export function stagingModules(kubernetesGoMod: string): string[] {
  const mod = parseGoMod(kubernetesGoMod);
  const set = new Set<string>();
  for (const r of mod.require) if (r.version === 'v0.0.0') set.add(r.path);
  for (const r of mod.replace) {
    if (!isLocalPath(r.to)) continue;
    const rel = r.to.replace(/^\.\//, '');
    if (!rel.startsWith('staging/')) {
      throw new HalabError('K8S_UNSUPPORTED_REPLACE',
        `k8s.io/kubernetes replaces ${r.from} by the local directory ${r.to}, which no module release provides`,
        { fix: 'pin another Kubernetes version, or build this one from a git checkout' });
    }
    set.add(r.from);
  }
  return [...set].sort();
}

/** go.mod of the helper module that builds `version` from the module proxy. */
export function renderHelperGoMod(kubernetesGoMod: string, version: string): string {
  const mod = parseGoMod(kubernetesGoMod);
  const staging = stagingModules(kubernetesGoMod);
  const sv = stagingVersion(version);
  // A dependency's replace directives are ignored by Go: the non-local ones Kubernetes declares
  // are copied so the build resolves the same module versions upstream does.
  const other = mod.replace.filter((r) => !isLocalPath(r.to) && !staging.includes(r.from));
  const lines = [
    `// Generated by HA Lab (provisioning/artifacts/kubernetes.ts) to build Kubernetes ${version}`,
    '// from the Go module proxy. Rewritten on every build: do not edit.',
    'module halab.local/kubernetes-build',
    '',
    `go ${mod.go ?? '1.24.0'}`,
    '',
  ];
  for (const g of mod.godebug) lines.push(`godebug ${g}`);
  if (mod.godebug.length) lines.push('');
  lines.push(`require ${KUBERNETES_MODULE} ${version}`, '');
  lines.push(`// The ${staging.length} staging modules k8s.io/kubernetes requires at v0.0.0, at their ${sv} release.`);
  lines.push('replace (');
  for (const m of staging) lines.push(`\t${m} => ${m} ${sv}`);
  lines.push(')');
  if (other.length) {
    lines.push('', '// Replacements declared by k8s.io/kubernetes itself.', 'replace (');
    for (const r of other) {
      lines.push(`\t${r.from}${r.fromVersion ? ` ${r.fromVersion}` : ''} => ${r.to}${r.toVersion ? ` ${r.toVersion}` : ''}`);
    }
    lines.push(')');
  }
  return `${lines.join('\n')}\n`;
}

export interface StampInput {
  version: string;
  /**
   * Commit of the release when the module proxy reports it (Origin.Hash). Unknown -> stamped
   * empty: the source default is the unexpanded git placeholder "$Format:%H$".
   */
  gitCommit?: string;
  /** RFC 3339 UTC, second precision (Kubernetes' own format). */
  buildDate: string;
  /** Version packages present in the build (defaults to both). */
  packages?: readonly string[];
  /** Strip symbol tables and DWARF, as release builds do. */
  strip?: boolean;
}

/** The `-ldflags` value: what hack/lib/version.sh stamps into release builds. */
export function versionLdflags(s: StampInput): string {
  const v = parseVersion(s.version);
  const vars: [string, string][] = [
    ['gitVersion', s.version],
    ['gitMajor', String(v.major)],
    ['gitMinor', String(v.minor)],
  ];
  vars.push(['gitCommit', s.gitCommit ?? ''], ['gitTreeState', 'clean'], ['buildDate', s.buildDate]);
  const flags: string[] = s.strip === false ? [] : ['-s', '-w'];
  for (const pkg of s.packages ?? VERSION_PACKAGES) {
    for (const [k, val] of vars) {
      if (/\s|'/.test(val)) throw new HalabError('INTERNAL', `version stamp ${k}=${val} contains whitespace`);
      flags.push('-X', `${pkg}.${k}=${val}`);
    }
  }
  return flags.join(' ');
}

/** 2026-02-10T12:53:36.123Z -> 2026-02-10T12:53:36Z */
export function k8sDate(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

// ---------------------------------------------------------------------------------------------
// Manifest and verification
// ---------------------------------------------------------------------------------------------

const BinarySchema = z.object({
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
  /** mtime when installed: lets a re-run skip hashing when nothing touched the file. */
  mtimeMs: z.number().optional(),
});

export const ManifestSchema = z.object({
  schema: z.literal(1),
  version: z.string(),
  source: z.enum(['download', 'built']),
  os: z.string(),
  arch: z.string(),
  createdAt: z.string(),
  /** Wall time to obtain the binaries (download, or module download + compile). */
  seconds: z.number(),
  downloadSeconds: z.number().optional(),
  compileSeconds: z.number().optional(),
  /** Toolchain that compiled the binaries; null for official downloads. */
  goVersion: z.string().nullable(),
  module: z.object({ path: z.string(), version: z.string(), sum: z.string().optional(), stagingVersion: z.string() }).optional(),
  binaries: z.record(z.string(), BinarySchema),
});
export type Manifest = z.infer<typeof ManifestSchema>;

export function readManifest(dir: string): Manifest | undefined {
  try {
    const r = ManifestSchema.safeParse(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

export function sha256File(path: string): string {
  // Whole-file read: binaries are < 150 MB and this stays synchronous for `doctor`.
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

export interface ArtifactCheck {
  component: K8sComponent;
  path: string;
  present: boolean;
  /**
   * sha256 of the file: computed when `hashed`, else the recorded one (the file's size and mtime
   * are still exactly as installed).
   */
  sha256?: string;
  /** What manifest.json recorded. */
  expectedSha256?: string;
  hashed: boolean;
  /** Present, executable, and matching the manifest. */
  ok: boolean;
  problem?: string;
}

export interface CheckOptions {
  env?: Env;
  /**
   * Hash every binary even when size and mtime are as installed (about 3 s for the ~570 MB on a
   * CPU without SHA extensions). Without it only changed files are hashed, so a file rewritten
   * in place is always caught, silent bit rot only with deep.
   */
  deep?: boolean;
}

function manifestProblem(manifest: Manifest | undefined, version: string): string | undefined {
  if (!manifest) return 'manifest.json missing or unreadable';
  if (manifest.version !== version) return `manifest is for ${manifest.version}`;
  if (manifest.arch !== goArch()) return `built for ${manifest.arch}, this machine is ${goArch()}`;
  return undefined;
}

function checkOne(dir: string, component: K8sComponent, manifest: Manifest | undefined, mProblem: string | undefined, deep: boolean): ArtifactCheck {
  const path = join(dir, 'bin', component);
  let st;
  try { st = statSync(path); } catch { /* absent */ }
  if (!st || !st.isFile()) return { component, path, present: false, hashed: false, ok: false, problem: 'missing' };
  const want = manifest?.binaries[component];
  const unchanged = !deep && want !== undefined && want.mtimeMs !== undefined && st.mtimeMs === want.mtimeMs && st.size === want.size;
  const sha256 = unchanged ? want.sha256 : sha256File(path);
  const base = { component, path, present: true, sha256, expectedSha256: want?.sha256, hashed: !unchanged };
  if (mProblem) return { ...base, ok: false, problem: mProblem };
  if (!want) return { ...base, ok: false, problem: 'not listed in manifest.json' };
  if (sha256 !== want.sha256) return { ...base, ok: false, problem: 'sha256 differs from manifest.json (corrupted or replaced)' };
  if (!isExecutable(path)) return { ...base, ok: false, problem: 'not executable' };
  return { ...base, ok: true };
}

/**
 * Check every binary of a version against its manifest.json: for `halab doctor`. A binary is ok
 * only if present, executable and byte-identical to what was installed (see CheckOptions.deep).
 */
export function checkArtifacts(version: string = KUBERNETES_VERSION, opts: CheckOptions = {}): ArtifactCheck[] {
  const dir = artifactDir(version, opts.env);
  const manifest = readManifest(dir);
  const mProblem = manifestProblem(manifest, version);
  return K8S_COMPONENTS.map((c) => checkOne(dir, c, manifest, mProblem, opts.deep ?? false));
}

function isExecutable(path: string): boolean {
  try { accessSync(path, fsc.X_OK); return true; } catch { return false; }
}

/** ensureArtifacts' cache check: stops at the first problem. */
function cacheProblem(dir: string, version: string): { problem?: string; manifest?: Manifest } {
  const manifest = readManifest(dir);
  const mProblem = manifestProblem(manifest, version);
  if (mProblem || !manifest) return { problem: mProblem };
  for (const c of K8S_COMPONENTS) {
    const r = checkOne(dir, c, manifest, undefined, false);
    if (!r.ok) return { problem: `${c}: ${r.problem}` };
  }
  return { manifest };
}

// ---------------------------------------------------------------------------------------------
// Running commands (injectable so tests never call go)
// ---------------------------------------------------------------------------------------------

export interface RunOptions {
  cwd?: string;
  /** Complete environment of the child. */
  env?: Env;
  signal?: AbortSignal;
  /** stderr, line by line, as it arrives (go writes its progress and errors there). */
  onStderrLine?: (line: string) => void;
}
export interface RunResult { exitCode: number; stdout: string; stderr: string }
export type CommandRunner = (file: string, args: readonly string[], opts: RunOptions) => Promise<RunResult>;

export const execaRunner: CommandRunner = async (file, args, opts) => {
  const child = execa(file, [...args], {
    cwd: opts.cwd,
    env: opts.env,
    extendEnv: false,
    cancelSignal: opts.signal,
    reject: false,
    stdin: 'ignore',
    stripFinalNewline: false,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (opts.onStderrLine) {
    const cb = opts.onStderrLine;
    let buf = '';
    child.stderr?.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) { cb(buf.slice(0, i)); buf = buf.slice(i + 1); }
    });
    child.stderr?.on('end', () => { if (buf) cb(buf); });
  }
  const r = await child;
  if (r.isCanceled) throw new CancelledError(`${file} ${args[0] ?? ''}`.trim());
  if ((r as { code?: string }).code === 'ENOENT') {
    throw new HalabError('GO_MISSING', `${file} is not installed`, { fix: GO_FIX });
  }
  if (r.exitCode === undefined) {
    return { exitCode: 128, stdout: String(r.stdout ?? ''), stderr: `${String(r.stderr ?? '')}\nkilled by ${r.signal ?? 'a signal'}` };
  }
  return { exitCode: r.exitCode, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
};

/** `go` on PATH, else the usual install locations. */
export function findGo(env: Env = process.env): string | undefined {
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  const candidates = [...dirs.map((d) => join(d, 'go')), '/usr/local/go/bin/go', '/usr/lib/go/bin/go'];
  return candidates.find((p) => { try { return statSync(p).isFile() && isExecutable(p); } catch { return false; } });
}

/** go1.26.8 / go1.24rc1 -> [1, 26] */
export function goMinor(goVersion: string): [number, number] | undefined {
  const m = /^go(\d+)\.(\d+)/.exec(goVersion.trim());
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

function lt(a: [number, number], b: [number, number]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}

// ---------------------------------------------------------------------------------------------
// ensureArtifacts
// ---------------------------------------------------------------------------------------------

export type ArtifactSource = 'download' | 'built';

export interface EnsureOptions {
  version?: string;
  onLog?: (line: string) => void;
  signal?: AbortSignal;
  /** auto: official download, then build; download/build: only that way. */
  from?: 'auto' | 'download' | 'build';
  /** Environment (cache location, PATH, Go settings); defaults to process.env. */
  env?: Env;
  runner?: CommandRunner;
  fetch?: typeof globalThis.fetch;
  /** Path of the go binary (skips the PATH lookup). */
  goBinary?: string;
  /**
   * upstream (default): compile with the Go release upstream uses for this Kubernetes version
   * (its .go-version), which go fetches through the module proxy; local: the installed Go.
   */
  toolchain?: 'upstream' | 'local';
  downloadBase?: string;
  /** Time allowed for the official download server to answer (ms). */
  connectTimeoutMs?: number;
  /** How often to look again while another process holds the lock (ms). */
  lockPollMs?: number;
}

export interface EnsureResult {
  /** artifactDir(version): bin/ and manifest.json. */
  dir: string;
  binDir: string;
  source: ArtifactSource;
  /** Wall time of this call. */
  seconds: number;
  /** True when the cache was already complete and nothing was done. */
  cached: boolean;
}

interface Ctx {
  version: string;
  arch: string;
  env: Env;
  log: (line: string) => void;
  signal?: AbortSignal;
  runner: CommandRunner;
  fetch: typeof globalThis.fetch;
  goBinary?: string;
  toolchain: 'upstream' | 'local';
  downloadBase: string;
  connectTimeoutMs: number;
}

interface Obtained {
  source: ArtifactSource;
  goVersion: string | null;
  downloadSeconds?: number;
  compileSeconds?: number;
  module?: Manifest['module'];
}

export async function ensureArtifacts(opts: EnsureOptions = {}): Promise<EnsureResult> {
  const t0 = performance.now();
  const version = opts.version ?? KUBERNETES_VERSION;
  const env = opts.env ?? process.env;
  const dir = artifactDir(version, env);
  const binDir = join(dir, 'bin');
  const log = opts.onLog ?? (() => {});
  const secs = () => Math.round(performance.now() - t0) / 1000;

  const existing = cacheProblem(dir, version);
  if (!existing.problem && existing.manifest) {
    log(`Kubernetes ${version} is cached in ${binDir} (${existing.manifest.source})`);
    removeStaleTemps(kubeRoot(env));
    return { dir, binDir, source: existing.manifest.source, seconds: secs(), cached: true };
  }
  if (statSafe(dir)) log(`cache in ${dir} is not usable (${existing.problem}): obtaining it again`);

  const ctx: Ctx = {
    version,
    arch: goArch(),
    env,
    log,
    signal: opts.signal,
    runner: opts.runner ?? execaRunner,
    fetch: opts.fetch ?? globalThis.fetch,
    goBinary: opts.goBinary,
    toolchain: opts.toolchain ?? 'upstream',
    downloadBase: (opts.downloadBase ?? DEFAULT_DOWNLOAD_BASE).replace(/\/+$/, ''),
    connectTimeoutMs: opts.connectTimeoutMs ?? 5000,
  };
  const root = kubeRoot(env);
  await mkdir(root, { recursive: true });
  // One process obtains a version at a time; the others wait and then use its result.
  const release = await acquireLock(root, version, log, ctx.signal, opts.lockPollMs ?? 2000, () => !cacheProblem(dir, version).problem);
  if (release === 'done') {
    const m = readManifest(dir);
    log(`Kubernetes ${version} was obtained by another process: ${binDir}`);
    return { dir, binDir, source: m?.source ?? 'built', seconds: secs(), cached: true };
  }
  let tmp: string | undefined;
  try {
    removeStaleTemps(root);
    tmp = await mkdtemp(join(root, `.tmp-${version}-${process.pid}-`));
    const tmpBin = join(tmp, 'bin');
    await mkdir(tmpBin);
    const from = opts.from ?? 'auto';
    let got: Obtained | undefined;
    if (from !== 'build') {
      const d = await tryDownload(ctx, tmpBin);
      if (d.ok) got = { source: 'download', goVersion: null, downloadSeconds: d.seconds };
      else if (from === 'download') {
        throw new HalabError('K8S_DOWNLOAD_FAILED', `cannot download Kubernetes ${version} from ${ctx.downloadBase}: ${d.reason}`, {
          fix: 'check the network, or build from the Go module proxy (--from build)',
        });
      } else {
        log(`official download unavailable (${d.reason}): building from the Go module proxy`);
      }
    }
    got ??= await buildFromModules(ctx, tmpBin);
    throwIfAborted(ctx.signal);

    const binaries: Manifest['binaries'] = {};
    for (const c of K8S_COMPONENTS) {
      const p = join(tmpBin, c);
      await chmod(p, 0o755);
      const st = await stat(p);
      binaries[c] = { sha256: sha256File(p), size: st.size, mtimeMs: st.mtimeMs };
    }
    const manifest: Manifest = {
      schema: 1,
      version,
      source: got.source,
      os: 'linux',
      arch: ctx.arch,
      createdAt: new Date().toISOString(),
      seconds: secs(),
      ...(got.downloadSeconds !== undefined ? { downloadSeconds: got.downloadSeconds } : {}),
      ...(got.compileSeconds !== undefined ? { compileSeconds: got.compileSeconds } : {}),
      goVersion: got.goVersion,
      ...(got.module ? { module: got.module } : {}),
      binaries,
    };
    await writeFile(join(tmp, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    if (!(await install(tmp, dir, version))) {
      const m = readManifest(dir);
      log(`another process installed Kubernetes ${version} meanwhile: using it (${binDir})`);
      return { dir, binDir, source: m?.source ?? got.source, seconds: secs(), cached: false };
    }
    log(`Kubernetes ${version} installed in ${binDir} (${got.source}, ${manifest.seconds} s)`);
    return { dir, binDir, source: got.source, seconds: secs(), cached: false };
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
    release();
  }
}

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/**
 * Take ${root}/.lock-<version> (O_EXCL, holding our pid). While a live process holds it, wait,
 * returning 'done' as soon as `isDone()` (the other process installed the version). A lock whose
 * process is gone is taken over.
 */
async function acquireLock(
  root: string, version: string, log: (l: string) => void, signal: AbortSignal | undefined, pollMs: number, isDone: () => boolean,
): Promise<(() => void) | 'done'> {
  const lock = join(root, `.lock-${version}`);
  let told = false;
  for (;;) {
    throwIfAborted(signal);
    try {
      const fh = await open(lock, 'wx');
      await fh.write(String(process.pid));
      await fh.close();
      if (isDone()) { rmSync(lock, { force: true }); return 'done'; }
      return () => {
        try { if (readFileSync(lock, 'utf8') === String(process.pid)) rmSync(lock, { force: true }); } catch { /* gone */ }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let holder = NaN;
    let age = 0;
    try { holder = Number(readFileSync(lock, 'utf8').trim()); age = Date.now() - statSync(lock).mtimeMs; } catch { continue; }
    // a lock without a pid is only being written, unless it is old
    const stale = Number.isInteger(holder) && holder > 0 ? !pidAlive(holder) : age > 10_000;
    if (stale) { rmSync(lock, { force: true }); continue; }
    if (isDone()) return 'done';
    if (!told) { log(`waiting for process ${holder} which is obtaining Kubernetes ${version}`); told = true; }
    await new Promise<void>((res) => {
      const t = setTimeout(res, pollMs);
      signal?.addEventListener('abort', () => { clearTimeout(t); res(); }, { once: true });
    });
  }
}

function statSafe(p: string) {
  try { return statSync(p); } catch { return undefined; }
}

function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new CancelledError('obtaining the Kubernetes binaries');
}

/** Temp/old dirs left by runs that died (their pid is gone). */
function removeStaleTemps(root: string): void {
  let names: string[] = [];
  try { names = readdirSync(root); } catch { return; }
  for (const n of names) {
    const m = /^\.(?:tmp|old)-.+-(\d+)-[^-]+$/.exec(n);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid) continue;
    if (!pidAlive(pid)) rmSync(join(root, n), { recursive: true, force: true });
  }
}

/**
 * Rename the finished temp dir into place; an unusable old dir is moved aside first. False when
 * a complete install appeared meanwhile (then it is kept: running labs may use it).
 */
async function install(tmp: string, dir: string, version: string): Promise<boolean> {
  try {
    await rename(tmp, dir);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
  }
  if (!cacheProblem(dir, version).problem) return false;
  const old = join(dirname(dir), `.old-${version}-${process.pid}-${Date.now()}`);
  await rename(dir, old);
  await rename(tmp, dir);
  await rm(old, { recursive: true, force: true });
  return true;
}

// ---------------------------------------------------------------------------------------------
// 1. Official release download
// ---------------------------------------------------------------------------------------------

type DownloadOutcome = { ok: true; seconds: number } | { ok: false; reason: string };

function describeFetchError(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return err.message || 'timed out';
  return err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e);
}

/** fetch that fails when the server has not answered within `ms`. */
async function fetchWithin(ctx: Ctx, url: string, ms: number): Promise<Response> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new DOMException(`no answer from ${new URL(url).host} within ${ms / 1000} s`, 'TimeoutError')), ms);
  try {
    return await ctx.fetch(url, { signal: ctx.signal ? AbortSignal.any([ac.signal, ctx.signal]) : ac.signal, redirect: 'follow' });
  } finally {
    clearTimeout(timer);
  }
}

async function tryDownload(ctx: Ctx, binDir: string): Promise<DownloadOutcome> {
  const t0 = performance.now();
  const base = `${ctx.downloadBase}/${ctx.version}/bin/linux/${ctx.arch}`;
  ctx.log(`trying the official release: ${base}/`);
  const sums = new Map<K8sComponent, string>();
  try {
    await Promise.all(K8S_COMPONENTS.map(async (c) => {
      const res = await fetchWithin(ctx, `${base}/${c}.sha256`, ctx.connectTimeoutMs);
      if (!res.ok) throw new Error(`${c}.sha256: HTTP ${res.status}`);
      const sum = (await res.text()).trim().split(/\s+/)[0]?.toLowerCase() ?? '';
      if (!/^[0-9a-f]{64}$/.test(sum)) throw new Error(`${c}.sha256 is not a sha256`);
      sums.set(c, sum);
    }));
  } catch (e) {
    throwIfAborted(ctx.signal);
    return { ok: false, reason: describeFetchError(e) };
  }
  for (const c of K8S_COMPONENTS) {
    let got: { sha256: string; bytes: number };
    try {
      got = await downloadTo(ctx, `${base}/${c}`, join(binDir, c));
    } catch (e) {
      throwIfAborted(ctx.signal);
      return { ok: false, reason: `${c}: ${describeFetchError(e)}` };
    }
    if (got.sha256 !== sums.get(c)) {
      throw new HalabError('K8S_DOWNLOAD_CHECKSUM', `downloaded ${c} ${ctx.version} does not match its published sha256`, {
        fix: 'retry; if it persists, something between you and dl.k8s.io alters downloads: build instead (--from build)',
        details: `expected ${sums.get(c)}\ngot      ${got.sha256}`,
      });
    }
    ctx.log(`downloaded ${c} (${(got.bytes / 1e6).toFixed(1)} MB, sha256 ok)`);
  }
  return { ok: true, seconds: Math.round((performance.now() - t0) / 100) / 10 };
}

async function downloadTo(ctx: Ctx, url: string, path: string): Promise<{ sha256: string; bytes: number }> {
  const res = await fetchWithin(ctx, url, ctx.connectTimeoutMs * 2);
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
  const hash = createHash('sha256');
  const fh = await open(path, 'w', 0o755);
  let bytes = 0;
  try {
    const reader = res.body.getReader();
    for (;;) {
      // a stalled transfer (no data for 60 s) counts as unreachable
      let timer: NodeJS.Timeout | undefined;
      const stall = new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new Error('transfer stalled for 60 s')), 60_000); });
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await Promise.race([reader.read(), stall]);
      } catch (e) {
        void reader.cancel().catch(() => {});
        throw e;
      } finally {
        clearTimeout(timer);
      }
      if (chunk.done) break;
      hash.update(chunk.value);
      bytes += chunk.value.byteLength;
      await fh.write(chunk.value);
    }
  } finally {
    await fh.close();
  }
  return { sha256: hash.digest('hex'), bytes };
}

// ---------------------------------------------------------------------------------------------
// 2. Build from the Go module proxy
// ---------------------------------------------------------------------------------------------

function lastLines(lines: string[], n: number): string {
  return lines.slice(-n).join('\n');
}

async function buildFromModules(ctx: Ctx, binDir: string): Promise<Obtained> {
  const { version, log } = ctx;
  const go = ctx.goBinary ?? findGo(ctx.env);
  if (!go) {
    throw new HalabError('GO_MISSING', `building Kubernetes ${version} needs Go, and no go binary was found`, { fix: GO_FIX });
  }
  const goEnv: Env = {
    ...ctx.env,
    CGO_ENABLED: '0',
    GOOS: 'linux',
    GOARCH: ctx.arch,
    GOWORK: 'off',
    GO111MODULE: 'on',
  };
  const run = (args: string[], opts: Omit<RunOptions, 'env' | 'signal'> = {}) =>
    ctx.runner(go, args, { ...opts, env: goEnv, signal: ctx.signal });

  // Toolchain
  const envOut = await run(['env', '-json', 'GOVERSION', 'GOTOOLCHAIN', 'GOPROXY', 'GOMODCACHE', 'GOCACHE']);
  if (envOut.exitCode !== 0) {
    throw new HalabError('GO_BROKEN', `\`${go} env\` failed`, { fix: GO_FIX, details: lastLines(envOut.stderr.split('\n'), 30) });
  }
  const ge = JSON.parse(envOut.stdout) as Record<string, string>;
  const localGo = ge.GOVERSION ?? 'unknown';
  const mv = goMinor(localGo);
  if (!mv || lt(mv, MIN_GO)) {
    throw new HalabError('GO_TOO_OLD', `Go ${localGo} is too old to build Kubernetes ${version}`, { fix: GO_FIX });
  }
  log(`found ${localGo} (${go}); GOPROXY=${ge.GOPROXY}; GOMODCACHE=${ge.GOMODCACHE}; GOCACHE=${ge.GOCACHE}`);
  warnLowDisk(ge.GOCACHE, log);

  // Helper module: first resolve k8s.io/kubernetes itself to read its go.mod
  const t0 = performance.now();
  const modDir = join(kubeRoot(ctx.env), '.gomod', version);
  await mkdir(modDir, { recursive: true });
  await writeFile(join(modDir, 'go.mod'), 'module halab.local/kubernetes-build\n');
  log(`resolving ${KUBERNETES_MODULE}@${version} through the module proxy`);
  const dl = await run(['mod', 'download', '-json', `${KUBERNETES_MODULE}@${version}`], { cwd: modDir });
  let info: { Version?: string; GoMod?: string; Info?: string; Dir?: string; Sum?: string; Error?: string; Origin?: { Hash?: string } } = {};
  try { info = JSON.parse(dl.stdout) as typeof info; } catch { /* reported below */ }
  if (dl.exitCode !== 0 || info.Error || !info.GoMod) {
    const why = info.Error ?? lastLines(dl.stderr.trim().split('\n'), 5);
    const unknown = /not available|unknown revision|invalid version|404|410/.test(why);
    throw new HalabError(unknown ? 'K8S_VERSION_UNAVAILABLE' : 'K8S_MODULE_DOWNLOAD_FAILED',
      unknown ? `the Go module proxy does not serve ${KUBERNETES_MODULE} ${version}`
        : `cannot download ${KUBERNETES_MODULE} ${version} through the Go module proxy (${ge.GOPROXY})`,
      {
        fix: unknown ? 'pin a released version (see https://proxy.golang.org/k8s.io/kubernetes/@v/list)'
          : 'check that the Go module proxy is reachable (GOPROXY), then run again',
        details: why,
      });
  }
  const kubeGoMod = await readFile(info.GoMod, 'utf8');
  let published: Date | undefined;
  if (info.Info) {
    try {
      const t = (JSON.parse(await readFile(info.Info, 'utf8')) as { Time?: string }).Time;
      if (t) published = new Date(t);
    } catch { /* no date: fall back to now */ }
  }
  const helper = renderHelperGoMod(kubeGoMod, version);
  await writeFile(join(modDir, 'go.mod'), helper);
  const needGo = parseGoMod(kubeGoMod).go;
  const need = needGo ? goMinor(`go${needGo}`) : undefined;
  const localTooOld = need !== undefined && lt(mv, need);

  // Toolchain: by default the one upstream builds this release with (.go-version in the module),
  // fetched by go itself through the module proxy: the same compiler on every machine, so the
  // same binaries (-trimpath, fixed stamps). An explicit GOTOOLCHAIN in the environment wins.
  let upstreamGo: string | undefined;
  if (info.Dir) {
    try {
      const v = (await readFile(join(info.Dir, '.go-version'), 'utf8')).trim();
      if (/^\d+\.\d+(\.\d+)?$/.test(v)) upstreamGo = `go${v}`;
    } catch { /* older releases have no .go-version */ }
  }
  if (ctx.env.GOTOOLCHAIN) {
    log(`GOTOOLCHAIN=${ctx.env.GOTOOLCHAIN} from the environment`);
  } else if (ctx.toolchain === 'upstream' && upstreamGo && upstreamGo !== localGo) {
    log(`using ${upstreamGo}, the Go release Kubernetes ${version} is built with upstream (fetched through the module proxy)`);
    const probe = await ctx.runner(go, ['version'], { env: { ...goEnv, GOTOOLCHAIN: upstreamGo }, signal: ctx.signal, cwd: modDir, onStderrLine: log });
    throwIfAborted(ctx.signal);
    if (probe.exitCode === 0) {
      goEnv.GOTOOLCHAIN = upstreamGo;
    } else {
      log(`cannot get ${upstreamGo} (${lastLines(probe.stderr.trim().split('\n'), 1)}): using ${localGo}`);
    }
  } else if (ctx.toolchain === 'local') {
    goEnv.GOTOOLCHAIN = 'local';
  }
  if (!goEnv.GOTOOLCHAIN && !ctx.env.GOTOOLCHAIN) {
    // local Go, or whatever go.mod asks for when it is too old
    goEnv.GOTOOLCHAIN = localTooOld ? 'auto' : 'local';
  }
  const effective = goEnv.GOTOOLCHAIN ?? '';
  if (localTooOld && effective.startsWith('local')) {
    throw new HalabError('GO_TOO_OLD', `Kubernetes ${version} needs Go >= ${needGo}; ${localGo} is installed and GOTOOLCHAIN=local`, {
      fix: `${GO_FIX}, or let halab fetch upstream's toolchain (--toolchain upstream)`,
    });
  }
  if (localTooOld && effective === 'auto') log(`Kubernetes ${version} needs Go >= ${needGo}: go fetches that toolchain through the module proxy`);
  const staging = stagingModules(kubeGoMod);
  log(`helper module ${join(modDir, 'go.mod')}: ${KUBERNETES_MODULE} ${version} + ${staging.length} staging modules at ${stagingVersion(version)}`);

  // Download every module the components need (go list loads them all, and fills go.sum)
  const pkgs = K8S_COMPONENTS.map((c) => K8S_PACKAGES[c]);
  const tail: string[] = [];
  const keep = (line: string) => { tail.push(line); if (tail.length > 200) tail.splice(0, tail.length - 200); };
  let modules = 0;
  const list = await run(['list', '-mod=mod', '-deps', '-f', '{{.ImportPath}}', ...pkgs], {
    cwd: modDir,
    onStderrLine: (l) => { keep(l); if (l.startsWith('go: downloading')) modules++; log(l); },
  });
  if (list.exitCode !== 0) {
    throw new HalabError('K8S_MODULE_DOWNLOAD_FAILED', `resolving the modules of Kubernetes ${version} failed`, {
      fix: 'check that the Go module proxy is reachable (GOPROXY); a missing module or checksum error means the helper go.mod needs another replace (report it)',
      details: lastLines(tail, 30),
    });
  }
  const deps = list.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
  const downloadSeconds = Math.round((performance.now() - t0) / 100) / 10;
  log(`modules ready in ${downloadSeconds} s (${modules} downloaded); ${deps.length} packages to compile`);

  // One go build for all components: shared packages compile once
  const ldflags = versionLdflags({
    version,
    gitCommit: info.Origin?.Hash,
    buildDate: k8sDate(published ?? new Date()),
    packages: VERSION_PACKAGES.filter((p) => deps.includes(p)),
  });
  const t1 = performance.now();
  log(`go build -trimpath (CGO_ENABLED=0) of ${K8S_COMPONENTS.join(', ')}`);
  tail.length = 0;
  const build = await run(['build', '-mod=mod', '-trimpath', '-v', `-ldflags=${ldflags}`, '-o', `${binDir}/`, ...pkgs], {
    cwd: modDir,
    onStderrLine: (l) => { keep(l); log(l); },
  });
  const compileSeconds = Math.round((performance.now() - t1) / 100) / 10;
  if (build.exitCode !== 0) {
    throw new HalabError('K8S_BUILD_FAILED', `go build of Kubernetes ${version} failed (exit ${build.exitCode}) after ${compileSeconds} s`, {
      fix: `the last lines of go's output are below; a missing package or version conflict means ${join(modDir, 'go.mod')} needs another replace; --toolchain local rules out the toolchain`,
      details: lastLines(tail, 30),
    });
  }
  for (const c of K8S_COMPONENTS) {
    if (!statSafe(join(binDir, c))) {
      throw new HalabError('K8S_BUILD_FAILED', `go build finished but produced no ${c}`, { details: lastLines(tail, 30) });
    }
  }
  log(`compiled in ${compileSeconds} s`);
  // The toolchain that actually compiled (GOTOOLCHAIN may have switched)
  const vOut = await run(['version', join(binDir, 'kubectl')]);
  const built = /:\s*(go\S+)/.exec(vOut.stdout)?.[1] ?? localGo;
  return {
    source: 'built',
    goVersion: built,
    downloadSeconds,
    compileSeconds,
    module: { path: KUBERNETES_MODULE, version, sum: info.Sum, stagingVersion: stagingVersion(version) },
  };
}

/** A cold build needs a few GB in GOCACHE/GOMODCACHE: say so before failing midway. */
function warnLowDisk(goCache: string | undefined, log: (l: string) => void): void {
  let p = goCache || homedir();
  for (;;) {
    try {
      const s = statfsSync(p);
      const free = (s.bavail * s.bsize) / 1e9;
      if (free < 6) log(`warning: only ${free.toFixed(1)} GB free under ${p}; a cold Kubernetes build needs about 6 GB`);
      return;
    } catch {
      const up = dirname(p);
      if (up === p) return;
      p = up;
    }
  }
}
