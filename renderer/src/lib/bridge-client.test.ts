import { describe, expect, it } from 'vitest';
import { createBridgeClient, socketUrl, takeToken, type SocketLike } from './bridge-client.ts';

class FakeSocket implements SocketLike {
  static last: FakeSocket;
  readyState = 0;
  sent: string[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  constructor(public url: string) {
    FakeSocket.last = this;
  }
  send(d: string) {
    this.sent.push(d);
  }
  close() {
    this.onclose?.({});
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  reply(o: unknown) {
    this.onmessage?.({ data: JSON.stringify(o) });
  }
}

describe('bridge client', () => {
  it('queues calls until open, matches replies by id, rejects with the ErrorInfo', async () => {
    const c = createBridgeClient({
      url: 'ws://x/api/ws?token=t',
      socket: (u) => new FakeSocket(u),
      reconnectMs: 10_000,
    });
    const sock = FakeSocket.last;
    const p1 = c.listLabs();
    const p2 = c.status('lab1');
    expect(sock.sent).toEqual([]);
    sock.open();
    expect(sock.sent.map((s) => JSON.parse(s))).toEqual([
      { id: 1, method: 'listLabs', args: [] },
      { id: 2, method: 'status', args: ['lab1'] },
    ]);
    sock.reply({
      type: 'reply',
      id: 2,
      ok: false,
      error: { code: 'NO_LAB', message: 'there is no lab named lab1', fix: 'create it' },
    });
    sock.reply({ type: 'reply', id: 1, ok: true, value: [] });
    expect(await p1).toEqual([]);
    await expect(p2).rejects.toMatchObject({ code: 'NO_LAB', message: 'there is no lab named lab1', fix: 'create it' });
    c.close();
  });

  it('delivers events to subscribers and tells the server it is ready', () => {
    const c = createBridgeClient({ url: 'ws://x', socket: (u) => new FakeSocket(u), reconnectMs: 10_000 });
    const sock = FakeSocket.last;
    sock.open();
    const got: string[] = [];
    const off = c.onEvent((e) => got.push(e.type));
    expect(JSON.parse(sock.sent[0]!)).toEqual({ type: 'ready' });
    sock.reply({ type: 'events', events: [{ type: 'run:start' }, { type: 'run:end' }] });
    off();
    sock.reply({ type: 'events', events: [{ type: 'status' }] });
    expect(got).toEqual(['run:start', 'run:end']);
    c.close();
  });

  it('rejects pending calls when the connection drops', async () => {
    const c = createBridgeClient({ url: 'ws://x', socket: (u) => new FakeSocket(u), reconnectMs: 10_000 });
    FakeSocket.last.open();
    const p = c.doctor();
    c.close();
    await expect(p).rejects.toMatchObject({ code: 'DISCONNECTED' });
  });

  it('takes the token from the fragment and keeps it for reloads', () => {
    const store = new Map<string, string>();
    const storage = {
      getItem: (k: string) => store.get(k) ?? null,
      setItem: (k: string, v: string) => void store.set(k, v),
    };
    expect(takeToken({ hash: '#token=abc123' }, storage)).toBe('abc123');
    expect(takeToken({ hash: '' }, storage)).toBe('abc123');
    expect(takeToken({ hash: '' })).toBeUndefined();
    expect(socketUrl({ protocol: 'http:', host: '127.0.0.1:7420' }, 'a b')).toBe(
      'ws://127.0.0.1:7420/api/ws?token=a%20b',
    );
  });
});
