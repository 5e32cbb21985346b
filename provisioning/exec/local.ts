import { execa, type ResultPromise } from 'execa';
import { CommandError, HalabError } from '../errors.ts';
import type { ExecOptions, ExecResult } from './types.ts';
import { shjoin } from './types.ts';

/** What `run` accepts on top of every runner's options. */
export interface LocalRunOptions extends ExecOptions {
  /** Environment variables for the child: added to this process's, or its whole environment with extendEnv: false. */
  env?: Record<string, string | undefined>;
  /** Default true: `env` adds to this process's environment; false: `env` is all the child gets. */
  extendEnv?: boolean;
  /** Working directory of the child (default: this process's). */
  cwd?: string;
}

/** The shape of `run`, for code that takes a runner it can be given a fake of in tests. */
export type LocalRunner = (file: string, args: string[], opts?: LocalRunOptions) => Promise<ExecResult>;

/**
 * Run a local program (never through a shell) and collect its output; `onLine` also streams it
 * line by line as it arrives.
 *
 * Errors: CommandError (command, exit code, output) for a non-zero exit unless `allowFail`, and
 * always for a timeout (COMMAND_TIMEOUT), a cancel (CANCELLED) or a death by signal (exitCode
 * null); HalabError TOOL_MISSING when the program does not exist.
 */
export async function run(file: string, args: string[], opts: LocalRunOptions = {}): Promise<ExecResult> {
  const command = shjoin([file, ...args]);
  const t0 = Date.now();
  let child: ResultPromise;
  try {
    child = execa(file, args, {
      input: opts.input,
      timeout: opts.timeoutMs,
      cancelSignal: opts.signal,
      reject: false,
      stripFinalNewline: false,
      env: opts.env,
      extendEnv: opts.extendEnv ?? true,
      cwd: opts.cwd,
      // the lab's daemons are started elsewhere; commands here are short-lived
      stdin: opts.input === undefined ? 'ignore' : 'pipe',
    });
  } catch (err) {
    throw new HalabError('COMMAND_FAILED', `could not start ${file}: ${(err as Error).message}`);
  }
  if (opts.onLine) {
    const cb = opts.onLine;
    for (const [stream, name] of [
      [child.stdout, 'stdout'],
      [child.stderr, 'stderr'],
    ] as const) {
      let buf = '';
      stream?.on('data', (d: Buffer) => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          cb(buf.slice(0, i), name);
          buf = buf.slice(i + 1);
        }
      });
      stream?.on('end', () => {
        if (buf) cb(buf, name);
      });
    }
  }
  const r = await child;
  const stdout = String(r.stdout ?? '');
  const stderr = String(r.stderr ?? '');
  if ((r as { code?: string }).code === 'ENOENT') {
    throw new HalabError('TOOL_MISSING', `${file} is not installed`, {
      fix: 'run `halab doctor` to see what to install',
    });
  }
  const result: ExecResult = { command, exitCode: r.exitCode ?? -1, stdout, stderr, durationMs: Date.now() - t0 };
  if (r.isCanceled) throw new CommandError({ command, exitCode: null, stdout, stderr, reason: 'cancelled' });
  if (r.timedOut) throw new CommandError({ command, exitCode: null, stdout, stderr, reason: 'timeout' });
  if (r.exitCode === undefined) {
    throw new CommandError({ command, exitCode: null, stdout, stderr, reason: 'signal', signal: r.signal });
  }
  if (r.exitCode !== 0 && !opts.allowFail) {
    throw new CommandError({ command, exitCode: r.exitCode, stdout, stderr });
  }
  return result;
}

/** Run and return trimmed stdout. */
export async function out(file: string, args: string[], opts: ExecOptions = {}): Promise<string> {
  return (await run(file, args, opts)).stdout.trim();
}

/** True when the program exits 0 (never throws for a non-zero exit). */
export async function ok(file: string, args: string[], opts: ExecOptions = {}): Promise<boolean> {
  try {
    return (await run(file, args, { ...opts, allowFail: true })).exitCode === 0;
  } catch {
    return false;
  }
}
