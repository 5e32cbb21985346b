// The Go toolchain a build uses: finding `go`, checking it, and choosing the compiler (the release
// upstream builds a module with, fetched by go through the module proxy; or the installed one).
import { statSync, statfsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { CommandError, HalabError, isCancelled } from '../errors.ts';
import type { LocalRunner } from '../exec/local.ts';
import type { ExecResult } from '../exec/types.ts';
import type { Env } from './cache.ts';
import { isExecutable } from './manifest.ts';
import { goMinor, olderThan } from './version.ts';

export const GO_FIX = 'apt-get install golang-go or install Go >= 1.24 from https://go.dev/dl (and put it on PATH)';
/** Oldest Go that can build (it switches to the toolchain the go.mod asks for through the proxy). */
const MIN_GO: [number, number] = [1, 21];

/** `go` on PATH, else the usual install locations; undefined when there is none. */
export function findGo(env: Env = process.env): string | undefined {
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  const candidates = [...dirs.map((d) => join(d, 'go')), '/usr/local/go/bin/go', '/usr/lib/go/bin/go'];
  return candidates.find((p) => {
    try {
      return statSync(p).isFile() && isExecutable(p);
    } catch {
      return false;
    }
  });
}

/** A checked `go` and the environment every go command of one build runs with. */
export interface GoTool {
  /** Path of the go binary. */
  path: string;
  /** The installed Go ("go1.26.8"). */
  version: string;
  /** The child's whole environment: the caller's, plus CGO_ENABLED=0, GOOS, GOARCH, GOWORK=off (and GOTOOLCHAIN once chosen). */
  env: Env;
  proxy?: string;
  modCache?: string;
  cache?: string;
  /**
   * Run `go args...`: the result even for a non-zero exit; a death by signal is exit code 128
   * with the reason in stderr; `onStderrLine` gets go's progress and errors as they come.
   * Errors: CANCELLED when the build's signal aborts; GO_MISSING when go cannot be started.
   */
  run(args: string[], o?: { cwd?: string; env?: Env; onStderrLine?: (line: string) => void }): Promise<ExecResult>;
}

export interface OpenGoOptions {
  /** Path of go (skips the PATH lookup). */
  goBinary?: string;
  /** The caller's environment (PATH, GOPROXY, GOTOOLCHAIN...). */
  env: Env;
  /** GOARCH to build for. */
  arch: string;
  runner: LocalRunner;
  signal?: AbortSignal;
  log: (line: string) => void;
  /** For messages: "Kubernetes v1.34.4". */
  title: string;
}

/**
 * Find and check go (`go env`), and say where its caches are.
 *
 * Errors: HalabError GO_MISSING (no go), GO_BROKEN (`go env` fails), GO_TOO_OLD (older than 1.21),
 * each with the fix GO_FIX.
 */
export async function openGo(o: OpenGoOptions): Promise<GoTool> {
  const path = o.goBinary ?? findGo(o.env);
  if (!path) {
    throw new HalabError('GO_MISSING', `building ${o.title} needs Go, and no go binary was found`, { fix: GO_FIX });
  }
  const env: Env = { ...o.env, CGO_ENABLED: '0', GOOS: 'linux', GOARCH: o.arch, GOWORK: 'off', GO111MODULE: 'on' };
  const run: GoTool['run'] = async (args, ro = {}) => {
    const cb = ro.onStderrLine;
    try {
      return await o.runner(path, args, {
        cwd: ro.cwd,
        env: ro.env ?? env,
        extendEnv: false,
        signal: o.signal,
        allowFail: true,
        onLine: cb ? (line, stream) => stream === 'stderr' && cb(line) : undefined,
      });
    } catch (err) {
      if (err instanceof HalabError && err.code === 'TOOL_MISSING') {
        throw new HalabError('GO_MISSING', `${path} is not installed`, { fix: GO_FIX });
      }
      if (err instanceof CommandError && !isCancelled(err) && err.exitCode === null) {
        // killed (the OOM killer, say): a failed command whose output says why
        return {
          command: err.command,
          exitCode: 128,
          stdout: err.stdout,
          stderr: `${err.stderr}\n${err.message}`,
          durationMs: 0,
        };
      }
      throw err;
    }
  };
  const out = await run(['env', '-json', 'GOVERSION', 'GOTOOLCHAIN', 'GOPROXY', 'GOMODCACHE', 'GOCACHE']);
  if (out.exitCode !== 0) {
    throw new HalabError('GO_BROKEN', `\`${path} env\` failed`, {
      fix: GO_FIX,
      details: out.stderr.trim().split('\n').slice(-30).join('\n'),
    });
  }
  const ge = JSON.parse(out.stdout) as Record<string, string>;
  const version = ge.GOVERSION ?? 'unknown';
  const mv = goMinor(version);
  if (!mv || olderThan(mv, MIN_GO)) {
    throw new HalabError('GO_TOO_OLD', `Go ${version} is too old to build ${o.title}`, { fix: GO_FIX });
  }
  o.log(`found ${version} (${path}); GOPROXY=${ge.GOPROXY}; GOMODCACHE=${ge.GOMODCACHE}; GOCACHE=${ge.GOCACHE}`);
  warnLowDisk(ge.GOCACHE, o.log, o.title);
  return { path, version, env, proxy: ge.GOPROXY, modCache: ge.GOMODCACHE, cache: ge.GOCACHE, run };
}

export interface ToolchainChoice {
  /** upstream: the module's own Go release (`upstreamGo`), fetched by go; local: the installed one. */
  toolchain: 'upstream' | 'local';
  /** The Go release upstream builds this version with ("go1.24.12", from its .go-version), if known. */
  upstreamGo?: string;
  /** The `go` line of the module's go.mod ("1.24.0"), if any. */
  needGo?: string;
  /** The caller's environment: a GOTOOLCHAIN there wins over everything. */
  userEnv: Env;
  /** Where to probe (a directory with a go.mod). */
  cwd: string;
  title: string;
  log: (line: string) => void;
}

/**
 * Set `go.env.GOTOOLCHAIN` for the build: the caller's GOTOOLCHAIN if set; else upstream's
 * release when asked for and go can fetch it (else the installed Go, said in the log); else the
 * installed Go, or `auto` (go fetches what go.mod asks for) when the installed Go is too old.
 *
 * Errors: HalabError GO_TOO_OLD when the module needs a newer Go and GOTOOLCHAIN=local forbids
 * fetching it; CANCELLED.
 */
export async function chooseToolchain(go: GoTool, c: ToolchainChoice): Promise<void> {
  const need = c.needGo ? goMinor(`go${c.needGo}`) : undefined;
  const local = goMinor(go.version);
  const localTooOld = need !== undefined && local !== undefined && olderThan(local, need);
  if (c.userEnv.GOTOOLCHAIN) {
    c.log(`GOTOOLCHAIN=${c.userEnv.GOTOOLCHAIN} from the environment`);
  } else if (c.toolchain === 'upstream' && c.upstreamGo && c.upstreamGo !== go.version) {
    c.log(`using ${c.upstreamGo}, the Go release ${c.title} is built with upstream (fetched through the module proxy)`);
    const probe = await go.run(['version'], {
      cwd: c.cwd,
      env: { ...go.env, GOTOOLCHAIN: c.upstreamGo },
      onStderrLine: c.log,
    });
    if (probe.exitCode === 0) go.env.GOTOOLCHAIN = c.upstreamGo;
    else c.log(`cannot get ${c.upstreamGo} (${probe.stderr.trim().split('\n').at(-1)}): using ${go.version}`);
  } else if (c.toolchain === 'local') {
    go.env.GOTOOLCHAIN = 'local';
  }
  if (!go.env.GOTOOLCHAIN) go.env.GOTOOLCHAIN = localTooOld ? 'auto' : 'local';
  const effective = go.env.GOTOOLCHAIN ?? '';
  if (localTooOld && effective.startsWith('local')) {
    throw new HalabError(
      'GO_TOO_OLD',
      `${c.title} needs Go >= ${c.needGo}; ${go.version} is installed and GOTOOLCHAIN=local`,
      { fix: `${GO_FIX}, or let halab fetch upstream's toolchain (--toolchain upstream)` },
    );
  }
  if (localTooOld && effective === 'auto')
    c.log(`${c.title} needs Go >= ${c.needGo}: go fetches that toolchain through the module proxy`);
}

/** A cold build needs a few GB in GOCACHE/GOMODCACHE: say so before failing midway. */
function warnLowDisk(goCache: string | undefined, log: (l: string) => void, title: string): void {
  let p = goCache || homedir();
  for (;;) {
    try {
      const s = statfsSync(p);
      const free = (s.bavail * s.bsize) / 1e9;
      if (free < 6) log(`warning: only ${free.toFixed(1)} GB free under ${p}; a cold build of ${title} may need 6 GB`);
      return;
    } catch {
      const up = dirname(p);
      if (up === p) return;
      p = up;
    }
  }
}
