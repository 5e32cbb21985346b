// Building Go binaries from the Go module proxy at a pinned module version: a generated helper
// module requires the module at that version (carrying the module's own replace and godebug
// lines), `go list` fetches every module the packages need, and ONE `go build -trimpath`
// compiles all of them (shared packages compile once). GOCACHE and GOMODCACHE stay where Go
// keeps them, so a rebuild after a cache wipe is incremental.
//
// ensureGoBinaries is the whole recipe for an artifact: "build these packages of module M@V into
// the cache, with a manifest and a lock". Kubernetes (kubernetes.ts) is its first user.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { HalabError } from '../errors.ts';
import { run, type LocalRunner } from '../exec/local.ts';
import { cacheRoot, ensureCached, type CacheOptions, type EnsureResult, type Env, type Obtained } from './cache.ts';
import { parseGoMod, renderHelperModule } from './gomod.ts';
import { chooseToolchain, openGo } from './go-toolchain.ts';
import { goArch } from './version.ts';

/** What to build. */
export interface GoModuleBuild {
  /** For messages: "Kubernetes v1.34.4". */
  title: string;
  /** Module path, e.g. "k8s.io/kubernetes". */
  module: string;
  /** Its pinned version, e.g. "v1.34.4". */
  version: string;
  /** Import paths of the main packages; each becomes a binary named after the path's last element. */
  packages: readonly string[];
  /** The helper module's directory (kept between builds: its go.sum). */
  modDir: string;
  /** The helper module's path, e.g. "halab.local/kubernetes-build". */
  helperModule: string;
  /** The helper go.mod from the built module's go.mod text (default: gomod.ts renderHelperModule, no extra replaces). */
  helperGoMod?: (moduleGoMod: string) => string;
  /** The -ldflags value (default "-s -w"), given the packages in the build and the release's commit and date. */
  ldflags?: (r: { deps: readonly string[]; commit?: string; published?: Date }) => string;
  /** HalabError code prefix of module and build failures: K8S -> K8S_BUILD_FAILED (default GO_MODULE). */
  codePrefix?: string;
}

export interface GoBuildContext {
  /** The caller's environment (PATH, GOPROXY, GOTOOLCHAIN, ...). */
  env: Env;
  log: (line: string) => void;
  signal?: AbortSignal;
  /** Runs go (tests pass a fake); default exec/local's run. */
  runner: LocalRunner;
  /** Path of go (skips the PATH lookup). */
  goBinary?: string;
  /** upstream: compile with the Go release of the module's .go-version (fetched by go); local: the installed Go. */
  toolchain: 'upstream' | 'local';
}

/** The binary `go build -o dir/` makes of a main package: its last path element. */
export function binaryName(pkg: string): string {
  return pkg.split('/').pop() ?? pkg;
}

const lastLines = (lines: string[], n: number) => lines.slice(-n).join('\n');
const tenths = (ms: number) => Math.round(ms / 100) / 10;

/** The module proxy's answer to `go mod download -json module@version`. */
interface ModuleInfo {
  GoMod?: string;
  Info?: string;
  Dir?: string;
  Sum?: string;
  Error?: string;
  Origin?: { Hash?: string };
}

/**
 * Build every package of `b` into `binDir` (see the file comment).
 *
 * Errors (HalabError): GO_MISSING / GO_BROKEN / GO_TOO_OLD (the toolchain);
 * <prefix>_VERSION_UNAVAILABLE (the proxy does not serve that version);
 * <prefix>_MODULE_DOWNLOAD_FAILED (the proxy is unreachable or a module is missing);
 * <prefix>_BUILD_FAILED (go build failed: the last 30 lines of its output as details);
 * CANCELLED when `ctx.signal` aborts.
 */
export async function buildGoModule(b: GoModuleBuild, binDir: string, ctx: GoBuildContext): Promise<Obtained> {
  const P = b.codePrefix ?? 'GO_MODULE';
  const { log } = ctx;
  const go = await openGo({ ...ctx, arch: goArch(), title: b.title });

  // Resolve the module itself first, to read its go.mod
  const t0 = performance.now();
  await mkdir(b.modDir, { recursive: true });
  await writeFile(join(b.modDir, 'go.mod'), `module ${b.helperModule}\n`);
  log(`resolving ${b.module}@${b.version} through the module proxy`);
  const dl = await go.run(['mod', 'download', '-json', `${b.module}@${b.version}`], { cwd: b.modDir });
  let info: ModuleInfo = {};
  try {
    info = JSON.parse(dl.stdout) as ModuleInfo;
  } catch {
    /* reported below */
  }
  if (dl.exitCode !== 0 || info.Error || !info.GoMod) {
    const why = info.Error ?? lastLines(dl.stderr.trim().split('\n'), 5);
    const unknown = /not available|unknown revision|invalid version|404|410/.test(why);
    const listUrl = `https://proxy.golang.org/${b.module.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`)}/@v/list`;
    throw new HalabError(
      unknown ? `${P}_VERSION_UNAVAILABLE` : `${P}_MODULE_DOWNLOAD_FAILED`,
      unknown
        ? `the Go module proxy does not serve ${b.module} ${b.version}`
        : `cannot download ${b.module} ${b.version} through the Go module proxy (${go.proxy})`,
      {
        fix: unknown
          ? `pin a released version (see ${listUrl})`
          : 'check that the Go module proxy is reachable (GOPROXY), then run again',
        details: why,
      },
    );
  }
  const moduleGoMod = await readFile(info.GoMod, 'utf8');
  let published: Date | undefined;
  try {
    const t = info.Info ? (JSON.parse(await readFile(info.Info, 'utf8')) as { Time?: string }).Time : undefined;
    if (t) published = new Date(t);
  } catch {
    /* no date: the ldflags fall back to now */
  }
  const helper = b.helperGoMod?.(moduleGoMod) ?? renderHelperModule({ ...b, moduleGoMod });
  await writeFile(join(b.modDir, 'go.mod'), helper);
  log(`helper module ${join(b.modDir, 'go.mod')} requires ${b.module} ${b.version}`);

  // The compiler: by default the one upstream builds this release with (.go-version in the
  // module), fetched by go through the proxy: the same compiler, so the same binaries, everywhere.
  let upstreamGo: string | undefined;
  try {
    const v = info.Dir ? (await readFile(join(info.Dir, '.go-version'), 'utf8')).trim() : '';
    if (/^\d+\.\d+(\.\d+)?$/.test(v)) upstreamGo = `go${v}`;
  } catch {
    /* older releases have no .go-version */
  }
  const needGo = parseGoMod(moduleGoMod).go;
  await chooseToolchain(go, { ...ctx, upstreamGo, needGo, userEnv: ctx.env, cwd: b.modDir, title: b.title });

  // Download every module the packages need (go list loads them all, and fills go.sum)
  const tail: string[] = [];
  const keep = (line: string) => {
    tail.push(line);
    if (tail.length > 200) tail.splice(0, tail.length - 200);
  };
  let modules = 0;
  const list = await go.run(['list', '-mod=mod', '-deps', '-f', '{{.ImportPath}}', ...b.packages], {
    cwd: b.modDir,
    onStderrLine: (l) => {
      keep(l);
      if (l.startsWith('go: downloading')) modules++;
      log(l);
    },
  });
  if (list.exitCode !== 0) {
    throw new HalabError(`${P}_MODULE_DOWNLOAD_FAILED`, `resolving the modules of ${b.title} failed`, {
      fix: 'check that the Go module proxy is reachable (GOPROXY); a missing module or checksum error means the helper go.mod needs another replace (report it)',
      details: lastLines(tail, 30),
    });
  }
  const deps = list.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
  const downloadSeconds = tenths(performance.now() - t0);
  log(`modules ready in ${downloadSeconds} s (${modules} downloaded); ${deps.length} packages to compile`);

  // One go build for all packages
  const ldflags = b.ldflags?.({ deps, commit: info.Origin?.Hash, published }) ?? '-s -w';
  const names = b.packages.map(binaryName);
  const t1 = performance.now();
  log(`go build -trimpath (CGO_ENABLED=0) of ${names.join(', ')}`);
  tail.length = 0;
  const build = await go.run(
    ['build', '-mod=mod', '-trimpath', '-v', `-ldflags=${ldflags}`, '-o', `${binDir}/`, ...b.packages],
    {
      cwd: b.modDir,
      onStderrLine: (l) => {
        keep(l);
        log(l);
      },
    },
  );
  const compileSeconds = tenths(performance.now() - t1);
  if (build.exitCode !== 0) {
    throw new HalabError(
      `${P}_BUILD_FAILED`,
      `go build of ${b.title} failed (exit ${build.exitCode}) after ${compileSeconds} s`,
      {
        fix: `the last lines of go's output are below; a missing package or version conflict means ${join(b.modDir, 'go.mod')} needs another replace; --toolchain local rules out the toolchain`,
        details: lastLines(tail, 30),
      },
    );
  }
  for (const n of names) {
    if (!statSync(join(binDir, n), { throwIfNoEntry: false })) {
      throw new HalabError(`${P}_BUILD_FAILED`, `go build finished but produced no ${n}`, {
        details: lastLines(tail, 30),
      });
    }
  }
  log(`compiled in ${compileSeconds} s`);
  // The toolchain that actually compiled (GOTOOLCHAIN may have switched)
  const vOut = await go.run(['version', join(binDir, names[0] ?? '')]);
  return {
    source: 'built',
    goVersion: /:\s*(go\S+)/.exec(vOut.stdout)?.[1] ?? go.version,
    downloadSeconds,
    compileSeconds,
    module: { path: b.module, version: b.version, ...(info.Sum ? { sum: info.Sum } : {}) },
  };
}

/** A Go-built artifact: the packages of one module at one version, cached under <cache>/<name>/<version>. */
export interface GoArtifact extends Pick<GoModuleBuild, 'module' | 'version' | 'packages' | 'ldflags' | 'codePrefix'> {
  /** Cache folder, e.g. "containerd". */
  name: string;
  /** For messages (default "<module> <version>"). */
  title?: string;
}

export interface GoArtifactOptions extends CacheOptions {
  runner?: LocalRunner;
  goBinary?: string;
  toolchain?: 'upstream' | 'local';
}

/** Where the helper module of an artifact version lives: <cache>/<name>/.gomod/<version>. */
export function goModDir(name: string, version: string, env: Env = process.env): string {
  return join(cacheRoot(env), name, '.gomod', version);
}

/**
 * Build the packages of `a.module@a.version` into the cache (bin/<last path element> each, a
 * manifest, one process at a time), or return the cached build. Resolves with where they are.
 *
 * Errors: HalabError BAD_VERSION for a version that is not a Go module version; those of
 * buildGoModule and ensureCached.
 */
export async function ensureGoBinaries(a: GoArtifact, o: GoArtifactOptions = {}): Promise<EnsureResult> {
  if (!/^v\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)*$/.test(a.version)) {
    throw new HalabError('BAD_VERSION', `"${a.version}" is not a Go module version of ${a.module}`, {
      fix: 'pin a released version such as v1.2.3',
    });
  }
  const env = o.env ?? process.env;
  const title = a.title ?? `${a.module} ${a.version}`;
  const build: GoModuleBuild = {
    ...a,
    title,
    modDir: goModDir(a.name, a.version, env),
    helperModule: `halab.local/${a.name}-build`,
  };
  const ctx: GoBuildContext = {
    env,
    log: o.onLog ?? (() => {}),
    signal: o.signal,
    runner: o.runner ?? run,
    goBinary: o.goBinary,
    toolchain: o.toolchain ?? 'upstream',
  };
  const spec = { name: a.name, version: a.version, binaries: a.packages.map(binaryName), title };
  return ensureCached(spec, (binDir) => buildGoModule(build, binDir, ctx), o);
}
