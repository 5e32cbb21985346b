// The main process's IPC, with Electron mocked: malformed calls are rejected before the
// service, only our page may call, events reach the page batched and only once it is ready,
// and a changed host key becomes a dialog.
import { describe, expect, it, vi } from 'vitest';
import type { LabEvent } from '../provisioning/api/lab-api.ts';
import type { ErrorInfo } from '../provisioning/api/types.ts';
import { createLabService } from '../provisioning/service/service.ts';
import { fakeEngine } from '../provisioning/service/fake-engine.testutil.ts';
import { CALL_CHANNEL, EVENTS_CHANNEL, READY_CHANNEL } from './channels.ts';
import { registerIpc } from './ipc.ts';

vi.mock('electron', () => ({ ipcMain: {}, dialog: {}, app: {} }));

const ours = { senderFrame: { url: 'app://halab/index.html' } } as never;

function setup(over: Parameters<typeof fakeEngine>[0] = {}) {
  const handlers = new Map<string, (...a: unknown[]) => unknown>();
  const listeners = new Map<string, (...a: unknown[]) => unknown>();
  const ipcMain = {
    handle: vi.fn((ch: string, f: (...a: unknown[]) => unknown) => handlers.set(ch, f)),
    on: vi.fn((ch: string, f: (...a: unknown[]) => unknown) => listeners.set(ch, f)),
    removeHandler: vi.fn(),
    removeAllListeners: vi.fn(),
  };
  const sent: [string, LabEvent[]][] = [];
  const contents = { id: 1, isDestroyed: () => false, send: vi.fn((ch: string, b: LabEvent[]) => sent.push([ch, b])) };
  const dialogs: [ErrorInfo, string][] = [];
  const eng = fakeEngine(over);
  const service = createLabService(eng);
  const spy = vi.spyOn(service, 'status');
  const h = registerIpc({
    ipcMain: ipcMain as never,
    service,
    contents: contents as never,
    showError: (i, k) => dialogs.push([i, k]),
  });
  const call = (method: unknown, args: unknown, e = ours) => handlers.get(CALL_CHANNEL)!(e, method, args);
  return { h, call, listeners, sent, dialogs, spy, eng, ipcMain };
}

describe('main process IPC', () => {
  it('registers one call channel and one ready channel', () => {
    const { ipcMain } = setup();
    expect(ipcMain.handle).toHaveBeenCalledWith(CALL_CHANNEL, expect.any(Function));
    expect(ipcMain.on).toHaveBeenCalledWith(READY_CHANNEL, expect.any(Function));
  });

  it('main rejects malformed IPC input before it reaches the service', async () => {
    const { call, spy, eng, h } = setup();
    const forwarded = vi.spyOn(h.session, 'call');
    for (const [m, a] of [
      ['status', [42]],
      ['status', 'lab1'],
      ['status', []],
      ['status', ['../../root']],
      ['rm', ['-rf']],
      ['__proto__', []],
      ['openTerminal', ['lab1', 'm1', 1e9, 24]],
      ['up', [{ name: 'x', subnet: 1 }]],
      ['terminalInput', ['id', { evil: 1 }]],
    ] as const) {
      const r = await call(m, a);
      expect(r, `${m} ${JSON.stringify(a)}`).toMatchObject({ ok: false, error: { code: 'BAD_INPUT' } });
    }
    expect(forwarded).not.toHaveBeenCalled();
    expect(spy).not.toHaveBeenCalled();
    expect(eng.calls).toEqual([]);
    // and a good call does go through
    await call('status', ['lab1']);
    expect(forwarded).toHaveBeenCalledTimes(1);
  });

  it('refuses calls from anything but the app page', async () => {
    const { call, spy } = setup();
    const r = await call('status', ['lab1'], { senderFrame: { url: 'https://evil.example/' } } as never);
    expect(r).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await call('status', ['lab1'], { senderFrame: null } as never)).toMatchObject({ ok: false });
    expect(spy).not.toHaveBeenCalled();
  });

  it('forwards a well-formed call and returns its value', async () => {
    const { call } = setup();
    expect(await call('status', ['lab1'])).toMatchObject({ ok: true, value: { lab: 'lab1', phase: 'ready' } });
  });

  it('sends events on one channel, batched, and only after the page said it is ready', async () => {
    const { call, listeners, sent } = setup();
    await call('up', [{ name: 'lab1', subnet: '10.213.7.0/24', lbs: 2, masters: 3, workers: 2 }]);
    await new Promise((r) => setTimeout(r, 80));
    expect(sent).toEqual([]);
    listeners.get(READY_CHANNEL)!({ senderFrame: { url: 'app://halab/index.html' } });
    expect(sent).toHaveLength(1);
    expect(sent[0]![0]).toBe(EVENTS_CHANNEL);
    expect(sent[0]![1].map((e) => e.type)).toEqual(['run:start', 'run:end']);
  });

  it('shows a host-key mismatch as a dialog (message and fix), and returns the ErrorInfo', async () => {
    const { HalabError } = await import('../provisioning/errors.ts');
    const s = setup({
      openShell: async () => {
        throw new HalabError('HOST_KEY_MISMATCH', 'host key of m1 has changed', { fix: 'recreate the lab' });
      },
    });
    const r = await s.call('openTerminal', ['lab1', 'm1', 80, 24]);
    expect(r).toEqual({
      ok: false,
      error: { code: 'HOST_KEY_MISMATCH', message: 'host key of m1 has changed', fix: 'recreate the lab' },
    });
    expect(s.dialogs).toEqual([
      [{ code: 'HOST_KEY_MISMATCH', message: 'host key of m1 has changed', fix: 'recreate the lab' }, 'host-key'],
    ]);
  });

  it('dispose removes the handlers', () => {
    const { h, ipcMain } = setup();
    h.dispose();
    expect(ipcMain.removeHandler).toHaveBeenCalledWith(CALL_CHANNEL);
  });
});
