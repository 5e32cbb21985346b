import { describe, expect, it } from 'vitest';
import type { LabEvent } from '../../../../provisioning/api/lab-api.ts';
import type { DrillResult } from '../../../../provisioning/api/drills.ts';
import { initialEvents, latestDrill, latestRun, logsOf, MAX_LOGS, reduce, reduceAll, runProgress } from './events.ts';

const start: LabEvent = {
  type: 'run:start',
  runId: 'r1',
  lab: 'lab1',
  action: 'up',
  steps: [
    { id: 'a', title: 'A' },
    { id: 'b', title: 'B' },
    { id: 'c', title: 'C' },
  ],
  at: 1000,
};

describe('event reducer: runs', () => {
  it('follows a run through its steps: status, progress, durations, per-host logs', () => {
    const s = reduceAll(initialEvents(), [
      start,
      { type: 'step:start', runId: 'r1', stepId: 'a', title: 'A', at: 1001 },
      { type: 'step:end', runId: 'r1', stepId: 'a', status: 'skipped', durationMs: 3, at: 1004 },
      { type: 'step:start', runId: 'r1', stepId: 'b', title: 'B', at: 1005 },
      { type: 'step:progress', runId: 'r1', stepId: 'b', done: 1, total: 4, detail: 'hosts', at: 1006 },
      { type: 'step:log', runId: 'r1', stepId: 'b', host: 'm1', level: 'info', message: 'etcd up', at: 1007 },
      { type: 'step:log', runId: 'r1', stepId: 'b', level: 'warn', message: 'slow', at: 1008 },
      { type: 'step:log', runId: 'r1', stepId: 'b', host: 'lb1', level: 'info', message: 'vip', at: 1009 },
    ]);
    const r = s.runs.r1!;
    expect(r.steps.map((x) => x.status)).toEqual(['skipped', 'running', 'pending']);
    expect(r.steps[0]!.durationMs).toBe(3);
    expect(r.steps[1]!.progress).toEqual({ done: 1, total: 4, detail: 'hosts' });
    expect(runProgress(r)).toBeCloseTo((1 + 0.25) / 3);
    expect(r.hosts).toEqual(['m1', 'lb1']);
    expect(logsOf(r, 'm1').map((l) => l.message)).toEqual(['etcd up']);
    expect(logsOf(r, '').map((l) => l.message)).toEqual(['slow']);
    expect(logsOf(r, undefined)).toHaveLength(3);
    expect(latestRun(s, 'lab1')?.runId).toBe('r1');
    expect(latestRun(s, 'other')).toBeUndefined();
  });

  it('a failed or cancelled run keeps the error; a running step becomes failed', () => {
    const s = reduceAll(initialEvents(), [
      start,
      { type: 'step:start', runId: 'r1', stepId: 'a', title: 'A', at: 1001 },
      {
        type: 'run:end',
        runId: 'r1',
        ok: false,
        durationMs: 50,
        error: { code: 'CANCELLED', message: 'up was cancelled' },
        at: 1050,
      },
    ]);
    expect(s.runs.r1).toMatchObject({ ok: false, cancelled: true, durationMs: 50, error: { code: 'CANCELLED' } });
    expect(s.runs.r1!.steps[0]!.status).toBe('failed');
  });

  it('is pure: the input state is not modified, unknown runs are ignored', () => {
    const s0 = reduce(initialEvents(), start);
    const snapshot = JSON.stringify(s0);
    const s1 = reduce(s0, { type: 'step:start', runId: 'r1', stepId: 'a', title: 'A', at: 1 });
    expect(JSON.stringify(s0)).toBe(snapshot);
    expect(s1).not.toBe(s0);
    expect(reduce(s1, { type: 'step:log', runId: 'nope', level: 'info', message: 'x', at: 1 })).toBe(s1);
  });

  it('caps the log', () => {
    let s = reduce(initialEvents(), start);
    s = reduceAll(
      s,
      Array.from(
        { length: MAX_LOGS + 10 },
        (_, i) => ({ type: 'step:log', runId: 'r1', level: 'info', message: String(i), at: i }) as LabEvent,
      ),
    );
    expect(s.runs.r1!.logs).toHaveLength(MAX_LOGS);
    expect(s.runs.r1!.logs[0]!.message).toBe('10');
  });

  it('keeps statuses, errors and terminal exits', () => {
    const s = reduceAll(initialEvents(), [
      {
        type: 'status',
        lab: 'lab1',
        status: { lab: 'lab1', phase: 'ready', provider: 'netns', vip: 'v', hosts: [] },
        at: 5,
      },
      { type: 'error', error: { code: 'X', message: 'y' } },
      { type: 'terminal:exit', id: 't1', code: 0 },
      { type: 'terminal:data', id: 't1', data: 'ignored' },
    ]);
    expect(s.statuses.lab1!.status.phase).toBe('ready');
    expect(s.errors[0]).toMatchObject({ code: 'X' });
    expect(s.terminalExits).toEqual({ t1: 0 });
  });
});

describe('event reducer: drills', () => {
  const result: DrillResult = {
    runId: 'd1',
    drill: 'lb-failover',
    lab: 'lab1',
    startedAt: '',
    durationMs: 9,
    ok: true,
    predictions: [],
    measurements: [],
    probe: [],
    checks: [{ id: 'k', title: 'K', ok: true, expected: 'e', observed: 'o' }],
    marks: [],
    walkthrough: [],
  };
  it('folds a drill run: steps, waiting, samples, marks, checks, commands, end', () => {
    const s = reduceAll(initialEvents(), [
      {
        type: 'drill:start',
        runId: 'd1',
        drill: 'lb-failover',
        lab: 'lab1',
        predictions: [{ id: 'p', label: 'VIP moves', value: 0.7, unit: 's', formula: 'f', margin: 1 }],
        steps: [
          { id: 's1', phase: 'explain', title: 'Explain' },
          { id: 's2', phase: 'act', title: 'Stop lb1' },
        ],
        at: 1,
      },
      {
        type: 'drill:step',
        runId: 'd1',
        stepId: 's1',
        phase: 'explain',
        title: 'Explain',
        status: 'start',
        text: 'the VIP…',
        at: 2,
      },
      { type: 'drill:step', runId: 'd1', stepId: 's1', phase: 'explain', title: 'Explain', status: 'done', at: 3 },
      { type: 'drill:step', runId: 'd1', stepId: 's2', phase: 'act', title: 'Stop lb1', status: 'waiting', at: 4 },
    ]);
    expect(latestDrill(s, 'lab1')!.waiting).toBe('s2');
    expect(s.drills.d1!.steps.map((x) => x.status)).toEqual(['done', 'waiting']);
    expect(s.drills.d1!.steps[0]!.text).toBe('the VIP…');
    const s2 = reduceAll(s, [
      { type: 'drill:step', runId: 'd1', stepId: 's2', phase: 'act', title: 'Stop lb1', status: 'start', at: 5 },
      {
        type: 'drill:samples',
        runId: 'd1',
        samples: [{ t: 5, kind: 'read', op: 'GET /readyz', ok: true, latencyMs: 3 }],
      },
      {
        type: 'drill:samples',
        runId: 'd1',
        samples: [{ t: 6, kind: 'read', op: 'GET /readyz', ok: false, latencyMs: 1000 }],
      },
      { type: 'drill:mark', runId: 'd1', mark: { t: 5, label: 'lb1 stopped', kind: 'fault' } },
      { type: 'drill:check', runId: 'd1', check: { id: 'k', title: 'K', ok: false, expected: 'e', observed: 'x' } },
      { type: 'drill:check', runId: 'd1', check: { id: 'k', title: 'K', ok: true, expected: 'e', observed: 'o' } },
      { type: 'drill:command', runId: 'd1', host: 'lb1', command: 's6-svc -d keepalived', why: 'stop' },
      { type: 'drill:end', runId: 'd1', ok: true, result, reportDir: '/r', at: 9 },
    ]);
    const d = s2.drills.d1!;
    expect(d.waiting).toBeUndefined();
    expect(d.samples).toHaveLength(2);
    expect(d.marks[0]!.label).toBe('lb1 stopped');
    expect(d.checks).toEqual([{ id: 'k', title: 'K', ok: true, expected: 'e', observed: 'o' }]);
    expect(d.commands[0]!.command).toBe('s6-svc -d keepalived');
    expect(d).toMatchObject({ ok: true, reportDir: '/r', endedAt: 9 });
    expect(d.steps.map((x) => x.status)).toEqual(['done', 'done']);
  });
});
