/** What every command runner (local execa, remote ssh2) accepts and returns. */
export interface ExecOptions {
  /** Bytes or text written to the command's stdin. */
  input?: string | Buffer;
  /** Kill the command (and fail) after this long. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Streamed output, line by line, as it arrives. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Return a non-zero exit instead of throwing (the caller inspects exitCode). */
  allowFail?: boolean;
}

export interface ExecResult {
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** A host the engine can drive: commands and file uploads. */
export interface Remote {
  readonly host: string;
  /** Run a shell command line on the host (bash -c semantics on the remote side). */
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  /** Write a file atomically (temp + rename) with the given mode. */
  upload(remotePath: string, content: string | Buffer, mode?: number): Promise<void>;
  close(): Promise<void>;
}

/** Quote one argument for a POSIX shell. */
export function shq(s: string | number): string {
  const v = String(s);
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}

export function shjoin(args: (string | number)[]): string {
  return args.map(shq).join(' ');
}
