import { describe, expect, it } from 'vitest';
import type { EngineEvent } from '../api/types.ts';
import { HalabError } from '../errors.ts';
import { forEachLimit, runSteps, type Step } from './runner.ts';

function collect() {
  const events: EngineEvent[] = [];
  return { events, emit: (e: EngineEvent) => events.push(e) };
}

describe('runSteps', () => {
  it('runs steps in order, skips the ones whose done() is true, and emits the stream', async () => {
    const order: string[] = [];
    const steps: Step<{ n: number }>[] = [
      {
        id: 'a',
        title: 'A',
        run: async (c, t) => {
          order.push('a');
          c.n++;
          t.progress(1, 2, 'x');
          t.log('hello', { host: 'm1' });
        },
      },
      {
        id: 'b',
        title: 'B',
        done: async () => true,
        run: async () => {
          order.push('b');
        },
      },
      {
        id: 'c',
        title: 'C',
        done: async () => false,
        run: async (c) => {
          order.push('c');
          c.n++;
        },
      },
    ];
    const { events, emit } = collect();
    const ctx = { n: 0 };
    const res = await runSteps({ lab: 'l', action: 'up', steps, ctx, emit });
    expect(res.ok).toBe(true);
    expect(order).toEqual(['a', 'c']);
    expect(ctx.n).toBe(2);
    expect(events.map((e) => e.type)).toEqual([
      'run:start',
      'step:start',
      'step:progress',
      'step:log',
      'step:end',
      'step:start',
      'step:end',
      'step:start',
      'step:end',
      'run:end',
    ]);
    const ends = events.filter((e) => e.type === 'step:end') as Extract<EngineEvent, { type: 'step:end' }>[];
    expect(ends.map((e) => e.status)).toEqual(['done', 'skipped', 'done']);
    expect(events[0]).toMatchObject({ type: 'run:start', steps: [{ id: 'a' }, { id: 'b' }, { id: 'c' }] });
    expect(events[3]).toMatchObject({ type: 'step:log', host: 'm1', message: 'hello', stepId: 'a' });
  });

  it('stops at the first failure and reports the error without a stack', async () => {
    const ran: string[] = [];
    const steps: Step<null>[] = [
      {
        id: 'a',
        title: 'A',
        run: async () => {
          ran.push('a');
          throw new HalabError('BOOM', 'it broke', { fix: 'mend it' });
        },
      },
      {
        id: 'b',
        title: 'B',
        run: async () => {
          ran.push('b');
        },
      },
    ];
    const { events, emit } = collect();
    const res = await runSteps({ lab: 'l', action: 'up', steps, ctx: null, emit });
    expect(res.ok).toBe(false);
    expect(res.cancelled).toBe(false);
    expect(ran).toEqual(['a']);
    expect(res.error).toEqual({ code: 'BOOM', message: 'it broke', fix: 'mend it', details: undefined });
    expect(events.at(-2)).toMatchObject({ type: 'step:end', stepId: 'a', status: 'failed' });
    expect(JSON.stringify(events)).not.toMatch(/at .*\.ts:\d+/);
  });

  it('honours the AbortSignal: the running step ends cancelled and no later step runs', async () => {
    const ac = new AbortController();
    const ran: string[] = [];
    const steps: Step<null>[] = [
      {
        id: 'a',
        title: 'A',
        run: async () => {
          ran.push('a');
          ac.abort();
        },
      },
      {
        id: 'b',
        title: 'B',
        run: async () => {
          ran.push('b');
        },
      },
    ];
    const { events, emit } = collect();
    const res = await runSteps({ lab: 'l', action: 'up', steps, ctx: null, emit, signal: ac.signal });
    expect(res.cancelled).toBe(true);
    expect(ran).toEqual(['a']);
    expect(events.filter((e) => e.type === 'step:end')).toMatchObject([{ stepId: 'a', status: 'cancelled' }]);
  });

  it('calls onStepDone after each finished step (the state records progress for resume)', async () => {
    const done: string[] = [];
    const steps: Step<null>[] = [
      { id: 'a', title: 'A', run: async () => {} },
      { id: 'b', title: 'B', done: async () => true, run: async () => {} },
    ];
    await runSteps({
      lab: 'l',
      action: 'up',
      steps,
      ctx: null,
      emit: () => {},
      onStepDone: (id, st) => {
        done.push(`${id}:${st}`);
      },
    });
    expect(done).toEqual(['a:done', 'b:skipped']);
  });
});

describe('forEachLimit', () => {
  it('never runs more than `limit` at once and runs every item', async () => {
    let live = 0,
      peak = 0;
    const seen: number[] = [];
    await forEachLimit([1, 2, 3, 4, 5, 6, 7], 3, async (x) => {
      live++;
      peak = Math.max(peak, live);
      await new Promise((r) => setTimeout(r, 5));
      seen.push(x);
      live--;
    });
    expect(peak).toBe(3);
    expect(seen.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
  it('rethrows the first error after the others finish', async () => {
    const seen: number[] = [];
    await expect(
      forEachLimit([1, 2, 3], 2, async (x) => {
        seen.push(x);
        if (x === 2) throw new Error('two');
      }),
    ).rejects.toThrow('two');
    expect(seen.sort()).toEqual([1, 2, 3]);
  });
});
