// SshRemote against an in-process ssh2 server on 127.0.0.1: host-key pinning, exit codes,
// streamed output, timeouts, cancellation, SFTP upload, and connection reuse.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ssh2 from 'ssh2';
import type { AddressInfo } from 'node:net';
import { CommandError, HalabError } from '../errors.ts';
import { openShellTo } from './shell.ts';
import { SshRemote } from './ssh.ts';

const { Server, utils } = ssh2;
const hostKey = utils.generateKeyPairSync('ed25519');
const otherHostKey = utils.generateKeyPairSync('ed25519');
const clientKey = utils.generateKeyPairSync('ed25519');
const files = new Map<string, { data: Buffer; mode?: number }>();
let connections = 0;
let port = 0;
let server: InstanceType<typeof Server>;

// commands the fake host understands
function execute(cmd: string, stdin: string): { out: string; err: string; code: number; delayMs?: number } {
  if (cmd === 'hostname') return { out: 'm1\n', err: '', code: 0 };
  if (cmd === 'fail') return { out: 'partial\n', err: 'boom: no such thing\n', code: 3 };
  if (cmd === 'cat') return { out: stdin, err: '', code: 0 };
  if (cmd === 'lines') return { out: 'a\nb\nc', err: 'e1\n', code: 0 };
  const mv = /^mv -f (\S+) (\S+)$/.exec(cmd);
  if (mv) {
    files.set(mv[2]!, files.get(mv[1]!)!);
    files.delete(mv[1]!);
    return { out: '', err: '', code: 0 };
  }
  if (cmd === 'sleep') return { out: '', err: '', code: 0, delayMs: 5000 };
  return { out: '', err: `unknown ${cmd}`, code: 127 };
}

beforeAll(async () => {
  server = new Server({ hostKeys: [hostKey.private] }, (client) => {
    connections++;
    client.on('authentication', (ctx) => {
      if (
        ctx.method === 'publickey' &&
        ctx.key.data.equals((utils.parseKey(clientKey.public) as ssh2.ParsedKey).getPublicSSH())
      )
        ctx.accept();
      else ctx.reject(['publickey']);
    });
    client.on('ready', () => {
      client.on('session', (accept) => {
        const session = accept();
        session.on('exec', (acc, _rej, info) => {
          const ch = acc();
          let stdin = '';
          ch.on('data', (d: Buffer) => {
            stdin += d.toString();
          });
          const finish = () => {
            const r = execute(info.command, stdin);
            const t = setTimeout(() => {
              ch.write(r.out);
              ch.stderr.write(r.err);
              ch.exit(r.code);
              ch.end();
            }, r.delayMs ?? 0);
            ch.on('close', () => clearTimeout(t));
          };
          ch.on('end', finish);
        });
        session.on('pty', (acc) => acc?.());
        session.on('shell', (acc) => {
          const ch = acc();
          ch.write('m1$ ');
          ch.on('data', (d: Buffer) => {
            if (d.toString().includes('exit')) {
              ch.exit(7);
              ch.end();
            }
          });
        });
        session.on('sftp', (acc) => {
          const sftp = acc();
          const handles = new Map<number, string>();
          let next = 0;
          sftp.on('OPEN', (reqid, filename, _flags, attrs) => {
            const h = Buffer.alloc(4);
            h.writeUInt32BE(next);
            handles.set(next++, filename);
            files.set(filename, { data: Buffer.alloc(0), mode: attrs.mode });
            sftp.handle(reqid, h);
          });
          sftp.on('WRITE', (reqid, handle, offset, data) => {
            const f = files.get(handles.get(handle.readUInt32BE(0))!)!;
            const buf = Buffer.alloc(Math.max(f.data.length, offset + data.length));
            f.data.copy(buf);
            data.copy(buf, offset);
            f.data = buf;
            sftp.status(reqid, 0);
          });
          sftp.on('CLOSE', (reqid) => sftp.status(reqid, 0));
          sftp.on('SETSTAT', (reqid, path, attrs) => {
            const f = files.get(path);
            if (f) f.mode = attrs.mode;
            sftp.status(reqid, 0);
          });
          sftp.on('FSETSTAT', (reqid) => sftp.status(reqid, 0));
          sftp.on('EXTENDED', (reqid, name, data) => {
            if (name === 'posix-rename@openssh.com') {
              const a = data.readUInt32BE(0);
              const from = data.subarray(4, 4 + a).toString();
              const b = data.readUInt32BE(4 + a);
              const to = data.subarray(8 + a, 8 + a + b).toString();
              files.set(to, files.get(from)!);
              files.delete(from);
              sftp.status(reqid, 0);
            } else sftp.status(reqid, 8);
          });
        });
      });
    });
    client.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => {
  server.close();
});

const remote = (pinned = hostKey.public) =>
  new SshRemote({ host: 'm1', address: '127.0.0.1', port, privateKey: clientKey.private, pinnedHostKey: pinned });

describe('SshRemote', () => {
  it('runs commands over one reused connection and returns output and exit code', async () => {
    const r = remote();
    const before = connections;
    expect((await r.exec('hostname')).stdout).toBe('m1\n');
    expect((await r.exec('cat', { input: 'hello' })).stdout).toBe('hello');
    expect(connections - before).toBe(1);
    await r.close();
  });

  it('a non-zero exit is a CommandError carrying the command, the exit code and the output', async () => {
    const r = remote();
    const err = await r.exec('fail').then(
      () => undefined,
      (e) => e,
    );
    expect(err).toBeInstanceOf(CommandError);
    expect(err).toMatchObject({
      code: 'COMMAND_FAILED',
      command: 'fail',
      exitCode: 3,
      stdout: 'partial\n',
      stderr: 'boom: no such thing\n',
      host: 'm1',
    });
    expect(err.message).toBe('`fail` on m1 exited with code 3');
    expect(err.details).toContain('boom: no such thing');
    // allowFail returns it instead
    expect((await r.exec('fail', { allowFail: true })).exitCode).toBe(3);
    await r.close();
  });

  it('streams output line by line', async () => {
    const r = remote();
    const lines: string[] = [];
    await r.exec('lines', { onLine: (l, s) => lines.push(`${s}:${l}`) });
    expect(lines.sort()).toEqual(['stderr:e1', 'stdout:a', 'stdout:b', 'stdout:c']);
    await r.close();
  });

  it('times out and cancels', async () => {
    const r = remote();
    await expect(r.exec('sleep', { timeoutMs: 200 })).rejects.toMatchObject({ code: 'COMMAND_TIMEOUT' });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    await expect(r.exec('sleep', { signal: ac.signal })).rejects.toMatchObject({ code: 'CANCELLED' });
    await r.close();
  });

  it('uploads a file atomically with its mode', async () => {
    const r = remote();
    await r.upload('/etc/x.conf', 'content', 0o600);
    expect(files.get('/etc/x.conf')?.data.toString()).toBe('content');
    expect((files.get('/etc/x.conf')!.mode! & 0o777).toString(8)).toBe('600');
    expect(files.has('/etc/x.conf.halab-tmp')).toBe(false);
    await r.close();
  });

  it('refuses a host whose key is not the pinned one, saying so', async () => {
    const r = remote(otherHostKey.public);
    const err = await r.exec('hostname').then(
      () => undefined,
      (e) => e,
    );
    expect(err).toBeInstanceOf(HalabError);
    expect(err.code).toBe('HOST_KEY_MISMATCH');
    expect(err.message).toBe(
      'host key of m1 (127.0.0.1) has changed: it is not the key recorded when the lab was created',
    );
    await r.close();
  });

  it('the terminal connects the same way: the same refusal of a changed host key, word for word', async () => {
    const target = { host: 'm1', address: '127.0.0.1', port, privateKey: clientKey.private };
    const viaRunner = await remote(otherHostKey.public)
      .exec('hostname')
      .catch((e: unknown) => e);
    const viaShell = await openShellTo({ ...target, pinnedHostKey: otherHostKey.public }, { cols: 80, rows: 24 }).catch(
      (e: unknown) => e,
    );
    expect(viaShell).toBeInstanceOf(HalabError);
    const pick = (e: unknown) => {
      const h = e as HalabError;
      return { code: h.code, message: h.message, fix: h.fix, details: h.details };
    };
    expect(pick(viaShell)).toEqual(pick(viaRunner));
    expect(pick(viaShell).code).toBe('HOST_KEY_MISMATCH');

    // and with the pinned key, a shell: its output, input, and exit code
    const shell = await openShellTo({ ...target, pinnedHostKey: hostKey.public }, { cols: 80, rows: 24 });
    let out = '';
    shell.onData((d) => (out += d.toString()));
    const code = new Promise<number>((res) => shell.onExit(res));
    shell.write('exit\n');
    expect(await code).toBe(7);
    expect(out).toBe('m1$ ');
  });

  it('a host that is not listening is a clear connect error', async () => {
    const r = new SshRemote({
      host: 'm9',
      address: '127.0.0.1',
      port: 1,
      privateKey: clientKey.private,
      pinnedHostKey: hostKey.public,
    });
    await expect(r.exec('hostname')).rejects.toMatchObject({
      code: 'SSH_CONNECT',
      message: expect.stringContaining('cannot reach m9 over SSH at 127.0.0.1'),
    });
  });
});
