import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { errorDialog } from './dialogs.ts';
import { ELECTRON_CSP, resolveAsset, serveAsset } from './protocol.ts';
import { hardenContents, windowOptions } from './window.ts';

vi.mock('electron', () => ({}));

describe('window', () => {
  it('has the secure defaults spelled out', () => {
    const o = windowOptions({ preload: '/x/preload.cjs', dark: false });
    expect(o.webPreferences).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      webviewTag: false,
      preload: '/x/preload.cjs',
    });
  });

  it('denies navigation away from the app, new windows, webviews and permissions', () => {
    const on = new Map<string, (...a: unknown[]) => void>();
    let openHandler: (() => { action: string }) | undefined;
    let perm: ((wc: unknown, p: string, cb: (ok: boolean) => void) => void) | undefined;
    hardenContents(
      {
        on: (ev: string, f: (...a: unknown[]) => void) => on.set(ev, f),
        setWindowOpenHandler: (f: () => { action: string }) => (openHandler = f),
      } as never,
      { setPermissionRequestHandler: (f: typeof perm) => (perm = f), setPermissionCheckHandler: () => {} } as never,
    );
    const prevent = vi.fn();
    on.get('will-navigate')!({ preventDefault: prevent }, 'https://evil.example/');
    expect(prevent).toHaveBeenCalledTimes(1);
    on.get('will-navigate')!({ preventDefault: prevent }, 'app://halab/index.html');
    expect(prevent).toHaveBeenCalledTimes(1);
    on.get('will-attach-webview')!({ preventDefault: prevent });
    expect(prevent).toHaveBeenCalledTimes(2);
    expect(openHandler!()).toEqual({ action: 'deny' });
    const cb = vi.fn();
    perm!(null, 'media', cb);
    expect(cb).toHaveBeenCalledWith(false);
  });
});

describe('app:// protocol', () => {
  const root = mkdtempSync(join(tmpdir(), 'halab-proto-'));
  writeFileSync(join(root, 'index.html'), '<title>x</title>');
  it('serves the renderer with a strict CSP', async () => {
    const r = await serveAsset(root, 'app://halab/');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-security-policy')).toBe(ELECTRON_CSP);
    expect(ELECTRON_CSP).toContain("script-src 'self'");
    expect(ELECTRON_CSP).not.toContain('unsafe-eval');
  });
  it('never leaves the renderer directory', async () => {
    expect(resolveAsset(root, 'app://halab/../../etc/passwd')).toBe(join(root, 'etc/passwd'));
    expect(resolveAsset(root, 'app://halab/%2e%2e/%2e%2e/etc/passwd')).toBe(join(root, 'etc/passwd'));
    // an encoded slash survives URL parsing: decoded, it would climb out; refused
    expect(resolveAsset(root, 'app://halab/..%2f..%2f..%2fetc/passwd')).toBeUndefined();
    expect((await serveAsset(root, 'app://halab/..%2f..%2f..%2fetc/passwd')).status).toBe(404);
  });
});

describe('error dialogs', () => {
  it('show the message and the fix, never a stack', async () => {
    const showMessageBox = vi.fn(async () => ({ response: 0 }));
    await errorDialog(
      { showMessageBox } as never,
      undefined,
      { code: 'HOST_KEY_MISMATCH', message: 'host key of m1 has changed', fix: 'recreate the lab' },
      'host-key',
    );
    const opts = (
      showMessageBox.mock.calls[0] as unknown as [{ type: string; title: string; message: string; detail: string }]
    )[0];
    expect(opts.type).toBe('warning');
    expect(opts.title).toBe('Host key changed');
    expect(opts.message).toContain('host key of m1 has changed');
    expect(opts.detail).toBe('Fix: recreate the lab');
  });
});
