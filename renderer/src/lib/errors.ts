// Errors as the UI shows them: ErrorInfo (code, message, fix), whatever crossed the boundary
// (a LabError from the bridge client, a plain object from the Electron preload, an Error).
import type { ErrorInfo } from '../../../provisioning/api/types.ts';

export class LabError extends Error implements ErrorInfo {
  code: string;
  fix?: string;
  details?: string;
  constructor(info: ErrorInfo) {
    super(info.message);
    this.name = 'LabError';
    this.code = info.code;
    this.fix = info.fix;
    this.details = info.details;
  }
}

export function asErrorInfo(err: unknown): ErrorInfo {
  if (err && typeof err === 'object') {
    const o = err as Partial<ErrorInfo>;
    if (typeof o.message === 'string') {
      return {
        code: typeof o.code === 'string' ? o.code : 'ERROR',
        message: o.message,
        fix: typeof o.fix === 'string' ? o.fix : undefined,
        details: typeof o.details === 'string' ? o.details : undefined,
      };
    }
  }
  return { code: 'ERROR', message: String(err) };
}
