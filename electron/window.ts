// The one window, with Electron's secure defaults spelled out: context isolation, sandbox, no
// Node in the page, no navigation away from the app, no new windows, no webviews, no permissions.
import type { BrowserWindowConstructorOptions, Session, WebContents } from 'electron';
import { APP_ORIGIN } from './channels.ts';

export function windowOptions(o: { preload: string; icon?: string; dark: boolean }): BrowserWindowConstructorOptions {
  return {
    width: 1320,
    height: 860,
    minWidth: 960,
    minHeight: 640,
    show: false,
    title: 'HA Lab',
    icon: o.icon,
    backgroundColor: o.dark ? '#111418' : '#f6f7f9',
    autoHideMenuBar: true,
    webPreferences: {
      preload: o.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
    },
  };
}

/** Deny everything that would take the page elsewhere or grant it more. */
export function hardenContents(
  contents: Pick<WebContents, 'on' | 'setWindowOpenHandler'>,
  session?: Pick<Session, 'setPermissionRequestHandler' | 'setPermissionCheckHandler'>,
): void {
  contents.on('will-navigate', (e: { preventDefault(): void }, url: string) => {
    if (!url.startsWith(`${APP_ORIGIN}/`)) e.preventDefault();
  });
  contents.on('will-redirect', (e: { preventDefault(): void }, url: string) => {
    if (!url.startsWith(`${APP_ORIGIN}/`)) e.preventDefault();
  });
  contents.on('will-attach-webview', (e: { preventDefault(): void }) => e.preventDefault());
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  session?.setPermissionRequestHandler((_wc, _permission, cb) => cb(false));
  session?.setPermissionCheckHandler(() => false);
}
