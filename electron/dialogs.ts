// Errors as dialogs: the message, the fix, the details. Never a stack trace.
import type { BrowserWindow, Dialog } from 'electron';
import type { ErrorInfo } from '../provisioning/api/types.ts';

export function errorDialog(
  dialog: Pick<Dialog, 'showMessageBox'>,
  win: BrowserWindow | undefined,
  info: ErrorInfo,
  kind: 'host-key' | 'error',
): Promise<unknown> {
  const opts = {
    type: kind === 'host-key' ? ('warning' as const) : ('error' as const),
    title: kind === 'host-key' ? 'Host key changed' : 'HA Lab',
    message:
      kind === 'host-key'
        ? `${info.message}. HA Lab refused to connect: the host is not the one recorded when the lab was created.`
        : info.message,
    detail: [info.fix ? `Fix: ${info.fix}` : '', info.details ?? ''].filter(Boolean).join('\n\n'),
    buttons: ['OK'],
    noLink: true,
  };
  return win ? dialog.showMessageBox(win, opts) : dialog.showMessageBox(opts);
}
