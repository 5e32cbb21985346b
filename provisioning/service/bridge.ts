// The browser bridge of `halab ui`: serves the built renderer on 127.0.0.1 and LabApi over a
// WebSocket at the same origin. A random token, made per start and handed over in the URL's
// fragment (#token=..., never sent in a request by the browser), guards every /api route and
// the WebSocket upgrade: without it, 401. Host and Origin are checked too (DNS rebinding).
//
// Protocol (JSON text frames; the types are BridgeRequest and BridgeMessage in api/lab-api.ts):
//   client -> server  { "id": 1, "method": "status", "args": ["halab"] }   |  { "type": "ready" }
//   server -> client  { "type": "reply", "id": 1, "ok": true, "value": ... } | { ..., "ok": false, "error": ErrorInfo }
//                     { "type": "events", "events": LabEvent[] }
// HTTP: POST /api/call/<method> with the JSON array of arguments answers a LabReply.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import type { BridgeMessage, LabReply } from '../api/lab-api.ts';
import type { ErrorInfo } from '../api/types.ts';
import type { LabService } from './service.ts';

export const WS_PATH = '/api/ws';
const MAX_MESSAGE = 1024 * 1024;

export interface BridgeOptions {
  service: LabService;
  /** The built renderer (renderer/dist). */
  staticDir: string;
  /** 0: any free port. */
  port?: number;
  /** Fixed token (tests); default: 32 random bytes. */
  token?: string;
  log?: (line: string) => void;
}

export interface Bridge {
  port: number;
  token: string;
  /** http://127.0.0.1:PORT/#token=... */
  url: string;
  server: Server;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
  '.map': 'application/json',
};

/** The page's Content-Security-Policy: nothing but this origin; no inline script, no eval. */
export function contentSecurityPolicy(host: string): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    `connect-src 'self' ws://${host}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

function sameToken(given: string | undefined | null, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The token of a request: Authorization: Bearer, X-Halab-Token, or ?token= (the WebSocket). */
export function requestToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim();
  const x = req.headers['x-halab-token'];
  if (typeof x === 'string') return x;
  const q = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
  return q ?? undefined;
}

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Host must name this machine's loopback (any port: an SSH tunnel may forward another one). */
function hostOk(req: IncomingMessage): boolean {
  const h = req.headers.host;
  if (!h) return false;
  try {
    return LOCAL_HOSTS.has(new URL(`http://${h}`).hostname);
  } catch {
    return false;
  }
}

/** A browser's Origin, when sent, must be the page's own. */
function originOk(req: IncomingMessage): boolean {
  const o = req.headers.origin;
  return o === undefined || o === `http://${req.headers.host}`;
}

function sendJson(res: ServerResponse, code: number, body: LabReply) {
  res.writeHead(code, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(JSON.stringify(body));
}

function unauthorized(): ErrorInfo {
  return {
    code: 'UNAUTHORIZED',
    message: 'missing or wrong token',
    fix: 'open the URL that `halab ui` printed (it carries #token=...)',
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_MESSAGE) throw new Error('request too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function startBridge(o: BridgeOptions): Promise<Bridge> {
  const token = o.token ?? randomBytes(32).toString('hex');
  const root = resolve(o.staticDir);
  const log = o.log ?? (() => {});

  async function serveStatic(req: IncomingMessage, res: ServerResponse) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    let path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (path === '/' || path === '') path = '/index.html';
    const file = normalize(join(root, path));
    if (!file.startsWith(root + sep)) {
      res.writeHead(404).end();
      return;
    }
    const st = await fs.stat(file).catch(() => undefined);
    if (!st?.isFile()) {
      res
        .writeHead(404, { 'content-type': 'text/plain' })
        .end(path === '/index.html' ? 'the renderer is not built: run `npm run build`\n' : 'not found\n');
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': st.size,
      'content-security-policy': contentSecurityPolicy(req.headers.host ?? '127.0.0.1'),
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'cache-control': file.endsWith('.html') ? 'no-store' : 'max-age=3600',
    });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  }

  async function serveApi(req: IncomingMessage, res: ServerResponse, path: string) {
    if (!sameToken(requestToken(req), token)) return sendJson(res, 401, { ok: false, error: unauthorized() });
    if (!originOk(req))
      return sendJson(res, 403, { ok: false, error: { code: 'FORBIDDEN', message: 'cross-origin request refused' } });
    if (path === '/api/ping') return sendJson(res, 200, { ok: true, value: 'halab' });
    const m = /^\/api\/call\/([A-Za-z]+)$/.exec(path);
    if (m && req.method === 'POST') {
      let args: unknown;
      try {
        args = JSON.parse((await readBody(req)) || '[]');
      } catch {
        return sendJson(res, 400, {
          ok: false,
          error: { code: 'BAD_INPUT', message: 'the body must be a JSON array of arguments' },
        });
      }
      const session = o.service.openSession(() => {});
      try {
        const reply = await session.call(m[1], args);
        return sendJson(res, reply.ok ? 200 : reply.error.code === 'BAD_INPUT' ? 400 : 500, reply);
      } finally {
        session.close();
      }
    }
    return sendJson(res, 404, { ok: false, error: { code: 'NOT_FOUND', message: `no route ${req.method} ${path}` } });
  }

  const server = createServer((req, res) => {
    if (!hostOk(req)) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end('wrong host: open http://127.0.0.1:PORT/\n');
      return;
    }
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const work = path === '/api' || path.startsWith('/api/') ? serveApi(req, res, path) : serveStatic(req, res);
    work.catch((err: unknown) => {
      log(`bridge: ${(err as Error).message}`);
      if (!res.headersSent) sendJson(res, 500, { ok: false, error: { code: 'INTERNAL', message: 'internal error' } });
      else res.destroy();
    });
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE });
  server.on('upgrade', (req, socket, head) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const refuse = (code: number, text: string) => {
      socket.end(
        `HTTP/1.1 ${code} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length}\r\n\r\n${text}`,
      );
    };
    if (!hostOk(req)) return refuse(421, 'Misdirected Request');
    if (path !== WS_PATH) return refuse(404, 'Not Found');
    if (!sameToken(requestToken(req), token)) return refuse(401, 'Unauthorized');
    if (!originOk(req)) return refuse(403, 'Forbidden');
    wss.handleUpgrade(req, socket, head, (ws) => connection(ws));
  });

  function connection(ws: WebSocket) {
    const send = (msg: BridgeMessage) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
    };
    const session = o.service.openSession((events) => send({ type: 'events', events }));
    ws.on('message', (data, isBinary) => {
      let msg: { type?: unknown; id?: unknown; method?: unknown; args?: unknown };
      try {
        if (isBinary) throw new Error('binary');
        msg = JSON.parse(data.toString()) as typeof msg;
        if (!msg || typeof msg !== 'object') throw new Error('not an object');
      } catch {
        send({
          type: 'reply',
          id: null,
          ok: false,
          error: { code: 'BAD_INPUT', message: 'messages are JSON objects' },
        });
        return;
      }
      if (msg.type === 'ready') return session.ready();
      const id = typeof msg.id === 'number' || typeof msg.id === 'string' ? msg.id : null;
      void session.call(msg.method, msg.args).then((reply) => send({ type: 'reply', id, ...reply }));
    });
    ws.on('close', () => session.close());
    ws.on('error', () => session.close());
  }

  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(o.port ?? 0, '127.0.0.1', () => res());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    token,
    url: `http://127.0.0.1:${port}/#token=${token}`,
    server,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      const closed = new Promise<void>((res) => server.close(() => res()));
      server.closeAllConnections();
      await closed;
    },
  };
}
