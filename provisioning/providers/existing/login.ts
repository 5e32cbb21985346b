// First contact with a machine the user hands over: log in with the user's own key (optionally
// through a jump host), learn the machine's ed25519 host key (trust on first use) or check it
// against the one the lab recorded, and run commands as root (sudo -n for another user).
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import ssh2 from 'ssh2';
import type { LabSpec } from '../../api/types.ts';
import { HalabError } from '../../errors.ts';
import { shq } from '../../exec/types.ts';

const { Client } = ssh2;
type Client = InstanceType<typeof Client>;

/** How this machine logs in to one machine (the lab's `existing` block with the host's overrides). */
export interface Login {
  host: string;
  address: string;
  port: number;
  user: string;
  privateKeyPath: string;
  jump?: { address: string; port: number; user: string };
}

/** "~/x" → the home directory's x. */
export function expandHome(p: string): string {
  return p.startsWith('~/') ? `${homedir()}/${p.slice(2)}` : p;
}

/** "user@host[:port]" (pure). */
export function parseJump(text: string): { user: string; address: string; port: number } {
  const m = /^([^@]+)@([^:]+)(?::(\d+))?$/.exec(text);
  if (!m) throw new HalabError('BAD_SPEC', `jump "${text}" is not user@host[:port]`);
  return { user: m[1] as string, address: m[2] as string, port: m[3] ? Number(m[3]) : 22 };
}

/** The login of `host` (pure). Errors: BAD_SPEC when the spec has no `existing` block. */
export function loginOf(spec: LabSpec, host: string): Login {
  const h = spec.hosts.find((x) => x.name === host);
  if (!h) throw new HalabError('NO_HOST', `lab ${spec.name} has no host ${host}`);
  const e = spec.existing;
  if (!e) {
    throw new HalabError('BAD_SPEC', `lab ${spec.name} uses provider existing but its spec has no \`existing\` block`, {
      fix: 'add `existing: { user: root, privateKey: /root/.ssh/id_ed25519 }`',
    });
  }
  const jump = h.ssh?.jump ?? e.jump;
  return {
    host,
    address: h.ssh?.address ?? h.address,
    port: h.ssh?.port ?? e.port,
    user: h.ssh?.user ?? e.user,
    privateKeyPath: expandHome(h.ssh?.privateKey ?? e.privateKey),
    ...(jump ? { jump: parseJump(jump) } : {}),
  };
}

/** "ssh-ed25519 AAAA…" of a key blob as ssh2 hands it to hostVerifier. */
function keyLine(blob: Buffer): string {
  return `ssh-ed25519 ${blob.toString('base64')}`;
}

/** The refusal of a machine whose host key changed since the lab first met it. */
export function hostKeyChanged(what: string, address: string, recorded: string, offered: string): HalabError {
  return new HalabError(
    'HOST_KEY_MISMATCH',
    `${what} (${address}) offers another SSH host key than the one HA Lab learned on first contact and recorded in the lab's state: refusing to log in`,
    {
      fix: `if ${what} was reinstalled on purpose, compare the key with \`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\` on it, then remove the lab (\`halab down\`) and create it again; otherwise something else answers at ${address}`,
      details: `recorded: ${recorded}\noffered:  ${offered}`,
    },
  );
}

interface Contact {
  what: string;
  address: string;
  port: number;
  user: string;
  privateKey: Buffer;
  /** Pinned key: anything else is refused; absent: learn it. */
  pinned?: string;
  sock?: import('node:stream').Duplex;
  timeoutMs: number;
}

function connect(c: Contact): Promise<{ client: Client; hostKey: string }> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let offered: string | undefined;
    let done = false;
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      client.destroy();
      if (offered && c.pinned && offered !== c.pinned)
        return reject(hostKeyChanged(c.what, c.address, c.pinned, offered));
      const code = (err as NodeJS.ErrnoException).code;
      const level = (err as { level?: string }).level;
      const why =
        level === 'client-authentication'
          ? `${c.user} with the key ${c.what === 'jump host' ? '' : 'given in the spec '}was refused`
          : code === 'ECONNREFUSED'
            ? 'the connection was refused (no sshd on that port?)'
            : code === 'EHOSTUNREACH' || code === 'ENETUNREACH'
              ? 'no route to it'
              : err.message;
      reject(
        new HalabError('SSH_CONNECT', `cannot log in to ${c.what} at ${c.user}@${c.address}:${c.port}: ${why}`, {
          fix:
            level === 'client-authentication'
              ? `authorise the key's public half for ${c.user} on ${c.what} (ssh-copy-id -i KEY ${c.user}@${c.address})`
              : `check that ${c.address}:${c.port} answers with sshd from this machine (ssh -p ${c.port} ${c.user}@${c.address})`,
          cause: err,
        }),
      );
    };
    const timer = setTimeout(() => fail(new Error(`no answer within ${c.timeoutMs / 1000} s`)), c.timeoutMs);
    client.on('error', fail);
    client.once('close', () => fail(new Error('the connection closed during the handshake')));
    client.once('ready', () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ client, hostKey: offered as string });
    });
    client.connect({
      host: c.address,
      port: c.port,
      username: c.user,
      privateKey: c.privateKey,
      readyTimeout: 0,
      keepaliveInterval: 5_000,
      keepaliveCountMax: 3,
      ...(c.sock ? { sock: c.sock } : {}),
      algorithms: { serverHostKey: ['ssh-ed25519'] },
      hostVerifier: (key: Buffer) => {
        offered = keyLine(key);
        return !c.pinned || offered === c.pinned;
      },
    });
  });
}

/** An open first-contact session: root commands on the machine and the keys it showed. */
export interface Session {
  hostKey: string;
  jumpHostKey?: string;
  /** Run a shell script as root (sudo -n sh -c for another user); never throws on a non-zero exit. */
  sh(script: string, input?: string): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  close(): void;
}

/**
 * Log in to a machine with the user's key. Errors (HalabError): HOST_KEY_MISMATCH (the machine or
 * the jump host offers another key than the pinned one), SSH_CONNECT (refused, unreachable, the
 * key refused), NO_KEY (the private key cannot be read).
 */
export async function openSession(
  login: Login,
  pinned: { host?: string; jump?: string } = {},
  timeoutMs = 15_000,
): Promise<Session> {
  let privateKey: Buffer;
  try {
    privateKey = readFileSync(login.privateKeyPath);
  } catch (err) {
    throw new HalabError('NO_KEY', `cannot read the private key ${login.privateKeyPath}: ${(err as Error).message}`, {
      fix: 'set existing.privateKey to the path of a readable OpenSSH private key on this machine',
    });
  }
  let via: { client: Client; hostKey: string } | undefined;
  let sock: import('node:stream').Duplex | undefined;
  if (login.jump) {
    const j = login.jump;
    via = await connect({
      what: 'jump host',
      address: j.address,
      port: j.port,
      user: j.user,
      privateKey,
      ...(pinned.jump ? { pinned: pinned.jump } : {}),
      timeoutMs,
    });
    const v = via;
    sock = await new Promise<import('node:stream').Duplex>((resolve, reject) =>
      v.client.forwardOut('127.0.0.1', 0, login.address, login.port, (err, stream) =>
        err
          ? reject(
              new HalabError(
                'SSH_CONNECT',
                `the jump host ${j.address} cannot reach ${login.host} at ${login.address}:${login.port}: ${err.message}`,
                { fix: `check the route from ${j.address} to ${login.address}` },
              ),
            )
          : resolve(stream),
      ),
    ).catch((err: unknown) => {
      v.client.end();
      throw err;
    });
  }
  const main = await connect({
    what: login.host,
    address: login.address,
    port: login.port,
    user: login.user,
    privateKey,
    ...(pinned.host ? { pinned: pinned.host } : {}),
    ...(sock ? { sock } : {}),
    timeoutMs,
  }).catch((err: unknown) => {
    via?.client.end();
    throw err;
  });
  const asRoot = (script: string) => (login.user === 'root' ? script : `sudo -n sh -c ${shq(script)}`);
  return {
    hostKey: main.hostKey,
    ...(via ? { jumpHostKey: via.hostKey } : {}),
    sh: (script, input) =>
      new Promise((resolve, reject) => {
        main.client.exec(asRoot(script), (err, ch) => {
          if (err) return reject(new HalabError('SSH_EXEC', `${login.host}: ${err.message}`));
          let stdout = '';
          let stderr = '';
          ch.on('data', (d: Buffer) => (stdout += d.toString()));
          ch.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          ch.on('close', (code: number | null) => resolve({ stdout, stderr, exitCode: code ?? 255 }));
          if (input !== undefined) ch.end(input);
          else ch.end();
        });
      }),
    close: () => {
      main.client.end();
      via?.client.end();
    },
  };
}
