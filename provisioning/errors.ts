import type { ErrorInfo } from './api/types.ts';

/**
 * Every error the engine raises on purpose: a stable code, a message naming the cause,
 * and the fix. The CLI and the UI print these; they never print a stack trace.
 */
export class HalabError extends Error {
  readonly code: string;
  readonly fix?: string;
  readonly details?: string;
  constructor(code: string, message: string, opts: { fix?: string; details?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'HalabError';
    this.code = code;
    this.fix = opts.fix;
    this.details = opts.details;
  }
}

/** A command (local or remote) that exited non-zero, timed out or was cancelled. */
export class CommandError extends HalabError {
  readonly command: string;
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly host?: string;
  constructor(o: {
    command: string;
    exitCode: number | null;
    stdout: string;
    stderr: string;
    host?: string;
    reason?: 'exit' | 'timeout' | 'cancelled' | 'signal';
    signal?: string;
    fix?: string;
  }) {
    const where = o.host ? ` on ${o.host}` : '';
    const why =
      o.reason === 'timeout'
        ? 'timed out'
        : o.reason === 'cancelled'
          ? 'was cancelled'
          : o.reason === 'signal'
            ? `was killed by ${o.signal ?? 'a signal'}`
            : `exited with code ${o.exitCode}`;
    const out = tail(`${o.stderr}\n${o.stdout}`.trim(), 20);
    super(
      o.reason === 'timeout' ? 'COMMAND_TIMEOUT' : o.reason === 'cancelled' ? 'CANCELLED' : 'COMMAND_FAILED',
      `\`${shorten(o.command)}\`${where} ${why}`,
      { fix: o.fix, details: out || undefined },
    );
    this.name = 'CommandError';
    this.command = o.command;
    this.exitCode = o.exitCode;
    this.stdout = o.stdout;
    this.stderr = o.stderr;
    this.host = o.host;
  }
}

export class CancelledError extends HalabError {
  constructor(what = 'operation') {
    super('CANCELLED', `${what} was cancelled`);
    this.name = 'CancelledError';
  }
}

export function tail(text: string, lines: number): string {
  const all = text.split('\n');
  return all.slice(Math.max(0, all.length - lines)).join('\n');
}

function shorten(cmd: string): string {
  const one = cmd.replace(/\s+/g, ' ').trim();
  return one.length > 160 ? `${one.slice(0, 157)}...` : one;
}

/** Turn anything thrown into the boundary shape. Unknown errors keep their message, not their stack. */
export function toErrorInfo(err: unknown): ErrorInfo {
  if (err instanceof HalabError) {
    return { code: err.code, message: err.message, fix: err.fix, details: err.details };
  }
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return { code: typeof code === 'string' ? code : 'INTERNAL', message: err.message };
  }
  return { code: 'INTERNAL', message: String(err) };
}

export function isCancelled(err: unknown): boolean {
  return err instanceof HalabError && err.code === 'CANCELLED';
}
