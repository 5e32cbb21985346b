// The artifact cache: ${XDG_CACHE_HOME:-~/.cache}/halab/<name>/<version>/ holds bin/<binary> and
// manifest.json. A version is obtained once (one process at a time: a lock per version; the
// others wait and use its result), into a temp directory, and installed with one rename, so a
// reader sees a complete version or none.
import { mkdir, mkdtemp, rename, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { CancelledError } from '../errors.ts';
import { processAlive, waitForLock } from '../util/lock.ts';
import { cacheProblem, readManifest, sha256File, type ArtifactSource, type Manifest } from './manifest.ts';
import { goArch } from './version.ts';

export type Env = Record<string, string | undefined>;

/** Cache root: $HALAB_CACHE_DIR, else ${XDG_CACHE_HOME:-$HOME/.cache}/halab. */
export function cacheRoot(env: Env = process.env): string {
  if (env.HALAB_CACHE_DIR) return resolve(env.HALAB_CACHE_DIR);
  const xdg =
    env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : join(env.HOME || homedir(), '.cache');
  return join(xdg, 'halab');
}

/** One cached artifact: a set of executables at a pinned version. */
export interface ArtifactSpec {
  /** Folder under the cache root ("kubernetes"); one folder per version below it. */
  name: string;
  version: string;
  /** File names under bin/. */
  binaries: readonly string[];
  /** For messages: "Kubernetes v1.34.4". */
  title: string;
}

/** <cache root>/<name>/<version>: bin/ and manifest.json. */
export function versionDir(a: Pick<ArtifactSpec, 'name' | 'version'>, env: Env = process.env): string {
  return join(cacheRoot(env), a.name, a.version);
}

/** What an obtain function reports about the binaries it put in place (recorded in the manifest). */
export interface Obtained {
  source: ArtifactSource;
  /** The compiling toolchain ("go1.24.12"); null for downloads. */
  goVersion: string | null;
  downloadSeconds?: number;
  compileSeconds?: number;
  module?: Manifest['module'];
}

export interface CacheOptions {
  /** Environment (cache location); defaults to process.env. */
  env?: Env;
  onLog?: (line: string) => void;
  signal?: AbortSignal;
  /** How often to look again while another process holds the version's lock, in ms (default 2000). */
  lockPollMs?: number;
}

export interface EnsureResult {
  /** The version directory: bin/ and manifest.json. */
  dir: string;
  binDir: string;
  source: ArtifactSource;
  /** Wall time of this call, in s. */
  seconds: number;
  /** True when the cache was already complete (or another process completed it) and nothing was obtained. */
  cached: boolean;
}

/** Throw CancelledError when `signal` has aborted. */
export function throwIfCancelled(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new CancelledError(what);
}

/**
 * Make sure version `a.version` of artifact `a` is in the cache: return it when complete and
 * intact, else call `obtain(binDir)` to put every binary of `a.binaries` into a fresh bin/ dir,
 * record the manifest (sha256, size, mtime of each) and install the version atomically. A version
 * being obtained by another process is waited for (lock <cache>/<name>/.lock-<version>).
 *
 * Errors: whatever `obtain` throws (the temp dir is removed); CancelledError when `o.signal`
 * aborts; the filesystem's.
 */
export async function ensureCached(
  a: ArtifactSpec,
  obtain: (binDir: string) => Promise<Obtained>,
  o: CacheOptions = {},
): Promise<EnsureResult> {
  const t0 = performance.now();
  const env = o.env ?? process.env;
  const dir = versionDir(a, env);
  const root = dirname(dir);
  const binDir = join(dir, 'bin');
  const log = o.onLog ?? (() => {});
  const secs = () => Math.round(performance.now() - t0) / 1000;
  const isComplete = () => !cacheProblem(dir, a.version, a.binaries).problem;

  const existing = cacheProblem(dir, a.version, a.binaries);
  if (!existing.problem && existing.manifest) {
    log(`${a.title} is cached in ${binDir} (${existing.manifest.source})`);
    removeStaleTemps(root);
    return { dir, binDir, source: existing.manifest.source, seconds: secs(), cached: true };
  }
  if (statSafe(dir)) log(`cache in ${dir} is not usable (${existing.problem}): obtaining it again`);

  await mkdir(root, { recursive: true });
  const lock = await waitForLock(join(root, `.lock-${a.version}`), {
    what: `obtaining ${a.title}`,
    intervalMs: o.lockPollMs ?? 2000,
    signal: o.signal,
    onWait: (owner) => log(`waiting for process ${owner.pid} which is obtaining ${a.title}`),
    done: isComplete,
  });
  if (lock === 'done') {
    log(`${a.title} was obtained by another process: ${binDir}`);
    return { dir, binDir, source: readManifest(dir)?.source ?? 'built', seconds: secs(), cached: true };
  }
  let tmp: string | undefined;
  try {
    removeStaleTemps(root);
    tmp = await mkdtemp(join(root, `.tmp-${a.version}-${process.pid}-`));
    const tmpBin = join(tmp, 'bin');
    await mkdir(tmpBin);
    const got = await obtain(tmpBin);
    throwIfCancelled(o.signal, `obtaining ${a.title}`);

    const binaries: Manifest['binaries'] = {};
    for (const b of a.binaries) {
      const p = join(tmpBin, b);
      await chmod(p, 0o755);
      const st = await stat(p);
      binaries[b] = { sha256: sha256File(p), size: st.size, mtimeMs: st.mtimeMs };
    }
    const manifest: Manifest = {
      schema: 1,
      version: a.version,
      source: got.source,
      os: 'linux',
      arch: goArch(),
      createdAt: new Date().toISOString(),
      seconds: secs(),
      ...(got.downloadSeconds !== undefined ? { downloadSeconds: got.downloadSeconds } : {}),
      ...(got.compileSeconds !== undefined ? { compileSeconds: got.compileSeconds } : {}),
      goVersion: got.goVersion,
      ...(got.module ? { module: got.module } : {}),
      binaries,
    };
    await writeFile(join(tmp, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    if (!(await install(tmp, dir, isComplete))) {
      log(`another process installed ${a.title} meanwhile: using it (${binDir})`);
      return { dir, binDir, source: readManifest(dir)?.source ?? got.source, seconds: secs(), cached: false };
    }
    log(`${a.title} installed in ${binDir} (${got.source}, ${manifest.seconds} s)`);
    return { dir, binDir, source: got.source, seconds: secs(), cached: false };
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
    await lock.release();
  }
}

function statSafe(p: string) {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

/** Temp/old dirs left by runs that died (their pid is gone). */
function removeStaleTemps(root: string): void {
  let names: string[] = [];
  try {
    names = readdirSync(root);
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^\.(?:tmp|old)-.+-(\d+)-[^-]+$/.exec(n);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid) continue;
    if (!processAlive(pid)) rmSync(join(root, n), { recursive: true, force: true });
  }
}

/**
 * Rename the finished temp dir into place; an unusable old dir is moved aside first. False when
 * a complete install appeared meanwhile (then it is kept: running labs may use it).
 */
async function install(tmp: string, dir: string, isComplete: () => boolean): Promise<boolean> {
  try {
    await rename(tmp, dir);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
  }
  if (isComplete()) return false;
  const old = join(dirname(dir), `.old-${basename(dir)}-${process.pid}-${Date.now()}`);
  await rename(dir, old);
  await rename(tmp, dir);
  await rm(old, { recursive: true, force: true });
  return true;
}
