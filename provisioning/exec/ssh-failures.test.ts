// The SSH runner against hosts that fail the quiet ways: a server that accepts the TCP
// connection and then says nothing (a frozen host: every process SIGSTOPped), one that sends
// half a banner, a connection dropped or frozen in the middle of a command, an SFTP server that
// answers garbage. Each must be a HalabError, never an unhandled 'error' event (which would
// crash `halab status`; vitest fails a run on one, and each test also checks it did not happen).
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import ssh2 from 'ssh2';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HalabError } from '../errors.ts';
import { sleep } from '../util/poll.ts';
import { openShellTo } from './shell.ts';
import { SshRemote, type SshTarget } from './ssh.ts';

const { Server: SshServer, utils } = ssh2;
const hostKey = utils.generateKeyPairSync('ed25519');
const clientKey = utils.generateKeyPairSync('ed25519');

/** Uncaught exceptions while a test runs: an unhandled 'error' event lands here. */
let uncaught: unknown[] = [];
const onUncaught = (err: unknown) => uncaught.push(err);
beforeEach(() => {
  uncaught = [];
  process.on('uncaughtException', onUncaught);
});
afterEach(() => {
  process.off('uncaughtException', onUncaught);
  expect(uncaught).toEqual([]);
});

/** A TCP server that accepts and then never answers, or sends `banner` first. Resolves once a client has gone. */
async function silentServer(banner?: string) {
  const sockets: Socket[] = [];
  let closedResolve: () => void = () => {};
  const clientGone = new Promise<void>((r) => (closedResolve = r));
  const server: Server = createServer((s) => {
    sockets.push(s);
    if (banner !== undefined) s.write(banner);
    s.on('error', () => {});
    s.on('close', () => closedResolve());
    s.resume(); // read and drop what the client sends (as the kernel of a frozen host buffers it), to see it go
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    clientGone,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const target = (port: number, over: Partial<SshTarget> = {}): SshTarget => ({
  host: 'm1',
  address: '127.0.0.1',
  port,
  privateKey: clientKey.private,
  pinnedHostKey: hostKey.public,
  connectTimeoutMs: 300,
  ...over,
});

async function failure(p: Promise<unknown>): Promise<HalabError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HalabError);
  return err as HalabError;
}

describe('a host that does not answer the handshake', () => {
  it('a frozen host (TCP accepted, then silence) is SSH_TIMEOUT, and nothing is thrown later', async () => {
    const srv = await silentServer();
    try {
      const r = new SshRemote(target(srv.port));
      const t0 = Date.now();
      const err = await failure(r.exec('hostname'));
      expect(err).toMatchObject({ code: 'SSH_TIMEOUT', message: 'm1: not answering for 0.3 s' });
      expect(Date.now() - t0).toBeLessThan(3000);
      // the client drops the connection; ssh2 then reports "Connection lost before handshake":
      // that second error must find a listener
      await srv.clientGone;
      await sleep(50);
      await r.close();
    } finally {
      await srv.close();
    }
  });

  it('half a banner, then silence, is SSH_TIMEOUT too', async () => {
    const srv = await silentServer('SSH-2.0-Open');
    try {
      const r = new SshRemote(target(srv.port));
      expect(await failure(r.exec('hostname'))).toMatchObject({ code: 'SSH_TIMEOUT' });
      await srv.clientGone;
      await sleep(50);
    } finally {
      await srv.close();
    }
  });

  it('the interactive terminal gets the same error from the same connect', async () => {
    const srv = await silentServer();
    try {
      const err = await failure(openShellTo(target(srv.port), { cols: 80, rows: 24 }));
      expect(err).toMatchObject({ code: 'SSH_TIMEOUT', message: 'm1: not answering for 0.3 s' });
      await srv.clientGone;
      await sleep(50);
    } finally {
      await srv.close();
    }
  });
});

// A real SSH server whose host misbehaves after the handshake.
let server: InstanceType<typeof SshServer>;
let port = 0;
const serverSockets = new Set<Socket>();

/** SFTP's wire format: uint32 length, then the payload. */
const packet = (...bytes: number[]) => {
  const b = Buffer.alloc(4 + bytes.length);
  b.writeUInt32BE(bytes.length, 0);
  Buffer.from(bytes).copy(b, 4);
  return b;
};

beforeAll(async () => {
  server = new SshServer({ hostKeys: [hostKey.private] }, (client, info) => {
    const sock = (client as unknown as { _sock: Socket })._sock;
    serverSockets.add(sock);
    sock.on('close', () => serverSockets.delete(sock));
    client.on('error', () => {});
    client.on('authentication', (ctx) => (ctx.method === 'publickey' ? ctx.accept() : ctx.reject(['publickey'])));
    client.on('ready', () => {
      client.on('session', (accept) => {
        const session = accept();
        session.on('exec', (acc, _rej, { command }) => {
          const ch = acc();
          if (command === 'drop') {
            sock.destroy(); // the cable is pulled mid-command
          } else if (command === 'freeze') {
            sock.pause(); // every process of the host stopped: nothing is read or answered any more
          } else {
            ch.write('m1\n');
            ch.exit(0);
            ch.end();
          }
        });
        // An SFTP server that answers INIT properly and then sends a malformed packet
        session.on('subsystem', (acc) => {
          const ch = acc();
          let n = 0;
          ch.on('data', () => {
            ch.write(n++ === 0 ? packet(2, 0, 0, 0, 3) : packet(102, 0, 0, 0, 0));
          });
        });
      });
    });
    void info;
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const s of serverSockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

describe('a host that fails after the handshake', () => {
  it('a connection dropped mid-command is SSH_CONNECTION_LOST, and the next command reconnects', async () => {
    const r = new SshRemote(target(port, { connectTimeoutMs: 5000 }));
    const err = await failure(r.exec('drop'));
    expect(err.code).toBe('SSH_CONNECTION_LOST');
    expect(err.message).toMatch(/^m1: the SSH connection was lost while running `drop`/);
    expect((await r.exec('hostname')).stdout).toBe('m1\n');
    await r.close();
  });

  it('a host that freezes mid-command is SSH_CONNECTION_LOST once keepalives go unanswered', async () => {
    const r = new SshRemote(target(port, { connectTimeoutMs: 5000, keepaliveIntervalMs: 100 }));
    const t0 = Date.now();
    const err = await failure(r.exec('freeze'));
    expect(err.code).toBe('SSH_CONNECTION_LOST');
    expect(err.message).toMatch(/not answering/);
    expect(Date.now() - t0).toBeLessThan(3000);
    await r.close();
  });

  it('an SFTP server that answers garbage is SSH_SFTP', async () => {
    const r = new SshRemote(target(port, { connectTimeoutMs: 5000 }));
    const err = await failure(r.upload('/etc/x', 'content'));
    expect(err.code).toBe('SSH_SFTP');
    expect(err.message).toMatch(/^SFTP write of \/etc\/x on m1 failed/);
    await sleep(50);
    await r.close();
  });
});
