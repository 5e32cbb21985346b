// IPC handlers of the main process: every call is checked (its sender is our page, its method
// and arguments match the LabApi contract: the service's zod schemas) before it reaches the
// service; events go to the page on ONE channel, batched, queued until the page is ready.
// Failures the user must see (a changed host key, a run that broke) also become dialogs.
import type { IpcMain, IpcMainEvent, IpcMainInvokeEvent, WebContents } from 'electron';
import type { LabEvent, LabReply } from '../provisioning/api/lab-api.ts';
import type { ErrorInfo } from '../provisioning/api/types.ts';
import type { LabService, LabSession } from '../provisioning/service/service.ts';
import { validateCall } from '../provisioning/service/schemas.ts';
import { toErrorInfo } from '../provisioning/errors.ts';
import { APP_ORIGIN, CALL_CHANNEL, EVENTS_CHANNEL, READY_CHANNEL } from './channels.ts';

export interface IpcDeps {
  ipcMain: Pick<IpcMain, 'handle' | 'on' | 'removeHandler' | 'removeAllListeners'>;
  service: Pick<LabService, 'openSession'>;
  /** The window's contents (events are sent there). */
  contents: Pick<WebContents, 'send' | 'isDestroyed' | 'id'>;
  /** Show an error to the user as a dialog. */
  showError(info: ErrorInfo, kind: 'host-key' | 'error'): void;
}

/** Only our own page (app://halab) may call. */
export function trustedSender(e: Pick<IpcMainInvokeEvent | IpcMainEvent, 'senderFrame'>): boolean {
  const url = e.senderFrame?.url ?? '';
  return url === APP_ORIGIN || url.startsWith(`${APP_ORIGIN}/`);
}

/** Errors that also deserve a dialog (not just the page's banner). */
export function dialogKind(info: ErrorInfo): 'host-key' | 'error' | undefined {
  if (info.code === 'HOST_KEY_MISMATCH') return 'host-key';
  if (info.code === 'INTERNAL') return 'error';
  return undefined;
}

export interface IpcHandle {
  session: LabSession;
  /** What a call does, without Electron (tests call it). */
  handleCall(e: Pick<IpcMainInvokeEvent, 'senderFrame'>, method: unknown, args: unknown): Promise<LabReply>;
  dispose(): void;
}

export function registerIpc(d: IpcDeps): IpcHandle {
  const session = d.service.openSession((batch: LabEvent[]) => {
    if (!d.contents.isDestroyed()) d.contents.send(EVENTS_CHANNEL, batch);
    for (const e of batch) {
      if (e.type === 'error') d.showError(e.error, dialogKind(e.error) ?? 'error');
      if (e.type === 'run:end' && e.error && dialogKind(e.error) === 'host-key') d.showError(e.error, 'host-key');
    }
  });

  async function handleCall(
    e: Pick<IpcMainInvokeEvent, 'senderFrame'>,
    method: unknown,
    args: unknown,
  ): Promise<LabReply> {
    if (!trustedSender(e))
      return { ok: false, error: { code: 'FORBIDDEN', message: 'calls are accepted from the HA Lab page only' } };
    try {
      validateCall(method, args);
    } catch (err) {
      return { ok: false, error: toErrorInfo(err) };
    }
    const reply = await session.call(method, args);
    if (!reply.ok) {
      const kind = dialogKind(reply.error);
      if (kind) d.showError(reply.error, kind);
    }
    return reply;
  }

  d.ipcMain.handle(CALL_CHANNEL, (e, method: unknown, args: unknown) => handleCall(e, method, args));
  d.ipcMain.on(READY_CHANNEL, (e: IpcMainEvent) => {
    if (trustedSender(e)) session.ready();
  });

  return {
    session,
    handleCall,
    dispose() {
      d.ipcMain.removeHandler(CALL_CHANNEL);
      d.ipcMain.removeAllListeners(READY_CHANNEL);
      session.close();
    },
  };
}
