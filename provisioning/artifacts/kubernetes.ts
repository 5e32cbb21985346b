// Kubernetes binaries at one pinned version, obtained the same way on every machine:
//   1. the official release (dl.k8s.io, each binary checked against its published sha256), or,
//      when that is unreachable,
//   2. a build from the Go module proxy (go-build.ts, with the Kubernetes specifics of
//      kubernetes-build.ts): ONE `go build` compiles all components, stamped with the version.
// Cached per version under ${XDG_CACHE_HOME:-~/.cache}/halab/kubernetes/<version>/ (bin/<component>
// + manifest.json), installed atomically, one process at a time (cache.ts).
import { join } from 'node:path';
import { HalabError } from '../errors.ts';
import { run, type LocalRunner } from '../exec/local.ts';
import { ensureCached, versionDir, type CacheOptions, type Env, type EnsureResult, type Obtained } from './cache.ts';
import { downloadVerified } from './download.ts';
import { buildGoModule, goModDir } from './go-build.ts';
import { K8S_COMPONENTS, kubernetesGoBuild, type K8sComponent } from './kubernetes-build.ts';
import { checkBinaries, type BinaryCheck } from './manifest.ts';
import { goArch, KUBERNETES_VERSION, parseVersion, stagingVersion } from './version.ts';

export { cacheRoot, type EnsureResult } from './cache.ts';
export { K8S_COMPONENTS, K8S_PACKAGES, KUBERNETES_MODULE, type K8sComponent } from './kubernetes-build.ts';
export type { ArtifactSource, Manifest } from './manifest.ts';
export { KUBERNETES_VERSION, parseVersion } from './version.ts';

export const DEFAULT_DOWNLOAD_BASE = 'https://dl.k8s.io/release';
const NAME = 'kubernetes';

/**
 * Directory of one version: bin/<component> and manifest.json, under the cache root.
 * Errors: HalabError K8S_BAD_VERSION for a version that is not vX.Y.Z[-pre].
 */
export function artifactDir(version: string = KUBERNETES_VERSION, env: Env = process.env): string {
  parseVersion(version);
  return versionDir({ name: NAME, version }, env);
}

/** Path of one component's binary in the cache (whether or not it is there). Errors: as artifactDir. */
export function binaryPath(
  component: K8sComponent,
  version: string = KUBERNETES_VERSION,
  env: Env = process.env,
): string {
  return join(artifactDir(version, env), 'bin', component);
}

export type ArtifactCheck = BinaryCheck<K8sComponent>;

export interface CheckOptions {
  env?: Env;
  /**
   * Hash every binary even when size and mtime are as installed (about 3 s for the ~570 MB on a
   * CPU without SHA extensions). Without it only changed files are hashed, so a file rewritten
   * in place is always caught, silent bit rot only with deep.
   */
  deep?: boolean;
}

/**
 * Check every binary of a version against its manifest.json: for `halab doctor`. A binary is ok
 * only if present, executable and byte-identical to what was installed (see CheckOptions.deep).
 * One entry per component, in K8S_COMPONENTS order. Errors: as artifactDir.
 */
export function checkArtifacts(version: string = KUBERNETES_VERSION, opts: CheckOptions = {}): ArtifactCheck[] {
  return checkBinaries(artifactDir(version, opts.env), version, K8S_COMPONENTS, opts.deep ?? false);
}

export interface EnsureOptions extends CacheOptions {
  version?: string;
  /** auto: official download, then build; download/build: only that way. */
  from?: 'auto' | 'download' | 'build';
  /** Runs go (tests pass a fake); default exec/local's run. */
  runner?: LocalRunner;
  fetch?: typeof globalThis.fetch;
  /** Path of the go binary (skips the PATH lookup). */
  goBinary?: string;
  /**
   * upstream (default): compile with the Go release upstream uses for this Kubernetes version
   * (its .go-version), which go fetches through the module proxy; local: the installed Go.
   */
  toolchain?: 'upstream' | 'local';
  /** Base URL of the official releases (default DEFAULT_DOWNLOAD_BASE). */
  downloadBase?: string;
  /** Time allowed for the download server to answer, in ms (default 5000). */
  connectTimeoutMs?: number;
}

/**
 * Make sure every component of Kubernetes `opts.version` (default KUBERNETES_VERSION) is in the
 * cache: a complete cache returns at once (`cached: true`, well under a second); else the
 * official release is downloaded or, where it cannot be, built from the Go module proxy (minutes).
 *
 * Errors (HalabError): K8S_BAD_VERSION; K8S_DOWNLOAD_FAILED (`from: 'download'` and unreachable);
 * K8S_DOWNLOAD_CHECKSUM; GO_MISSING / GO_BROKEN / GO_TOO_OLD; K8S_VERSION_UNAVAILABLE;
 * K8S_MODULE_DOWNLOAD_FAILED; K8S_BUILD_FAILED; CANCELLED.
 */
export async function ensureArtifacts(opts: EnsureOptions = {}): Promise<EnsureResult> {
  const version = opts.version ?? KUBERNETES_VERSION;
  parseVersion(version);
  const env = opts.env ?? process.env;
  const log = opts.onLog ?? (() => {});
  const title = `Kubernetes ${version}`;
  const from = opts.from ?? 'auto';
  const base = (opts.downloadBase ?? DEFAULT_DOWNLOAD_BASE).replace(/\/+$/, '');

  const obtain = async (binDir: string): Promise<Obtained> => {
    if (from !== 'build') {
      const url = `${base}/${version}/bin/linux/${goArch()}`;
      log(`trying the official release: ${url}/`);
      const d = await downloadVerified(
        K8S_COMPONENTS.map((c) => ({ name: c, url: `${url}/${c}`, sha256Url: `${url}/${c}.sha256` })),
        binDir,
        {
          fetch: opts.fetch ?? globalThis.fetch,
          signal: opts.signal,
          connectTimeoutMs: opts.connectTimeoutMs ?? 5000,
          log,
          title,
          codePrefix: 'K8S',
        },
      );
      if (d.ok) return { source: 'download', goVersion: null, downloadSeconds: d.seconds };
      if (from === 'download') {
        throw new HalabError('K8S_DOWNLOAD_FAILED', `cannot download ${title} from ${base}: ${d.reason}`, {
          fix: 'check the network, or build from the Go module proxy (--from build)',
        });
      }
      log(`official download unavailable (${d.reason}): building from the Go module proxy`);
    }
    const built = await buildGoModule(kubernetesGoBuild(version, goModDir(NAME, version, env)), binDir, {
      env,
      log,
      signal: opts.signal,
      runner: opts.runner ?? run,
      goBinary: opts.goBinary,
      toolchain: opts.toolchain ?? 'upstream',
    });
    return { ...built, module: built.module && { ...built.module, stagingVersion: stagingVersion(version) } };
  };
  return ensureCached({ name: NAME, version, binaries: K8S_COMPONENTS, title }, obtain, { ...opts, env });
}
