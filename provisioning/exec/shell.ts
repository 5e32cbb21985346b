import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { HalabError } from '../errors.ts';
import { hostKeyBlob } from './ssh.ts';
import type { LabState } from '../api/types.ts';

/** An interactive shell on a lab host (a PTY over ssh2): used by `halab ssh` and the UI terminal. */
export interface ShellSession {
  write(data: string | Buffer): void;
  resize(cols: number, rows: number): void;
  onData(cb: (d: Buffer) => void): void;
  onExit(cb: (code: number) => void): void;
  close(): void;
}

export async function openShell(lab: { state: LabState; dir: string }, host: string, pty: { cols: number; rows: number; term?: string }): Promise<ShellSession> {
  const hs = lab.state.hosts[host];
  if (!hs?.hostKey) throw new HalabError('NO_HOST', `lab ${lab.state.name} has no host ${host}`, { fix: `hosts: ${Object.keys(lab.state.hosts).join(', ')}` });
  const pinned = hostKeyBlob(hs.hostKey);
  const c = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    let mismatch = false;
    c.once('ready', () => resolve());
    c.once('error', (err) => reject(mismatch
      ? new HalabError('HOST_KEY_MISMATCH', `host key of ${host} has changed`, { fix: 'recreate the lab with `halab down` and `halab up`' })
      : new HalabError('SSH_CONNECT', `cannot reach ${host} over SSH: ${err.message}`, { fix: 'check `halab status`' })));
    c.connect({
      host: hs.address, username: 'root', privateKey: readFileSync(join(lab.dir, 'keys', 'id_ed25519')), readyTimeout: 10_000,
      algorithms: { serverHostKey: ['ssh-ed25519'] },
      hostVerifier: (key: Buffer) => { const okKey = key.equals(pinned); mismatch = !okKey; return okKey; },
    });
  });
  const stream = await new Promise<ssh2.ClientChannel>((resolve, reject) => {
    c.shell({ term: pty.term ?? 'xterm-256color', cols: pty.cols, rows: pty.rows }, (err, s) => (err ? reject(err) : resolve(s)));
  });
  const dataCbs: ((d: Buffer) => void)[] = [];
  const exitCbs: ((code: number) => void)[] = [];
  let exitCode = 0;
  stream.on('data', (d: Buffer) => dataCbs.forEach((cb) => cb(d)));
  stream.stderr.on('data', (d: Buffer) => dataCbs.forEach((cb) => cb(d)));
  stream.on('exit', (code: number | null) => { exitCode = code ?? 0; });
  stream.on('close', () => { exitCbs.forEach((cb) => cb(exitCode)); c.end(); });
  return {
    write: (d) => stream.write(d),
    resize: (cols, rows) => stream.setWindow(rows, cols, 0, 0),
    onData: (cb) => dataCbs.push(cb),
    onExit: (cb) => exitCbs.push(cb),
    close: () => { stream.close(); c.end(); },
  };
}
