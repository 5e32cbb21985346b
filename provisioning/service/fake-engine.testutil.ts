// A fake engine for the service's unit tests: records calls, emits scripted events.
import type { EngineEvent, LabState, LabStatus } from '../api/types.ts';
import type { LabHandle } from '../engine/lab.ts';
import type { ShellSession } from '../exec/shell.ts';
import { defaultSpec } from '../spec/schema.ts';
import type { EngineDeps } from './service.ts';

export function fakeEngine(over: Partial<EngineDeps> = {}): EngineDeps & { calls: string[] } {
  const calls: string[] = [];
  const states = new Map<string, LabState>();
  const deps: EngineDeps & { calls: string[] } = {
    calls,
    listLabs: async () => [],
    readState: async (n) => states.get(n),
    labDir: (n) => `/tmp/fake/${n}`,
    up: async (spec, o) => {
      calls.push(`up ${spec.name}`);
      o.emit({
        type: 'run:start',
        runId: 'run1',
        lab: spec.name,
        action: 'up',
        steps: [{ id: 's1', title: 'one' }],
        at: 1,
      });
      await new Promise<void>((res) => {
        if (o.signal?.aborted) return res();
        o.signal?.addEventListener('abort', () => res(), { once: true });
        setTimeout(res, 50);
      });
      const cancelled = !!o.signal?.aborted;
      o.emit({
        type: 'run:end',
        runId: 'run1',
        ok: !cancelled,
        durationMs: 1,
        at: 2,
        error: cancelled ? { code: 'CANCELLED', message: 'up was cancelled' } : undefined,
      });
      return { ok: !cancelled, runId: 'run1', durationMs: 1, cancelled };
    },
    down: async (name, o) => {
      calls.push(`down ${name}`);
      o.emit({ type: 'run:start', runId: 'down1', lab: name, action: 'down', steps: [], at: 1 });
      o.emit({ type: 'run:end', runId: 'down1', ok: true, durationMs: 1, at: 2 });
      return { ok: true, runId: 'down1', durationMs: 1, cancelled: false, leftovers: [] };
    },
    status: async (name) =>
      ({ lab: name, phase: 'ready', provider: 'netns', vip: '10.0.0.10', hosts: [] }) satisfies LabStatus,
    machineNetworks: async () => ({ cidrs: [{ cidr: '10.99.0.0/24', source: 'address 10.99.0.1/24 on eth9' }] }),
    ownInterfaces: async (n) => (n === 'lab1' ? [`br-${n}`] : []),
    doctor: async () => [{ id: 'root', title: 'root', ok: true, required: true }],
    providers: () => [{ name: 'netns', title: 'netns', available: true }],
    openLab: async (name) => {
      calls.push(`open ${name}`);
      return {
        state: { ...(states.get(name) ?? { name, spec: defaultSpec(name) }) },
        dir: `/tmp/fake/${name}`,
        close: async () => {
          calls.push(`close ${name}`);
        },
      } as unknown as LabHandle;
    },
    openShell: async (_lab, host) => {
      const data: ((b: Buffer) => void)[] = [];
      const exit: ((c: number) => void)[] = [];
      const s: ShellSession & { emitData(t: string | Buffer): void; exit(c: number): void } = {
        write: (d) => {
          calls.push(`write ${host} ${String(d)}`);
        },
        resize: (c, r) => {
          calls.push(`resize ${c}x${r}`);
        },
        onData: (cb) => {
          data.push(cb);
        },
        onExit: (cb) => {
          exit.push(cb);
        },
        close: () => {
          calls.push(`close-shell ${host}`);
        },
        emitData: (t) => data.forEach((cb) => cb(Buffer.isBuffer(t) ? t : Buffer.from(t))),
        exit: (c) => exit.forEach((cb) => cb(c)),
      };
      shells.push(s);
      return s;
    },
    saveSnapshot: async () => ({
      master: 'm2',
      file: '/var/lib/etcd-snapshots/x.db',
      sizeBytes: 10,
      createdAt: '',
      ageS: 0,
      status: 'good',
      origin: 'manual',
      revision: 5,
    }),
    listSnapshots: async () => ({ snapshots: [], unreachable: [{ master: 'm3', error: 'm3 is powered off' }] }),
    drills: async () => ({
      listDrills: () => [
        { name: 'lb-failover', title: 'LB failover', concept: 'c', article: '§1', needs: '2 LBs', steps: [] },
      ],
      runDrill: async (_lab, name, o) => {
        o.emit({ type: 'drill:start', runId: 'd1', drill: name, lab: 'x', predictions: [], steps: [], at: 1 });
        if (o.stepwise) {
          o.emit({ type: 'drill:step', runId: 'd1', stepId: 'a', phase: 'act', title: 'a', status: 'waiting', at: 2 });
          await o.waitForContinue?.();
        }
        const result = {
          runId: 'd1',
          drill: name,
          lab: 'x',
          startedAt: '',
          durationMs: 1,
          ok: true,
          predictions: [],
          measurements: [],
          probe: [],
          checks: [],
          marks: [],
          walkthrough: [],
        };
        o.emit({ type: 'drill:end', runId: 'd1', ok: true, result, at: 3 });
        return result;
      },
      listReports: async () => [],
      readReport: async () => {
        throw new Error('none');
      },
    }),
    ...over,
  };
  const shells: (ShellSession & { emitData(t: string | Buffer): void; exit(c: number): void })[] = [];
  (deps as unknown as { shells: typeof shells }).shells = shells;
  (deps as unknown as { states: typeof states }).states = states;
  return deps;
}

export type Events = EngineEvent[];
