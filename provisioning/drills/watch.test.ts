import { describe, expect, it } from 'vitest';
import type { ProbeSample } from '../api/drills.ts';
import { longestOutage, watchTick } from './watch.ts';

const T = 1_800_000_000_000;
const r = (ms: number, ok: boolean | null, kind: 'read' | 'write' = 'read', latencyMs = 10): ProbeSample => ({
  t: T + ms,
  kind,
  op: kind === 'read' ? 'GET /readyz' : 'PATCH configmap',
  ok,
  latencyMs,
});

describe('the watch', () => {
  it('its live line counts the last full second and the run so far', () => {
    const samples = [
      ...[0, 100, 200, 300, 400, 500, 600, 700, 800, 900].map((t) => r(1000 + t, t !== 500)),
      r(1000, true, 'write'),
      r(1400, null, 'write'),
      r(2500, true),
    ];
    const t = watchTick(samples, T, T + 3000);
    expect(t.reads).toEqual({ ok: 9, failed: 1 });
    expect(t.writes).toEqual({ ok: 1, failed: 0, unknown: 1 });
    expect(t.failedReads).toBe(1);
    expect(t.unknownWrites).toBe(1);
    expect(t.gapMs).toBe(3000 - 2510);
    expect(t.elapsedS).toBe(3);
  });

  it('finds the longest outage, where it was and how many requests failed in it', () => {
    const samples = [r(0, true), r(100, true), r(200, false), r(300, false), r(1500, true), r(1600, true)];
    expect(longestOutage(samples, 'read', T, T + 1700)).toEqual({ from: T + 110, to: T + 1510, ms: 1400, failed: 2 });
  });
});
