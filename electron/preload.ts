// The preload (sandboxed, context-isolated): exposes ONE typed object, window.lab, implementing
// LabApi over IPC. No ipcRenderer, no channel names, no Node reach the page. Errors arrive as
// plain ErrorInfo objects (they cross the context bridge intact; Error properties would not).
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import {
  LAB_API_METHODS,
  type LabApi,
  type LabApiMethod,
  type LabEvent,
  type LabReply,
} from '../provisioning/api/lab-api.ts';
import { CALL_CHANNEL, EVENTS_CHANNEL, READY_CHANNEL } from './channels.ts';

async function call(method: LabApiMethod, args: unknown[]): Promise<unknown> {
  const reply = (await ipcRenderer.invoke(CALL_CHANNEL, method, args)) as LabReply;
  if (reply.ok) return reply.value ?? undefined;
  // a plain object: contextBridge copies it whole (an Error would lose code and fix)
  throw {
    name: 'LabError',
    code: reply.error.code,
    message: reply.error.message,
    fix: reply.error.fix,
    details: reply.error.details,
  };
}

export function buildLabApi(): LabApi {
  const listeners = new Set<(e: LabEvent) => void>();
  let subscribed = false;
  const api: Record<string, unknown> = {
    onEvent(cb: (e: LabEvent) => void) {
      listeners.add(cb);
      if (!subscribed) {
        subscribed = true;
        ipcRenderer.on(EVENTS_CHANNEL, (_e: IpcRendererEvent, batch: LabEvent[]) => {
          for (const ev of batch) for (const l of listeners) l(ev);
        });
        ipcRenderer.send(READY_CHANNEL);
      }
      return () => {
        listeners.delete(cb);
      };
    },
  };
  for (const m of Object.keys(LAB_API_METHODS) as LabApiMethod[]) api[m] = (...args: unknown[]) => call(m, args);
  return api as unknown as LabApi;
}

contextBridge.exposeInMainWorld('lab', buildLabApi());
