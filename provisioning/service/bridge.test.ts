// The browser bridge: without the per-start token nothing of LabApi is reachable (HTTP 401 for
// /api routes and for the WebSocket upgrade); with it, calls and events flow.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startBridge, type Bridge } from './bridge.ts';
import { createLabService } from './service.ts';
import { fakeEngine } from './fake-engine.testutil.ts';

let bridge: Bridge;
let base = '';

function http(
  path: string,
  o: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method: o.method ?? 'GET', headers: o.headers }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

/** Try a WebSocket upgrade; resolve with the HTTP status of a refusal, or 101 when it opens. */
function upgrade(query: string, headers: Record<string, string> = {}): Promise<{ status: number; ws?: WebSocket }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${bridge.port}/api/ws${query}`, { headers });
    ws.on('open', () => resolve({ status: 101, ws }));
    ws.on('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
    ws.on('error', () => resolve({ status: -1 }));
  });
}

beforeAll(async () => {
  const dist = mkdtempSync(join(tmpdir(), 'halab-ui-dist-'));
  writeFileSync(join(dist, 'index.html'), '<!doctype html><title>HA Lab</title>');
  bridge = await startBridge({ service: createLabService(fakeEngine()), staticDir: dist, port: 0 });
  base = `http://127.0.0.1:${bridge.port}`;
});
afterAll(async () => {
  await bridge.close();
});

describe('halab ui bridge', () => {
  it('prints a URL on 127.0.0.1 with a long random token in the fragment', () => {
    expect(bridge.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${bridge.port}/#token=[0-9a-f]{64}$`));
    expect(bridge.server.address()).toMatchObject({ address: '127.0.0.1' });
  });

  it('refuses the WebSocket upgrade without the token, or with a wrong one (401)', async () => {
    expect((await upgrade('')).status).toBe(401);
    expect((await upgrade('?token=')).status).toBe(401);
    expect((await upgrade(`?token=${'0'.repeat(64)}`)).status).toBe(401);
    expect((await upgrade(`?token=${bridge.token.slice(0, 63)}`)).status).toBe(401);
  });

  it('refuses /api routes without the token (401), with a JSON ErrorInfo', async () => {
    const r = await http('/api/ping');
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body)).toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED' } });
    const c = await http('/api/call/listLabs', {
      method: 'POST',
      body: '[]',
      headers: { 'content-type': 'application/json' },
    });
    expect(c.status).toBe(401);
    const wrong = await http('/api/call/listLabs', {
      method: 'POST',
      body: '[]',
      headers: { authorization: 'Bearer nope' },
    });
    expect(wrong.status).toBe(401);
  });

  it('answers /api with the token (header or query), and refuses malformed calls with 400', async () => {
    expect((await http('/api/ping', { headers: { authorization: `Bearer ${bridge.token}` } })).status).toBe(200);
    const r = await http(`/api/call/listLabs?token=${bridge.token}`, { method: 'POST', body: '[]' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ ok: true, value: [] });
    const bad = await http(`/api/call/status?token=${bridge.token}`, { method: 'POST', body: '[1]' });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error.code).toBe('BAD_INPUT');
  });

  it('refuses another Host (DNS rebinding) and a cross-origin WebSocket even with the token', async () => {
    expect((await http('/', { headers: { host: 'evil.example:80' } })).status).toBe(421);
    expect((await upgrade(`?token=${bridge.token}`, { origin: 'http://evil.example' })).status).toBe(403);
  });

  it('serves the page without a token, with a strict CSP; no path escapes the build directory', async () => {
    const r = await http('/');
    expect(r.status).toBe(200);
    expect(r.body).toContain('HA Lab');
    expect(String(r.headers['content-security-policy'])).toContain("script-src 'self'");
    expect((await http('/../../../etc/passwd')).status).toBe(404);
    expect((await http('/%2e%2e/%2e%2e/etc/passwd')).status).toBe(404);
  });

  it('with the token: calls get replies, malformed messages get BAD_INPUT, events arrive after ready', async () => {
    const { status, ws } = await upgrade(`?token=${bridge.token}`, { origin: base });
    expect(status).toBe(101);
    const msgs: {
      type: string;
      id?: number;
      ok?: boolean;
      value?: unknown;
      error?: { code: string };
      events?: { type: string }[];
    }[] = [];
    ws!.on('message', (d) => msgs.push(JSON.parse(d.toString())));
    const until = async (f: () => boolean) => {
      for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
    };
    ws!.send(JSON.stringify({ type: 'ready' }));
    ws!.send(JSON.stringify({ id: 1, method: 'providers', args: [] }));
    ws!.send('not json');
    ws!.send(JSON.stringify({ id: 2, method: 'status', args: ['../etc'] }));
    ws!.send(
      JSON.stringify({
        id: 3,
        method: 'up',
        args: [{ name: 'lab1', subnet: '10.213.7.0/24', lbs: 2, masters: 3, workers: 2 }],
      }),
    );
    await until(() => msgs.some((m) => m.type === 'events' && m.events!.some((e) => e.type === 'run:end')));
    expect(msgs.find((m) => m.id === 1)).toMatchObject({ ok: true, value: [{ name: 'netns' }] });
    expect(msgs.find((m) => m.id === null)).toMatchObject({ ok: false, error: { code: 'BAD_INPUT' } });
    expect(msgs.find((m) => m.id === 2)).toMatchObject({ ok: false, error: { code: 'BAD_INPUT' } });
    expect(msgs.find((m) => m.id === 3)).toMatchObject({ ok: true, value: { runId: 'run1', lab: 'lab1' } });
    const types = msgs.filter((m) => m.type === 'events').flatMap((m) => m.events!.map((e) => e.type));
    expect(types).toEqual(['run:start', 'run:end']);
    ws!.close();
  });
});
