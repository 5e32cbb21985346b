import type { ClientChannel, SFTPWrapper } from 'ssh2';
import { CommandError, HalabError } from '../errors.ts';
import { connectSsh, KEEPALIVE_COUNT, seconds, type SshClient, type SshTarget } from './ssh-connect.ts';
import type { ExecOptions, ExecResult, Remote } from './types.ts';
import { shq } from './types.ts';

export { hostKeyBlob, type SshTarget } from './ssh-connect.ts';

/** "`a long command …`" for messages. */
function shortCommand(cmd: string): string {
  const one = cmd.replace(/\s+/g, ' ').trim();
  return one.length > 80 ? `${one.slice(0, 77)}...` : one;
}

/**
 * One SSH connection per host, opened on first use (connectSsh: the pinned host key, a timeout)
 * and reused for every command and upload; a connection that was lost is opened again by the
 * next operation. Every failure is a HalabError (see exec, upload), never an 'error' event.
 */
export class SshRemote implements Remote {
  readonly host: string;
  private client?: SshClient;
  private connecting?: Promise<SshClient>;
  private sftpP?: Promise<SFTPWrapper>;
  /** Why each client's connection ended, once it has (its last error). */
  private readonly lostWhy = new WeakMap<SshClient, string>();

  constructor(private readonly target: SshTarget) {
    this.host = target.host;
  }

  private connect(): Promise<SshClient> {
    if (this.client) return Promise.resolve(this.client);
    if (this.connecting) return this.connecting;
    const p = connectSsh(this.target).then(
      (c) => {
        this.connecting = undefined;
        this.client = c;
        c.on('error', (err: Error) => {
          const keepalive = /keepalive timeout/i.test(err.message);
          const ka = (this.target.keepaliveIntervalMs ?? 5_000) * KEEPALIVE_COUNT;
          this.lostWhy.set(c, keepalive ? `not answering for ${seconds(ka)}` : err.message);
        });
        c.once('close', () => {
          if (this.client === c) {
            this.client = undefined;
            this.sftpP = undefined;
          }
        });
        return c;
      },
      (err: unknown) => {
        this.connecting = undefined;
        throw err;
      },
    );
    this.connecting = p;
    return p;
  }

  /** The error of an operation whose connection went away under it. */
  private lost(c: SshClient, what: string): HalabError {
    const why = this.lostWhy.get(c);
    return new HalabError(
      'SSH_CONNECTION_LOST',
      `${this.host}: the SSH connection was lost while ${what}${why ? ` (${why})` : ''}`,
      { fix: 'the host may have frozen, lost its link or powered off: check it with `halab status`' },
    );
  }

  /**
   * Run a command line on the host (bash -c semantics on the remote side), collecting its output.
   *
   * Errors: CommandError for a non-zero exit (unless allowFail), a timeout (COMMAND_TIMEOUT), a
   * cancel (CANCELLED) or a death by signal; HalabError SSH_CONNECTION_LOST when the connection
   * drops or stops answering mid-command, SSH_EXEC when no channel can be opened, and connect's
   * errors (HOST_KEY_MISMATCH, SSH_TIMEOUT, SSH_CONNECT).
   */
  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const t0 = Date.now();
    if (opts.signal?.aborted)
      throw new CommandError({ command, exitCode: null, stdout: '', stderr: '', host: this.host, reason: 'cancelled' });
    const c = await this.connect();
    return new Promise<ExecResult>((resolve, reject) => {
      let done = false;
      let dropped = false;
      let stream: ClientChannel | undefined;
      let stdout = '';
      let stderr = '';
      let timer: NodeJS.Timeout | undefined;
      const onClientClose = () => {
        dropped = true;
      };
      const onAbort = () => stop('cancelled');
      const finish = (err: Error | undefined, r?: ExecResult) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        c.removeListener('close', onClientClose);
        if (err) reject(err);
        else resolve(r!);
      };
      // A timeout or a cancel ends the call at once: the channel is told to close, but a host
      // that stopped answering would never confirm it.
      const stop = (why: 'timeout' | 'cancelled') => {
        try {
          stream?.signal('KILL');
        } catch {
          /* older servers */
        }
        try {
          stream?.close();
        } catch {
          /* the connection is already gone */
        }
        finish(new CommandError({ command, exitCode: null, stdout, stderr, host: this.host, reason: why }));
      };
      c.once('close', onClientClose);
      if (opts.timeoutMs) timer = setTimeout(() => stop('timeout'), opts.timeoutMs);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const channelError = (err: Error) =>
        dropped || !this.client
          ? this.lost(c, `running \`${shortCommand(command)}\``)
          : new HalabError('SSH_EXEC', `cannot run a command on ${this.host}: ${err.message}`, {
              fix: 'check the host with `halab status`',
            });
      const onChannel = (err: Error | undefined, ch: ClientChannel) => {
        if (err) return finish(channelError(err));
        stream = ch;
        if (done) {
          // timed out or cancelled while the channel was opening
          try {
            ch.close();
          } catch {
            /* gone */
          }
          return;
        }
        const lineBufs = { stdout: '', stderr: '' };
        const feed = (name: 'stdout' | 'stderr', d: Buffer) => {
          const text = d.toString();
          if (name === 'stdout') stdout += text;
          else stderr += text;
          if (!opts.onLine) return;
          lineBufs[name] += text;
          let i;
          while ((i = lineBufs[name].indexOf('\n')) >= 0) {
            opts.onLine(lineBufs[name].slice(0, i), name);
            lineBufs[name] = lineBufs[name].slice(i + 1);
          }
        };
        ch.on('data', (d: Buffer) => feed('stdout', d));
        ch.stderr.on('data', (d: Buffer) => feed('stderr', d));
        // a write after the channel closed, say: the 'close' below (or the connection's) decides
        ch.on('error', () => {});
        ch.stderr.on('error', () => {});
        ch.on('close', (code: number | null | undefined, sig?: string) => {
          if (done) return;
          if (opts.onLine) for (const n of ['stdout', 'stderr'] as const) if (lineBufs[n]) opts.onLine(lineBufs[n], n);
          if (code === null || code === undefined) {
            // no exit status: the connection went away, or the command was killed by a signal
            if (dropped || this.lostWhy.has(c)) return finish(this.lost(c, `running \`${shortCommand(command)}\``));
            return finish(
              new CommandError({
                command,
                exitCode: null,
                stdout,
                stderr,
                host: this.host,
                reason: 'signal',
                signal: sig,
              }),
            );
          }
          if (code !== 0 && !opts.allowFail) {
            return finish(new CommandError({ command, exitCode: code, stdout, stderr, host: this.host }));
          }
          finish(undefined, { command, exitCode: code, stdout, stderr, durationMs: Date.now() - t0 });
        });
        try {
          if (opts.input !== undefined) ch.end(opts.input);
          else ch.end();
        } catch (e) {
          finish(channelError(e as Error));
        }
      };
      try {
        c.exec(command, onChannel);
      } catch (err) {
        // ssh2 throws synchronously when the connection is no longer writable
        finish(channelError(err as Error));
      }
    });
  }

  private sftp(): Promise<SFTPWrapper> {
    if (!this.sftpP) {
      const p = this.connect().then(
        (c) =>
          new Promise<SFTPWrapper>((resolve, reject) => {
            const fail = (err: Error) =>
              reject(new HalabError('SSH_SFTP', `SFTP to ${this.host} failed: ${err.message}`));
            try {
              c.sftp((err, s) => {
                if (err) return fail(err);
                // a malformed packet from the server is emitted as 'error' (then the session is
                // destroyed and every pending request fails): forget the session
                const forget = () => {
                  if (this.sftpP === p) this.sftpP = undefined;
                };
                s.on('error', forget);
                s.on('close', forget);
                resolve(s);
              });
            } catch (err) {
              fail(err as Error);
            }
          }),
      );
      this.sftpP = p;
      p.catch(() => {
        if (this.sftpP === p) this.sftpP = undefined;
      });
    }
    return this.sftpP;
  }

  /**
   * Write a file atomically (temp file, chmod, rename) with `mode`.
   *
   * Errors: HalabError SSH_SFTP (the server refused or failed a step, or the session broke), and
   * connect's errors.
   */
  async upload(remotePath: string, content: string | Buffer, mode = 0o644): Promise<void> {
    const s = await this.sftp();
    const tmp = `${remotePath}.halab-tmp`;
    const call = (fn: (cb: (err?: Error | null) => void) => void, what: string) =>
      new Promise<void>((resolve, reject) => {
        const fail = (err: Error) =>
          reject(
            new HalabError('SSH_SFTP', `SFTP ${what} ${remotePath} on ${this.host} failed: ${err.message}`, {
              fix: 'check that the parent directory exists on the host',
            }),
          );
        // a malformed reply breaks the session without calling back the request it answered:
        // the session's own 'error' / 'close' ends the call then
        const broken = (err?: Error) => {
          off();
          fail(err instanceof Error ? err : new Error('the SFTP session closed'));
        };
        const off = () => {
          s.removeListener('error', broken);
          s.removeListener('close', broken);
        };
        s.on('error', broken);
        s.on('close', broken);
        try {
          fn((err) => {
            off();
            if (err) fail(err);
            else resolve();
          });
        } catch (err) {
          off();
          fail(err as Error);
        }
      });
    await call((cb) => s.writeFile(tmp, content, { mode }, cb), 'write of');
    await call((cb) => s.chmod(tmp, mode, cb), 'chmod of');
    // rename(2) replaces the target atomically: posix-rename@openssh.com where the server has it,
    // else mv over an exec channel
    try {
      await call((cb) => s.ext_openssh_rename(tmp, remotePath, cb), 'rename onto');
    } catch (err) {
      if (!/does not support/.test(String((err as Error).message))) throw err;
      await this.exec(`mv -f ${shq(tmp)} ${shq(remotePath)}`);
    }
  }

  /** Close the connection (waits up to 1 s for it to go). Never throws. */
  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    this.sftpP = undefined;
    if (c)
      await new Promise<void>((resolve) => {
        c.once('close', () => resolve());
        try {
          c.end();
        } catch {
          c.destroy();
        }
        setTimeout(() => {
          c.destroy();
          resolve();
        }, 1000).unref();
      });
  }
}
