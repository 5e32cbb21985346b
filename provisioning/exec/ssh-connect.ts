// The one way to open an SSH connection to a lab host: connect, verify the host key pinned when
// the lab was created, and keep an 'error' listener on the ssh2 Client for its whole life. Used
// by the command runner (ssh.ts) and the interactive terminal (shell.ts).
//
// ssh2 can emit 'error' more than once for one connection (a handshake timeout, then
// "Connection lost before handshake" when the socket closes; a keepalive timeout, then a socket
// error): an emitter with no listener left throws, and takes the process with it.
import ssh2 from 'ssh2';
import { HalabError } from '../errors.ts';

const { Client } = ssh2;
export type SshClient = InstanceType<typeof Client>;

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
  /** The whole connect (TCP, handshake, authentication) must be done within this, in ms (default 10 000). */
  connectTimeoutMs?: number;
  /**
   * Keepalive interval once connected, in ms (default 5000): after 3 unanswered keepalives the
   * connection counts as lost (a host that froze mid-command).
   */
  keepaliveIntervalMs?: number;
  /** A jump host to go through (its own pinned key; the provider existing): a direct-tcpip channel to address:port. */
  jump?: Omit<SshTarget, 'jump'>;
}

/** Unanswered keepalives before a connection counts as lost. */
export const KEEPALIVE_COUNT = 3;

/**
 * Parse "ssh-ed25519 AAAA... comment" into the wire-format key bytes ssh2 hands to hostVerifier.
 * Errors: HalabError BAD_HOST_KEY for a line that is not an OpenSSH public key.
 */
export function hostKeyBlob(line: string): Buffer {
  const parts = line.trim().split(/\s+/);
  if (parts.length < 2 || !parts[1])
    throw new HalabError('BAD_HOST_KEY', `not an OpenSSH public key: ${line.slice(0, 40)}`);
  return Buffer.from(parts[1], 'base64');
}

/** "5 s", "0.3 s" */
export function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/** The error of a connection that did not answer within `ms`: a frozen or overloaded host. */
export function notAnswering(host: string, ms: number): HalabError {
  return new HalabError('SSH_TIMEOUT', `${host}: not answering for ${seconds(ms)}`, {
    fix: `the host may be frozen, overloaded or powered off: check it with \`halab status\`; \`halab up\` restarts a host that is down`,
  });
}

/** What a failed connect means to the user. */
function connectError(t: SshTarget, err: Error, offered: Buffer | undefined, pinned: Buffer): HalabError {
  if (offered) {
    return new HalabError(
      'HOST_KEY_MISMATCH',
      `host key of ${t.host} (${t.address}) has changed: it is not the key recorded when the lab was created`,
      {
        fix: `if you re-created ${t.host} on purpose, run \`halab down\` and \`halab up\` again; otherwise something else answers at ${t.address}`,
        details: `recorded: ssh-ed25519 ${pinned.toString('base64')}\noffered:  ${offered.toString('base64')}`,
      },
    );
  }
  const code = (err as NodeJS.ErrnoException).code;
  const what =
    (err as { level?: string }).level === 'client-authentication'
      ? 'refused the lab key'
      : code === 'ECONNREFUSED'
        ? 'refused the connection (sshd not running?)'
        : code === 'EHOSTUNREACH' || code === 'ENETUNREACH'
          ? 'no route to it (powered off, or its link is down?)'
          : err.message;
  return new HalabError('SSH_CONNECT', `cannot reach ${t.host} over SSH at ${t.address}: ${what}`, {
    fix: 'check the host with `halab status`; if it is down, `halab up` restarts it',
    cause: err,
  });
}

/**
 * Connect to `t`, verify its host key against the pinned one, authenticate with the lab key.
 * Resolves with the ready Client. The Client keeps an 'error' listener until it is garbage:
 * errors after the connect surface through the operation that fails (and the Client's 'close');
 * a caller may add its own listeners too.
 *
 * Errors (HalabError): HOST_KEY_MISMATCH (another key was offered: both in the details);
 * SSH_TIMEOUT ("m1: not answering for 5 s": no complete handshake within connectTimeoutMs);
 * SSH_CONNECT (refused, unreachable, the lab key refused, a protocol error); BAD_HOST_KEY
 * (the pinned key is not an OpenSSH public key).
 */
export async function connectSsh(t: SshTarget): Promise<SshClient> {
  if (!t.jump) return connectDirect(t);
  const via = await connectSsh(t.jump);
  const sock = await new Promise<import('node:stream').Duplex>((resolve, reject) =>
    via.forwardOut('127.0.0.1', 0, t.address, t.port ?? 22, (err, stream) => {
      if (!err) return resolve(stream);
      via.end();
      reject(
        new HalabError(
          'SSH_CONNECT',
          `cannot reach ${t.host} at ${t.address} through ${t.jump?.address}: ${err.message}`,
          {
            fix: `check that the jump host ${t.jump?.address} can reach ${t.address}:${t.port ?? 22}`,
          },
        ),
      );
    }),
  );
  const c = await connectDirect(t, sock).catch((err: unknown) => {
    via.end();
    throw err;
  });
  c.once('close', () => via.end());
  return c;
}

function connectDirect(t: SshTarget, sock?: import('node:stream').Duplex): Promise<SshClient> {
  const timeoutMs = t.connectTimeoutMs ?? 10_000;
  return new Promise<SshClient>((resolve, reject) => {
    const pinned = hostKeyBlob(t.pinnedHostKey); // BAD_HOST_KEY: a rejection, like every other error
    const c = new Client();
    let settled = false;
    let offered: Buffer | undefined;
    const settle = (err?: HalabError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!err) return resolve(c);
      reject(err);
      c.destroy();
    };
    // For the Client's whole life: before 'ready' the first error decides the connect, every
    // later one (and every one after 'ready') is left to the operations and 'close'.
    c.on('error', (err: Error) => settle(connectError(t, err, offered, pinned)));
    c.once('ready', () => settle());
    c.once('close', () =>
      settle(connectError(t, new Error('the connection closed during the handshake'), offered, pinned)),
    );
    // Our own deadline rather than ssh2's readyTimeout: one place, one error, whatever stage hangs.
    const timer = setTimeout(() => settle(notAnswering(t.host, timeoutMs)), timeoutMs);
    try {
      c.connect({
        host: t.address,
        port: t.port ?? 22,
        ...(sock ? { sock } : {}),
        username: t.username ?? 'root',
        privateKey: t.privateKey,
        readyTimeout: 0,
        keepaliveInterval: t.keepaliveIntervalMs ?? 5_000,
        keepaliveCountMax: KEEPALIVE_COUNT,
        algorithms: { serverHostKey: ['ssh-ed25519'] },
        hostVerifier: (key: Buffer) => {
          if (key.equals(pinned)) return true;
          offered = Buffer.from(key);
          return false;
        },
      });
    } catch (err) {
      // a malformed private key, say: thrown synchronously
      settle(
        new HalabError('SSH_CONNECT', `cannot connect to ${t.host}: ${(err as Error).message}`, {
          fix: 'the lab key may be damaged: recreate the lab with `halab down` and `halab up`',
        }),
      );
    }
  });
}
