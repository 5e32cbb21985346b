// The service's operations by hand, over a fake engine and a fake operate module.
import { describe, expect, it } from 'vitest';
import type { DrillEvent } from '../api/drills.ts';
import type { LabEvent } from '../api/lab-api.ts';
import { fakeEngine } from './fake-engine.testutil.ts';
import type { OperateModule } from './operate.ts';
import { createLabService } from './service.ts';
import { validateCall } from './schemas.ts';

function fakeOperate(calls: string[]): OperateModule {
  return {
    fault: async (_l, host, action) => {
      calls.push(`fault ${host} ${action}`);
      return { changed: true, message: `${host}: ${action}` };
    },
    serviceAction: async (_l, host, name, action) => {
      calls.push(`service ${host} ${name} ${action}`);
      return { changed: false, message: `${name} on ${host} is already down`, command: 's6-svc -d x' };
    },
    heal: async () => ['lb1: powered on'],
    startWatch: async (_l, o) => {
      calls.push('watch start');
      setTimeout(() => {
        o.onSamples?.([{ t: 1, kind: 'read', op: 'GET /readyz', ok: true, latencyMs: 3 }]);
        o.onMark?.({ t: 2, kind: 'fault', label: 'lb1: power-off' });
      }, 5);
      return {
        runId: 'w-1',
        startedAt: 1,
        stop: async () => {
          calls.push('watch stop');
          return {
            result: {
              runId: 'w-1',
              drill: 'watch',
              lab: 'lab1',
              startedAt: '',
              durationMs: 1,
              ok: true,
              predictions: [],
              measurements: [],
              probe: [],
              checks: [],
              marks: [],
              walkthrough: [],
            },
            reportDir: '/r/w-1',
          };
        },
      };
    },
    restoreSnapshot: async (_l, src, o) => {
      calls.push(`restore ${src.snapshot}`);
      o.emit({
        type: 'drill:start',
        runId: 'r-1',
        drill: 'snapshot-restore',
        lab: 'lab1',
        predictions: [],
        steps: [],
        at: 1,
      });
      return { result: {} as never };
    },
    stop: async (name, o) => {
      calls.push(`stop ${name}`);
      o.emit({ type: 'run:start', runId: 's-1', lab: name, action: 'stop', steps: [], at: 1 });
      o.emit({ type: 'run:end', runId: 's-1', ok: true, durationMs: 1, at: 2 });
      return { ok: true, runId: 's-1', durationMs: 1, cancelled: false };
    },
  };
}

describe('LabService: operating by hand', () => {
  it('faults, service actions and heal go to the operate module with the lab open', async () => {
    const calls: string[] = [];
    const eng = fakeEngine({ operate: async () => fakeOperate(calls) });
    const svc = createLabService(eng);
    expect(await svc.fault('lab1', 'lb1', 'power-off')).toEqual({ changed: true, message: 'lb1: power-off' });
    expect(await svc.service('lab1', 'm1', 'etcd', 'stop')).toEqual({
      changed: false,
      message: 'etcd on m1 is already down',
    });
    expect(await svc.heal('lab1')).toEqual({ did: ['lb1: powered on'] });
    expect(calls).toEqual(['fault lb1 power-off', 'service m1 etcd stop']);
    expect(eng.calls.filter((c) => c.startsWith('close'))).toHaveLength(3);
  });

  it('a watch streams drill events beside a running drill, and ends with its report when stopped', async () => {
    const calls: string[] = [];
    const svc = createLabService(fakeEngine({ operate: async () => fakeOperate(calls) }));
    const events: LabEvent[] = [];
    svc.onEvent((e) => events.push(e));
    const { runId } = await svc.startWatch('lab1');
    expect(runId).toBe('w-1');
    await expect(svc.startWatch('lab1')).rejects.toMatchObject({ code: 'LAB_BUSY' });
    // a restore is not blocked by a watch
    expect(await svc.restoreSnapshot('lab1', 'm1:/var/lib/etcd-snapshots/snap-20261130T000000Z.db')).toEqual({
      runId: 'r-1',
    });
    await new Promise((r) => setTimeout(r, 20));
    await svc.stopWatch(runId);
    await new Promise((r) => setTimeout(r, 20));
    const types = events.filter((e) => (e as DrillEvent).runId === 'w-1').map((e) => e.type);
    expect(types).toEqual(['drill:start', 'drill:samples', 'drill:mark', 'drill:end']);
    expect(events.find((e) => e.type === 'drill:end' && e.runId === 'w-1')).toMatchObject({ reportDir: '/r/w-1' });
    expect(calls).toContain('restore m1:/var/lib/etcd-snapshots/snap-20261130T000000Z.db');
    await expect(svc.stopWatch(runId)).rejects.toMatchObject({ code: 'NO_RUN' });
  });

  it('stop runs in the background like down', async () => {
    const calls: string[] = [];
    const svc = createLabService(fakeEngine({ operate: async () => fakeOperate(calls) }));
    expect(await svc.stop('lab1')).toEqual({ runId: 's-1' });
    expect(calls).toEqual(['stop lab1']);
  });

  it('the boundary refuses a fault, a component or a snapshot that is not one', () => {
    expect(validateCall('fault', ['lab1', 'lb1', 'power-off']).method).toBe('fault');
    expect(
      validateCall('restoreSnapshot', [
        'lab1',
        'm2:/var/lib/etcd-snapshots/snap-20261130T010203Z.db',
        { stepwise: true },
      ]).args,
    ).toHaveLength(3);
    for (const [m, a] of [
      ['fault', ['lab1', 'lb1', 'explode']],
      ['service', ['lab1', 'm1', 'etcd; rm -rf /', 'stop']],
      ['service', ['lab1', 'm1', 'etcd', 'reboot']],
      ['restoreSnapshot', ['lab1', '/etc/shadow']],
      ['restoreSnapshot', ['lab1', 'm1:/x/../snap-20261130T010203Z.db; rm']],
    ] as const)
      expect(() => validateCall(m, a), `${m} ${JSON.stringify(a)}`).toThrow(
        expect.objectContaining({ code: 'BAD_INPUT' }),
      );
  });
});
