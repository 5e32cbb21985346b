import { execa, type ResultPromise } from 'execa';
import { CommandError, HalabError } from '../errors.ts';
import type { ExecOptions, ExecResult } from './types.ts';
import { shjoin } from './types.ts';

/**
 * Run a local program (never through a shell). Non-zero exit -> CommandError with the command,
 * exit code and output, unless allowFail.
 */
export async function run(file: string, args: string[], opts: ExecOptions & { env?: Record<string, string> } = {}): Promise<ExecResult> {
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
      // the lab's daemons are started elsewhere; commands here are short-lived
      stdin: opts.input === undefined ? 'ignore' : 'pipe',
    });
  } catch (err) {
    throw new HalabError('COMMAND_FAILED', `could not start ${file}: ${(err as Error).message}`);
  }
  if (opts.onLine) {
    const cb = opts.onLine;
    for (const [stream, name] of [[child.stdout, 'stdout'], [child.stderr, 'stderr']] as const) {
      let buf = '';
      stream?.on('data', (d: Buffer) => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf('\n')) >= 0) { cb(buf.slice(0, i), name); buf = buf.slice(i + 1); }
      });
      stream?.on('end', () => { if (buf) cb(buf, name); });
    }
  }
  const r = await child;
  const stdout = String(r.stdout ?? '');
  const stderr = String(r.stderr ?? '');
  if ((r as { code?: string }).code === 'ENOENT') {
    throw new HalabError('TOOL_MISSING', `${file} is not installed`, { fix: 'run `halab doctor` to see what to install' });
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
