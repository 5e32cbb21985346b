// A small QMP client (QEMU Machine Protocol: newline-delimited JSON over the VM's unix socket).
// Each call connects, reads the greeting, negotiates capabilities (qmp_capabilities), runs one
// command and disconnects: QMP serves one client at a time, and power actions are rare. Events
// that arrive in between are skipped. The transport is injectable for unit tests.
import { createConnection } from 'node:net';
import type { Duplex } from 'node:stream';
import { HalabError } from '../../errors.ts';

/** Opens the byte stream to a QMP socket (default: a unix socket connection). */
export type QmpTransport = (path: string) => Duplex;

const unixSocket: QmpTransport = (path) => createConnection({ path });

export interface QmpOptions {
  timeoutMs?: number;
  transport?: QmpTransport;
}

/**
 * Run one QMP command on the VM whose QMP socket is `path` and return its "return" value.
 * Errors (HalabError): QMP_UNREACHABLE when nothing answers on the socket (the VM is not
 * running), QMP_ERROR with QEMU's error class and description, QMP_TIMEOUT after timeoutMs
 * (default 10 s).
 */
export function qmpCommand<T = unknown>(
  path: string,
  execute: string,
  args?: Record<string, unknown>,
  o: QmpOptions = {},
): Promise<T> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  return new Promise<T>((resolve, reject) => {
    const sock = (o.transport ?? unixSocket)(path);
    let buf = '';
    let phase: 'greeting' | 'caps' | 'command' = 'greeting';
    let settled = false;
    const finish = (err: Error | undefined, value?: T) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value as T);
    };
    const timer = setTimeout(
      () => finish(new HalabError('QMP_TIMEOUT', `QMP ${execute} on ${path}: no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const send = (cmd: string, a?: Record<string, unknown>) =>
      sock.write(`${JSON.stringify(a ? { execute: cmd, arguments: a } : { execute: cmd })}\n`);
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (phase === 'command' && execute === 'quit' && err.code === 'ECONNRESET') return finish(undefined);
      finish(
        new HalabError('QMP_UNREACHABLE', `the VM's QMP socket ${path} does not answer (${err.code ?? err.message})`, {
          fix: 'the VM is not running: `halab status` shows it; `halab up` starts it',
        }),
      );
    });
    sock.on('close', () => {
      // `quit` ends QEMU: the socket closes before (or instead of) the answer
      if (phase === 'command' && execute === 'quit') finish(undefined);
      else finish(new HalabError('QMP_UNREACHABLE', `the VM's QMP socket ${path} closed during ${execute}`));
    });
    sock.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!line) continue;
        let msg: { QMP?: unknown; event?: string; return?: unknown; error?: { class: string; desc: string } };
        try {
          msg = JSON.parse(line);
        } catch {
          return finish(new HalabError('QMP_ERROR', `QMP sent something that is not JSON: ${line.slice(0, 80)}`));
        }
        if (msg.event) continue;
        if (phase === 'greeting') {
          if (!msg.QMP) return finish(new HalabError('QMP_ERROR', `no QMP greeting on ${path}`));
          phase = 'caps';
          send('qmp_capabilities');
        } else if (msg.error) {
          return finish(
            new HalabError('QMP_ERROR', `QMP ${phase === 'caps' ? 'qmp_capabilities' : execute}: ${msg.error.desc}`, {
              details: msg.error.class,
            }),
          );
        } else if (phase === 'caps') {
          phase = 'command';
          send(execute, args);
        } else {
          return finish(undefined, msg.return as T);
        }
      }
    });
  });
}

/** QEMU's run state ("running", "paused", "shutdown", ...): query-status. */
export async function qmpStatus(path: string, o: QmpOptions = {}): Promise<string> {
  const r = await qmpCommand<{ status: string }>(path, 'query-status', undefined, o);
  return r.status;
}
