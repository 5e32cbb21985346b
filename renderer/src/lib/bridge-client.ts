// LabApi over the `halab ui` WebSocket: the renderer's transport when there is no Electron
// preload (window.lab). Calls made while (re)connecting wait for the socket; a call whose
// connection drops is rejected with DISCONNECTED; the socket reconnects by itself.
import {
  LAB_API_METHODS,
  type BridgeMessage,
  type BridgeRequest,
  type LabApi,
  type LabApiMethod,
  type LabEvent,
} from '../../../provisioning/api/lab-api.ts';
import { LabError } from './errors.ts';

/** Every request method of LabApi (the one list, in provisioning/api/lab-api.ts). */
export const METHODS = Object.keys(LAB_API_METHODS) as LabApiMethod[];

export interface SocketLike {
  readyState: number;
  send(data: string): void;
  close(): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
}

export interface BridgeClientOptions {
  /** ws://host/api/ws?token=... */
  url: string;
  socket?: (url: string) => SocketLike;
  reconnectMs?: number;
  onConnection?: (connected: boolean) => void;
}

export type BridgeClient = LabApi & { close(): void; readonly connected: boolean };

export function createBridgeClient(o: BridgeClientOptions): BridgeClient {
  const open = o.socket ?? ((url: string) => new WebSocket(url) as unknown as SocketLike);
  let ws: SocketLike | undefined;
  let isOpen = false;
  let closed = false;
  let nextId = 1;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
  const outbox: string[] = [];
  const listeners = new Set<(e: LabEvent) => void>();

  const sendRaw = (s: string) => {
    if (ws && isOpen) ws.send(s);
    else outbox.push(s);
  };

  const connect = () => {
    if (closed) return;
    const sock = open(o.url);
    ws = sock;
    sock.onopen = () => {
      isOpen = true;
      o.onConnection?.(true);
      if (listeners.size) sock.send(JSON.stringify({ type: 'ready' } satisfies BridgeRequest));
      for (const s of outbox.splice(0)) sock.send(s);
    };
    sock.onmessage = (ev) => {
      let msg: BridgeMessage;
      try {
        msg = JSON.parse(String(ev.data)) as BridgeMessage;
      } catch {
        return;
      }
      if (msg.type === 'events') {
        for (const e of msg.events) for (const l of listeners) l(e);
      } else if (msg.type === 'reply' && typeof msg.id === 'number') {
        const p = pending.get(msg.id);
        if (!p) return;
        pending.delete(msg.id);
        if (msg.ok) p.resolve(msg.value ?? undefined);
        else p.reject(new LabError(msg.error));
      }
    };
    sock.onerror = () => {};
    sock.onclose = () => {
      const was = isOpen;
      isOpen = false;
      ws = undefined;
      if (was) o.onConnection?.(false);
      for (const [id, p] of pending) {
        p.reject(
          new LabError({
            code: 'DISCONNECTED',
            message: 'the connection to halab ui was lost',
            fix: 'check that `halab ui` is still running; the page reconnects by itself',
          }),
        );
        pending.delete(id);
      }
      if (!closed) setTimeout(connect, o.reconnectMs ?? 1000);
    };
  };
  connect();

  const call = (method: LabApiMethod, args: unknown[]) =>
    new Promise<unknown>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      sendRaw(JSON.stringify({ id, method, args } satisfies BridgeRequest));
    });

  const api = {
    onEvent(cb: (e: LabEvent) => void) {
      listeners.add(cb);
      if (listeners.size === 1 && ws && isOpen) ws.send(JSON.stringify({ type: 'ready' } satisfies BridgeRequest));
      return () => {
        listeners.delete(cb);
      };
    },
    close() {
      closed = true;
      ws?.close();
    },
    get connected() {
      return isOpen;
    },
  } as Record<string, unknown>;
  for (const m of METHODS) api[m] = (...args: unknown[]) => call(m, args);
  return api as unknown as BridgeClient;
}

/** The token from the page's fragment (#token=...), kept in sessionStorage so a reload keeps working. */
export function takeToken(loc: { hash: string }, storage?: Pick<Storage, 'getItem' | 'setItem'>): string | undefined {
  const m = /(?:^#|&)token=([A-Za-z0-9_-]+)/.exec(loc.hash);
  if (m?.[1]) {
    storage?.setItem('halab-token', m[1]);
    return m[1];
  }
  return storage?.getItem('halab-token') ?? undefined;
}

export function socketUrl(loc: { protocol: string; host: string }, token: string): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/api/ws?token=${encodeURIComponent(token)}`;
}
