import ssh2, { type ClientChannel, type SFTPWrapper } from 'ssh2';
const { Client } = ssh2;
type Client = InstanceType<typeof Client>;
import { CommandError, HalabError } from '../errors.ts';
import type { ExecOptions, ExecResult, Remote } from './types.ts';
import { shq } from './types.ts';

export interface SshTarget {
  /** Lab host name (for messages). */
  host: string;
  address: string;
  port?: number;
  username?: string;
  /** OpenSSH-format private key. */
  privateKey: string | Buffer;
  /** The host key recorded at creation, "ssh-ed25519 AAAA...": anything else is refused. */
  pinnedHostKey: string;
  connectTimeoutMs?: number;
}

/** Parse "ssh-ed25519 AAAA... comment" into the wire-format key bytes ssh2 hands to hostVerifier. */
export function hostKeyBlob(line: string): Buffer {
  const parts = line.trim().split(/\s+/);
  if (parts.length < 2 || !parts[1]) throw new HalabError('BAD_HOST_KEY', `not an OpenSSH public key: ${line.slice(0, 40)}`);
  return Buffer.from(parts[1], 'base64');
}

/**
 * One SSH connection per host, opened on first use and reused for every command and upload.
 * The server's host key must equal the pinned one; a changed key is refused with a clear error.
 */
export class SshRemote implements Remote {
  readonly host: string;
  private client?: Client;
  private connecting?: Promise<Client>;
  private sftpP?: Promise<SFTPWrapper>;
  private readonly pinned: Buffer;

  constructor(private readonly target: SshTarget) {
    this.host = target.host;
    this.pinned = hostKeyBlob(target.pinnedHostKey);
  }

  private connect(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client);
    if (this.connecting) return this.connecting;
    const t = this.target;
    this.connecting = new Promise<Client>((resolve, reject) => {
      const c = new Client();
      let keyMismatch: Buffer | undefined;
      const fail = (err: Error) => {
        this.connecting = undefined;
        c.removeAllListeners('ready');
        c.end();
        if (keyMismatch) {
          reject(new HalabError('HOST_KEY_MISMATCH',
            `host key of ${t.host} (${t.address}) has changed: it is not the key recorded when the lab was created`,
            {
              fix: `if you re-created ${t.host} on purpose, run \`halab down\` and \`halab up\` again; otherwise something else answers at ${t.address}`,
              details: `recorded: ssh-ed25519 ${this.pinned.toString('base64')}\noffered:  ${keyMismatch.toString('base64')}`,
            }));
          return;
        }
        const code = (err as NodeJS.ErrnoException).code;
        const what = (err as { level?: string }).level === 'client-authentication'
          ? 'refused the lab key' : code === 'ECONNREFUSED' ? 'refused the connection (sshd not running?)'
          : /Timed out/.test(err.message) ? 'did not answer in time' : err.message;
        reject(new HalabError('SSH_CONNECT', `cannot reach ${t.host} over SSH at ${t.address}: ${what}`, {
          fix: `check the host with \`halab status\`; if it is down, \`halab up\` restarts it`,
        }));
      };
      c.once('ready', () => {
        this.connecting = undefined;
        this.client = c;
        c.removeListener('error', fail);
        c.on('error', () => { /* surfaced through the failing operation */ });
        c.once('close', () => { if (this.client === c) { this.client = undefined; this.sftpP = undefined; } });
        resolve(c);
      });
      c.once('error', fail);
      c.connect({
        host: t.address,
        port: t.port ?? 22,
        username: t.username ?? 'root',
        privateKey: t.privateKey,
        readyTimeout: t.connectTimeoutMs ?? 10_000,
        keepaliveInterval: 5_000,
        keepaliveCountMax: 3,
        algorithms: { serverHostKey: ['ssh-ed25519'] },
        hostVerifier: (key: Buffer) => {
          if (key.equals(this.pinned)) return true;
          keyMismatch = Buffer.from(key);
          return false;
        },
      });
    });
    return this.connecting;
  }

  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const t0 = Date.now();
    if (opts.signal?.aborted) throw new CommandError({ command, exitCode: null, stdout: '', stderr: '', host: this.host, reason: 'cancelled' });
    const c = await this.connect();
    return new Promise<ExecResult>((resolve, reject) => {
      c.exec(command, (err, stream: ClientChannel) => {
        if (err) {
          reject(new HalabError('SSH_EXEC', `cannot run a command on ${this.host}: ${err.message}`));
          return;
        }
        let stdout = '';
        let stderr = '';
        let reason: 'timeout' | 'cancelled' | undefined;
        const lineBufs = { stdout: '', stderr: '' };
        const feed = (name: 'stdout' | 'stderr', d: Buffer) => {
          const s = d.toString();
          if (name === 'stdout') stdout += s; else stderr += s;
          if (!opts.onLine) return;
          lineBufs[name] += s;
          let i;
          while ((i = lineBufs[name].indexOf('\n')) >= 0) {
            opts.onLine(lineBufs[name].slice(0, i), name);
            lineBufs[name] = lineBufs[name].slice(i + 1);
          }
        };
        const stop = (why: 'timeout' | 'cancelled') => {
          reason = why;
          try { stream.signal('KILL'); } catch { /* older servers */ }
          stream.close();
        };
        const timer = opts.timeoutMs ? setTimeout(() => stop('timeout'), opts.timeoutMs) : undefined;
        const onAbort = () => stop('cancelled');
        opts.signal?.addEventListener('abort', onAbort, { once: true });
        stream.on('data', (d: Buffer) => feed('stdout', d));
        stream.stderr.on('data', (d: Buffer) => feed('stderr', d));
        stream.on('close', (code: number | null, sig?: string) => {
          if (timer) clearTimeout(timer);
          opts.signal?.removeEventListener('abort', onAbort);
          if (opts.onLine) for (const n of ['stdout', 'stderr'] as const) if (lineBufs[n]) opts.onLine(lineBufs[n], n);
          const exitCode = typeof code === 'number' ? code : -1;
          if (reason) {
            reject(new CommandError({ command, exitCode: null, stdout, stderr, host: this.host, reason }));
          } else if (code === null || code === undefined) {
            reject(new CommandError({ command, exitCode: null, stdout, stderr, host: this.host, reason: 'signal', signal: sig }));
          } else if (exitCode !== 0 && !opts.allowFail) {
            reject(new CommandError({ command, exitCode, stdout, stderr, host: this.host }));
          } else {
            resolve({ command, exitCode, stdout, stderr, durationMs: Date.now() - t0 });
          }
        });
        if (opts.input !== undefined) stream.end(opts.input); else stream.end();
      });
    });
  }

  private sftp(): Promise<SFTPWrapper> {
    if (!this.sftpP) {
      this.sftpP = this.connect().then((c) => new Promise<SFTPWrapper>((resolve, reject) => {
        c.sftp((err, s) => (err ? reject(new HalabError('SSH_SFTP', `SFTP to ${this.host} failed: ${err.message}`)) : resolve(s)));
      }));
      this.sftpP.catch(() => { this.sftpP = undefined; });
    }
    return this.sftpP;
  }

  async upload(remotePath: string, content: string | Buffer, mode = 0o644): Promise<void> {
    const s = await this.sftp();
    const tmp = `${remotePath}.halab-tmp`;
    const call = (fn: (cb: (err?: Error | null) => void) => void, what: string) =>
      new Promise<void>((resolve, reject) => fn((err) => (err ? reject(new HalabError('SSH_SFTP', `SFTP ${what} ${remotePath} on ${this.host} failed: ${err.message}`, {
        fix: 'check that the parent directory exists on the host',
      })) : resolve())));
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

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    this.sftpP = undefined;
    if (c) await new Promise<void>((resolve) => { c.once('close', () => resolve()); c.end(); setTimeout(resolve, 1000).unref(); });
  }
}
