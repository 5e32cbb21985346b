// Electron main process: thin. The window (window.ts), the app:// protocol (protocol.ts), the
// IPC handlers (ipc.ts) over the Node service (provisioning/service), errors as dialogs
// (dialogs.ts). No engine logic here.
import { app, BrowserWindow, dialog, ipcMain, nativeTheme, protocol } from 'electron';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toErrorInfo } from '../provisioning/errors.ts';
import { createLabService } from '../provisioning/service/service.ts';
import { APP_ORIGIN, APP_SCHEME } from './channels.ts';
import { errorDialog } from './dialogs.ts';
import { registerIpc, type IpcHandle } from './ipc.ts';
import { serveAsset } from './protocol.ts';
import { hardenContents, windowOptions } from './window.ts';

const here = dirname(fileURLToPath(import.meta.url));
const RENDERER = join(here, '..', 'renderer', 'dist');

protocol.registerSchemesAsPrivileged([
  { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
]);

const service = createLabService();
let win: BrowserWindow | undefined;
let ipc: IpcHandle | undefined;

function createWindow() {
  win = new BrowserWindow(
    windowOptions({
      preload: join(here, 'preload.cjs'),
      icon: join(here, '..', 'build', 'icons', '512x512.png'),
      dark: nativeTheme.shouldUseDarkColors,
    }),
  );
  hardenContents(win.webContents, win.webContents.session);
  ipc = registerIpc({
    ipcMain,
    service,
    contents: win.webContents,
    showError: (info, kind) => void errorDialog(dialog, win, info, kind),
  });
  win.once('ready-to-show', () => win?.show());
  win.on('closed', () => {
    ipc?.dispose();
    ipc = undefined;
    win = undefined;
  });
  void win.loadURL(`${APP_ORIGIN}/index.html`);
}

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on('second-instance', () => {
    if (win?.isMinimized()) win.restore();
    win?.focus();
  });
  app.on('web-contents-created', (_e, contents) => hardenContents(contents));
  void app.whenReady().then(() => {
    protocol.handle(APP_SCHEME, (req) => serveAsset(RENDERER, req.url));
    createWindow();
    app.on('activate', () => {
      if (!win) createWindow();
    });
  });
  app.on('window-all-closed', () => {
    void service.dispose().finally(() => app.quit());
  });
  process.on('uncaughtException', (err) => dialog.showErrorBox('HA Lab', toErrorInfo(err).message));
  process.on('unhandledRejection', (err) => dialog.showErrorBox('HA Lab', toErrorInfo(err).message));
}
