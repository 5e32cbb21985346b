// The preload's window.lab, with Electron mocked: one function per method of the one list
// (api/lab-api.ts), each a call over the call channel; an error reply is thrown as a plain object.
import { describe, expect, it, vi } from 'vitest';
import { LAB_API_METHODS } from '../provisioning/api/lab-api.ts';
import { CALL_CHANNEL } from './channels.ts';

const invoke = vi.fn();
const exposed: Record<string, unknown> = {};
vi.mock('electron', () => ({
  contextBridge: { exposeInMainWorld: (k: string, v: unknown) => (exposed[k] = v) },
  ipcRenderer: { invoke: (...a: unknown[]) => invoke(...a), on: vi.fn(), send: vi.fn() },
}));

const { buildLabApi } = await import('./preload.ts');

describe('preload', () => {
  it('exposes window.lab with every LabApi method, each forwarding its arguments', async () => {
    const api = buildLabApi() as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    expect(Object.keys(exposed)).toEqual(['lab']);
    for (const m of Object.keys(LAB_API_METHODS)) expect(typeof api[m]).toBe('function');
    invoke.mockResolvedValueOnce({ ok: true, value: { runId: 'r1' } });
    expect(await api.runDrill!('lab1', 'lb-failover', { stepwise: true })).toEqual({ runId: 'r1' });
    expect(invoke).toHaveBeenLastCalledWith(CALL_CHANNEL, 'runDrill', ['lab1', 'lb-failover', { stepwise: true }]);
  });

  it('throws an error reply as a plain object carrying code and fix', async () => {
    const api = buildLabApi();
    invoke.mockResolvedValueOnce({ ok: false, error: { code: 'NO_LAB', message: 'no lab x', fix: 'create it' } });
    await expect(api.status('x')).rejects.toEqual({
      name: 'LabError',
      code: 'NO_LAB',
      message: 'no lab x',
      fix: 'create it',
      details: undefined,
    });
  });
});
