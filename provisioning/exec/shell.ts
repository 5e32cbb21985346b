import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClientChannel } from 'ssh2';
import type { LabState } from '../api/types.ts';
import { HalabError } from '../errors.ts';
import { connectSsh, type SshTarget } from './ssh-connect.ts';

/** An interactive shell on a lab host (a PTY over ssh2): used by `halab ssh` and the UI terminal. */
export interface ShellSession {
  write(data: string | Buffer): void;
  resize(cols: number, rows: number): void;
  onData(cb: (d: Buffer) => void): void;
  /** The shell ended (its exit code; 0 when unknown, e.g. the connection was lost). */
  onExit(cb: (code: number) => void): void;
  close(): void;
}

/**
 * A shell on `host` of an open lab, over its own SSH connection (the lab key, the pinned host
 * key). Errors: NO_HOST (no such host, or not made yet), and those of openShellTo.
 */
export async function openShell(
  lab: { state: LabState; dir: string },
  host: string,
  pty: { cols: number; rows: number; term?: string },
): Promise<ShellSession> {
  const hs = lab.state.hosts[host];
  if (!hs?.hostKey)
    throw new HalabError('NO_HOST', `lab ${lab.state.name} has no host ${host}`, {
      fix: `hosts: ${Object.keys(lab.state.hosts).join(', ')}`,
    });
  return openShellTo(
    {
      host,
      address: hs.ssh?.address ?? hs.address,
      port: hs.ssh?.port,
      privateKey: readFileSync(join(lab.dir, 'keys', 'id_ed25519')),
      pinnedHostKey: hs.hostKey,
      connectTimeoutMs: 10_000,
    },
    pty,
  );
}

/**
 * A shell with a PTY of `pty.cols` x `pty.rows` on `target`, connected the one way every SSH
 * connection of the lab is (connectSsh). The connection ends with the shell.
 *
 * Errors (HalabError): HOST_KEY_MISMATCH, SSH_TIMEOUT, SSH_CONNECT (connectSsh's); SSH_SHELL
 * when the host refuses a shell.
 */
export async function openShellTo(
  target: SshTarget,
  pty: { cols: number; rows: number; term?: string },
): Promise<ShellSession> {
  const c = await connectSsh(target);
  const stream = await new Promise<ClientChannel>((resolve, reject) => {
    const fail = (err: Error) => {
      c.destroy();
      reject(new HalabError('SSH_SHELL', `cannot open a shell on ${target.host}: ${err.message}`));
    };
    try {
      c.shell({ term: pty.term ?? 'xterm-256color', cols: pty.cols, rows: pty.rows }, (err, s) =>
        err ? fail(err) : resolve(s),
      );
    } catch (err) {
      fail(err as Error);
    }
  });
  const dataCbs: ((d: Buffer) => void)[] = [];
  const exitCbs: ((code: number) => void)[] = [];
  let exitCode = 0;
  // a write to a shell whose connection just went away: its 'close' follows and ends the session
  stream.on('error', () => {});
  stream.stderr.on('error', () => {});
  stream.on('data', (d: Buffer) => dataCbs.forEach((cb) => cb(d)));
  stream.stderr.on('data', (d: Buffer) => dataCbs.forEach((cb) => cb(d)));
  stream.on('exit', (code: number | null) => {
    exitCode = code ?? 0;
  });
  stream.on('close', () => {
    exitCbs.forEach((cb) => cb(exitCode));
    c.end();
  });
  const quietly = (fn: () => void) => {
    try {
      fn();
    } catch {
      /* the connection is gone: 'close' reports the end */
    }
  };
  return {
    write: (d) => quietly(() => stream.write(d)),
    resize: (cols, rows) => quietly(() => stream.setWindow(rows, cols, 0, 0)),
    onData: (cb) => dataCbs.push(cb),
    onExit: (cb) => exitCbs.push(cb),
    close: () => {
      quietly(() => stream.close());
      quietly(() => c.end());
    },
  };
}
