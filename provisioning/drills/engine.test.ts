// The runner without a lab: health checks and the lab lock are stubbed, the drill has no probe.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { DrillEvent } from '../api/drills.ts';
import type { LabHandle } from '../engine/lab.ts';
import { executeDrill, infoOf, newRunId, type Drill } from './engine.ts';

const health = vi.hoisted(() => ({ healthy: true, healCalls: 0 }));
vi.mock('./health.ts', () => ({
  waitHealthy: async () => ({
    ok: health.healthy,
    checks: [
      { id: 'x', title: 'X', ok: health.healthy, expected: 'fine', observed: health.healthy ? 'fine' : 'broken' },
    ],
    ms: 5,
  }),
  healLab: async () => {
    health.healCalls++;
  },
  labHealth: async () => [],
}));
vi.mock('../state/store.ts', () => ({ acquireLock: async () => async () => {}, readState: async () => undefined }));

const lab = {
  state: { name: 'fake', spec: { name: 'fake', timers: {}, hosts: [] } },
  dir: '/nonexistent',
} as unknown as LabHandle;

function drill(o: { fail?: string; log: string[]; needs?: string[]; slow?: boolean }): Drill {
  const step = (id: string, phase: 'explain' | 'act' | 'observe' | 'verify') => ({
    id,
    phase,
    title: `step ${id}`,
    explain: `about ${id}`,
    run: async (ctx: Parameters<Drill['steps'][number]['run']>[0]) => {
      o.log.push(id);
      if (o.slow && id === 'act') await ctx.sleep(10_000);
      if (id === o.fail) throw new Error(`${id} broke`);
      if (id === 'act') ctx.mark('fault!', 'fault');
      if (id === 'verify') {
        ctx.check({ id: 'c', title: 'C', ok: true, expected: 'e', observed: 'o' });
        ctx.measure({ id: 'm', label: 'M', value: 1200, unit: 'ms', predictionId: 'p' });
      }
    },
  });
  return {
    info: { name: 'fake-drill', title: 'Fake', concept: 'c', article: '§0', needs: 'nothing' },
    needs: () => o.needs ?? [],
    predict: () => [{ id: 'p', label: 'P', value: 1000, margin: 100, unit: 'ms', formula: 'f' }],
    probe: false,
    steps: [step('explain', 'explain'), step('act', 'act'), step('verify', 'verify')],
    cleanup: async () => {
      o.log.push('cleanup');
    },
  };
}

beforeEach(() => {
  health.healthy = true;
  health.healCalls = 0;
});

describe('executeDrill', () => {
  it('runs every step, then the cleanup and the health check; verdicts from the predictions', async () => {
    const log: string[] = [];
    const events: DrillEvent[] = [];
    const out = await executeDrill(lab, drill({ log }), { emit: (e) => events.push(e) });
    expect(log).toEqual(['explain', 'act', 'verify', 'cleanup']);
    expect(health.healCalls).toBe(1);
    expect(out.result.ok).toBe(true);
    expect(out.result.measurements[0]).toMatchObject({ id: 'm', verdict: 'worse than predicted' });
    expect(out.result.checks.map((c) => c.id)).toEqual(['c', 'healthy-again']);
    expect(out.result.marks.map((m) => m.label)).toEqual(['fault!', 'cleanup']);
    const steps = events
      .filter((e) => e.type === 'drill:step')
      .map((e) => e.type === 'drill:step' && `${e.stepId}:${e.status}`);
    expect(steps).toEqual([
      'preflight:start',
      'preflight:done',
      'explain:start',
      'explain:done',
      'act:start',
      'act:done',
      'verify:start',
      'verify:done',
      'cleanup:start',
      'cleanup:done',
      'healthy-again:start',
      'healthy-again:done',
    ]);
    expect(events[0]).toMatchObject({
      type: 'drill:start',
      drill: 'fake-drill',
      lab: 'fake',
      steps: infoOf(drill({ log: [] })).steps,
    });
    expect(out.events).toEqual(events);
  });

  it('a failing step stops the drill, the cleanup still runs, the result says why', async () => {
    const log: string[] = [];
    const events: DrillEvent[] = [];
    const out = await executeDrill(lab, drill({ log, fail: 'act' }), { emit: (e) => events.push(e) });
    expect(log).toEqual(['explain', 'act', 'cleanup']);
    expect(out.result.ok).toBe(false);
    expect(out.result.error).toBe('act broke');
    expect(events.some((e) => e.type === 'drill:step' && e.stepId === 'act' && e.status === 'failed')).toBe(true);
    expect(events.some((e) => e.type === 'drill:step' && e.stepId === 'healthy-again' && e.status === 'done')).toBe(
      true,
    );
  });

  it('stepwise: waits before each step (not before the cleanup)', async () => {
    const log: string[] = [];
    const events: DrillEvent[] = [];
    let waits = 0;
    const out = await executeDrill(lab, drill({ log }), {
      emit: (e) => events.push(e),
      stepwise: true,
      waitForContinue: async () => {
        waits++;
        log.push(`wait${waits}`);
      },
    });
    expect(out.result.ok).toBe(true);
    expect(log).toEqual(['wait1', 'wait2', 'explain', 'wait3', 'act', 'wait4', 'verify', 'cleanup']);
    const waiting = events.filter((e) => e.type === 'drill:step' && e.status === 'waiting');
    expect(waiting.map((e) => e.type === 'drill:step' && e.stepId)).toEqual(['preflight', 'explain', 'act', 'verify']);
    expect(waiting[1]).toMatchObject({ text: 'about explain' });
  });

  it('cancelling stops the drill at once and still cleans up', async () => {
    const log: string[] = [];
    const ac = new AbortController();
    const p = executeDrill(lab, drill({ log, slow: true }), { emit: () => {}, signal: ac.signal });
    await new Promise((r) => setTimeout(r, 100));
    ac.abort();
    const out = await p;
    expect(out.result.error).toBe('cancelled');
    expect(log).toEqual(['explain', 'act', 'cleanup']);
  });

  it('a lab that is not healthy at the end fails the drill', async () => {
    const log: string[] = [];
    const d = drill({ log });
    d.cleanup = async () => {
      log.push('cleanup');
      health.healthy = false;
    };
    const out = await executeDrill(lab, d, { emit: () => {} });
    expect(out.result.ok).toBe(false);
    expect(out.result.checks.find((c) => c.id === 'healthy-again')).toMatchObject({ ok: false, observed: 'X: broken' });
  });

  it('refuses a lab that lacks what the drill needs', async () => {
    const log: string[] = [];
    const out = await executeDrill(lab, drill({ log, needs: ['1 master'] }), { emit: () => {} });
    expect(out.result.ok).toBe(false);
    expect(out.result.error).toMatch(/lacks: 1 master/);
    expect(log).toEqual([]);
  });
});

describe('newRunId', () => {
  it('sorts by time and names the drill', () => {
    const id = newRunId('master-down', new Date('2026-11-26T15:59:17.123Z'));
    expect(id).toMatch(/^20261126T155917Z-master-down-[0-9a-f]{4}$/);
  });
});
