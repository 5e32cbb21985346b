import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { LabEvent } from '../api/lab-api.ts';
import { EventChannel } from './events.ts';

const log = (m: string): LabEvent => ({ type: 'step:log', runId: 'r', level: 'info', message: m, at: 0 });
const step = (id: string): LabEvent => ({ type: 'step:start', runId: 'r', stepId: id, title: id, at: 0 });

describe('EventChannel', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('queues everything until the client is ready, then sends it in order in one batch', () => {
    const sent: LabEvent[][] = [];
    const ch = new EventChannel((b) => sent.push(b));
    ch.push(step('a'));
    ch.push(log('1'));
    vi.advanceTimersByTime(1000);
    expect(sent).toEqual([]);
    ch.markReady();
    expect(sent).toEqual([[step('a'), log('1')]]);
  });

  it('coalesces log lines for 100 ms; a non-log event flushes them first (order kept)', () => {
    const sent: LabEvent[][] = [];
    const ch = new EventChannel((b) => sent.push(b));
    ch.markReady();
    for (let i = 0; i < 50; i++) ch.push(log(String(i)));
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(99);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toHaveLength(50);
    ch.push(log('x'));
    ch.push(step('b'));
    expect(sent[1]).toEqual([log('x'), step('b')]);
  });

  it('joins consecutive output of one terminal and flushes it quickly', () => {
    const sent: LabEvent[][] = [];
    const ch = new EventChannel((b) => sent.push(b), { terminalFlushMs: 15 });
    ch.markReady();
    ch.push({ type: 'terminal:data', id: 't', data: 'ab' });
    ch.push({ type: 'terminal:data', id: 't', data: 'cd' });
    ch.push({ type: 'terminal:data', id: 'u', data: 'x' });
    vi.advanceTimersByTime(15);
    expect(sent).toEqual([
      [
        { type: 'terminal:data', id: 't', data: 'abcd' },
        { type: 'terminal:data', id: 'u', data: 'x' },
      ],
    ]);
  });

  it('a full queue drops the oldest log lines first and says so once ready', () => {
    const sent: LabEvent[][] = [];
    const ch = new EventChannel((b) => sent.push(b), { maxQueue: 3 });
    ch.push(step('a'));
    ch.push(log('1'));
    ch.push(log('2'));
    ch.push(log('3'));
    ch.push(step('b'));
    ch.markReady();
    const batch = sent[0]!;
    expect(batch[0]).toMatchObject({ type: 'error', error: { code: 'EVENTS_DROPPED' } });
    expect(batch.slice(1)).toEqual([step('a'), log('3'), step('b')]);
  });

  it('sends nothing after close', () => {
    const sent: LabEvent[][] = [];
    const ch = new EventChannel((b) => sent.push(b));
    ch.markReady();
    ch.push(log('1'));
    ch.close();
    vi.advanceTimersByTime(500);
    ch.push(step('x'));
    expect(sent).toEqual([]);
  });
});
