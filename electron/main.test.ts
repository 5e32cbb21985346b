// The BUILT bundles (npm run build:electron) with Electron mocked: main registers the app://
// scheme, opens one sandboxed window on app://halab with the preload, and wires IPC; the
// preload exposes exactly one object, `lab`, whose calls go over one channel.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { buildElectron } from '../build/build-electron.ts';

const h = vi.hoisted(() => {
  const windows: { opts: Record<string, unknown>; url?: string }[] = [];
  const exposed: Record<string, unknown> = {};
  const invoked: unknown[][] = [];
  const sentChannels: string[] = [];
  let ready: (() => void) | undefined;
  class BrowserWindow {
    webContents = {
      on: () => {},
      setWindowOpenHandler: () => {},
      session: { setPermissionRequestHandler: () => {}, setPermissionCheckHandler: () => {} },
      send: () => {},
      isDestroyed: () => false,
      id: 1,
    };
    constructor(public opts: Record<string, unknown>) {
      windows.push({ opts });
    }
    once() {}
    on() {}
    loadURL(url: string) {
      windows[windows.length - 1]!.url = url;
      return Promise.resolve();
    }
  }
  const electron = {
    app: {
      requestSingleInstanceLock: () => true,
      on: () => {},
      quit: () => {},
      whenReady: () =>
        new Promise<void>((res) => {
          ready = res;
        }),
    },
    BrowserWindow,
    dialog: { showMessageBox: async () => ({ response: 0 }), showErrorBox: () => {} },
    ipcMain: { handle: vi.fn(), on: vi.fn(), removeHandler: () => {}, removeAllListeners: () => {} },
    nativeTheme: { shouldUseDarkColors: false },
    protocol: { registerSchemesAsPrivileged: vi.fn(), handle: vi.fn() },
    contextBridge: {
      exposeInMainWorld: (k: string, v: unknown) => {
        exposed[k] = v;
      },
    },
    ipcRenderer: {
      invoke: async (...a: unknown[]) => {
        invoked.push(a);
        return a[1] === 'status'
          ? { ok: false, error: { code: 'NO_LAB', message: 'there is no lab named x', fix: 'create it' } }
          : { ok: true, value: [] };
      },
      on: () => {},
      send: (ch: string) => {
        sentChannels.push(ch);
      },
    },
  };
  return { windows, exposed, invoked, sentChannels, electron, fireReady: () => ready?.() };
});

vi.mock('electron', () => ({ ...h.electron, default: h.electron }));

let files: string[] = [];
beforeAll(async () => {
  files = await buildElectron();
}, 120_000);

describe('npm run build: the Electron bundles', { timeout: 90_000 }, () => {
  it('produces main (ESM) and preload (CommonJS)', () => {
    expect(files.map((f) => f.split('/').pop())).toEqual(['main.mjs', 'preload.cjs']);
    for (const f of files) expect(existsSync(f)).toBe(true);
  });

  it('main opens one sandboxed window on app://halab with the preload', async () => {
    await import(/* @vite-ignore */ pathToFileURL(files[0]!).href);
    expect(h.electron.protocol.registerSchemesAsPrivileged).toHaveBeenCalledWith([
      expect.objectContaining({ scheme: 'app' }),
    ]);
    h.fireReady();
    await new Promise((r) => setTimeout(r, 20));
    expect(h.electron.protocol.handle).toHaveBeenCalledWith('app', expect.any(Function));
    expect(h.windows).toHaveLength(1);
    const wp = h.windows[0]!.opts.webPreferences as Record<string, unknown>;
    expect(wp).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false });
    expect(String(wp.preload)).toMatch(/dist-electron\/preload\.cjs$/);
    expect(h.windows[0]!.url).toBe('app://halab/index.html');
    expect(h.electron.ipcMain.handle).toHaveBeenCalledTimes(1);
  });

  it('the preload exposes one object, lab, implementing LabApi over one channel', async () => {
    const req = createRequire(import.meta.url);
    const Module = req('node:module') as { _load: (r: string, ...a: unknown[]) => unknown };
    const orig = Module._load;
    Module._load = (r: string, ...a: unknown[]) => (r === 'electron' ? h.electron : orig(r, ...a));
    try {
      req(files[1]!);
    } finally {
      Module._load = orig;
    }
    expect(Object.keys(h.exposed)).toEqual(['lab']);
    const lab = h.exposed.lab as Record<string, (...a: unknown[]) => Promise<unknown>>;
    expect(Object.keys(lab).sort()).toEqual([
      'cancel',
      'checkSpec',
      'closeTerminal',
      'doctor',
      'down',
      'drillContinue',
      'drills',
      'fault',
      'heal',
      'listLabs',
      'onEvent',
      'openTerminal',
      'providers',
      'report',
      'reports',
      'resizeTerminal',
      'restoreSnapshot',
      'resume',
      'runDrill',
      'service',
      'snapshots',
      'startWatch',
      'status',
      'stop',
      'stopWatch',
      'takeSnapshot',
      'terminalInput',
      'up',
    ]);
    expect(await lab.listLabs!()).toEqual([]);
    expect(h.invoked[0]).toEqual(['halab:call', 'listLabs', []]);
    await expect(lab.status!('x')).rejects.toEqual({
      name: 'LabError',
      code: 'NO_LAB',
      message: 'there is no lab named x',
      fix: 'create it',
      details: undefined,
    });
    (lab.onEvent as unknown as (cb: () => void) => void)(() => {});
    expect(h.sentChannels).toEqual(['halab:ready']);
  });
});
