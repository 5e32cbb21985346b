// The one LabApi the screens use: Electron's preload (window.lab) when present, else the
// WebSocket bridge of `halab ui`.
import type { LabApi } from '../../../provisioning/api/lab-api.ts';
import { createBridgeClient, socketUrl, takeToken } from './bridge-client.ts';

declare global {
  interface Window {
    lab?: LabApi;
  }
}

export interface Connection {
  api: LabApi;
  mode: 'electron' | 'browser';
  /** Browser mode without a token: the page was opened without the printed URL. */
  missingToken?: boolean;
}

export function connect(onConnection: (up: boolean) => void): Connection {
  if (window.lab) return { api: window.lab, mode: 'electron' };
  const token = takeToken(window.location, window.sessionStorage);
  if (window.location.hash.includes('token=')) history.replaceState(null, '', window.location.pathname);
  const api = createBridgeClient({ url: socketUrl(window.location, token ?? 'none'), onConnection });
  return { api, mode: 'browser', missingToken: !token };
}
