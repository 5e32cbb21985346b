import { describe, expect, it } from 'vitest';
import type { ProbeSample } from '../../../../provisioning/api/drills.ts';
import { availability, chartGeometry, chartModel, outages } from './chart.ts';

const T = 1_700_000_000_000;
function samples(spec: string, kind: 'read' | 'write' = 'read', step = 100): ProbeSample[] {
  // one character per request: + ok, x failed, ? unknown
  return [...spec].map((c, i) => ({
    t: T + i * step,
    kind,
    op: 'GET /readyz',
    ok: c === '+' ? true : c === 'x' ? false : null,
    latencyMs: c === '+' ? 5 + i : 1000,
  }));
}

describe('chart data', () => {
  it('an outage runs from the first failure to the next success', () => {
    const o = outages(samples('+++xx?x++x'), 'read');
    expect(o).toEqual([
      { kind: 'read', from: T + 300, to: T + 700, open: false, failures: 4 },
      { kind: 'read', from: T + 900, to: T + 900 + 1000, open: true, failures: 1 },
    ]);
    expect(outages(samples('++++'), 'read')).toEqual([]);
  });

  it('a long gap between answers is an outage even when nothing failed (late answers)', () => {
    // answers at 0..400 ms, then one that ends 900 ms after the previous one, then steady again
    const list: ProbeSample[] = [0, 100, 200, 300, 400].map((d) => ({
      t: T + d,
      kind: 'read',
      op: 'GET /readyz',
      ok: true,
      latencyMs: 10,
    }));
    list.push(
      { t: T + 500, kind: 'read', op: 'GET /readyz', ok: true, latencyMs: 810 },
      { t: T + 1400, kind: 'read', op: 'GET /readyz', ok: true, latencyMs: 10 },
    );
    expect(outages(list, 'read')).toEqual([{ kind: 'read', from: T + 410, to: T + 1310, open: false, failures: 0 }]);
    const g = chartGeometry(chartModel(list, [], { bucketMs: 500 }), 600, 200);
    expect(g.outages.map((o) => o.label)).toEqual(['read outage 0.9 s, no failed request: the answers came late']);
    // shorter gaps are not
    expect(outages(list.slice(0, 5), 'read')).toEqual([]);
    // writes go out every 400 ms: a 600 ms gap between two answers is their normal jitter, 1.1 s is not
    const w = (t: number, latencyMs: number): ProbeSample => ({
      t: T + t,
      kind: 'write',
      op: 'PATCH configmap',
      ok: true,
      latencyMs,
    });
    expect(outages([w(0, 10), w(400, 210), w(800, 10), w(1200, 10)], 'write')).toEqual([]);
    expect(outages([w(0, 10), w(400, 10), w(800, 10), w(1200, 1100), w(1600, 700), w(2000, 10)], 'write')).toEqual([
      { kind: 'write', from: T + 810, to: T + 2010, open: false, failures: 0 },
    ]);
  });

  it('buckets availability and latency per kind', () => {
    const m = chartModel([...samples('+++++xxxxx'), ...samples('+-', 'write', 400)], [], { bucketMs: 500 });
    expect(m.buckets).toHaveLength(2);
    expect(m.buckets[0]!.read).toMatchObject({ ok: 5, failed: 0, unknown: 0, maxLatencyMs: 9, medianLatencyMs: 7 });
    expect(availability(m.buckets[1]!.read)).toBe(0);
    expect(availability(m.buckets[0]!.read)).toBe(1);
    expect(m.buckets[0]!.write).toMatchObject({ ok: 1, unknown: 1 });
    expect(m.totals.read).toEqual({ requests: 10, failed: 5, unknown: 0, longestOutageMs: 1400 });
    expect(m.totals.write.unknown).toBe(1);
    expect(m.maxLatencyMs).toBe(9);
  });

  it('keeps only marks inside the window; a window cuts old samples', () => {
    const m = chartModel(
      samples('+'.repeat(100)),
      [
        { t: T + 5000, label: 'fault', kind: 'fault' },
        { t: T - 99999, label: 'old', kind: 'info' },
      ],
      { bucketMs: 1000, windowMs: 3000 },
    );
    expect(m.t0).toBeGreaterThanOrEqual(T + 6000);
    expect(m.marks).toEqual([]);
    const m2 = chartModel(samples('+'.repeat(100)), [{ t: T + 5000, label: 'fault', kind: 'fault' }]);
    expect(m2.marks.map((x) => x.label)).toEqual(['fault']);
  });

  it('geometry: availability paths, outage rectangles with labels, mark lines, ticks', () => {
    const m = chartModel(
      samples('++++++++++xxxxxxxxxx++++++++++'),
      [{ t: T + 1000, label: 'lb1 stopped', kind: 'fault' }],
      { bucketMs: 500 },
    );
    const g = chartGeometry(m, 600, 200);
    expect(g.availability.read.startsWith('M')).toBe(true);
    expect(g.availability.write).toBe('');
    expect(g.outages).toHaveLength(1);
    expect(g.outages[0]!.x).toBeCloseTo(200, 0);
    expect(g.outages[0]!.w).toBeCloseTo(200, 0);
    expect(g.outages[0]!.label).toBe('read outage 1.0 s, 10 failed requests');
    expect(g.marks[0]).toMatchObject({ label: 'lb1 stopped', kind: 'fault' });
    expect(g.marks[0]!.x).toBeCloseTo(200, 0);
    expect(g.ticks[0]).toEqual({ x: 0, label: '0s' });
  });

  it('copes with no samples', () => {
    const m = chartModel([], [], { now: T });
    expect(m.buckets).toHaveLength(1);
    expect(chartGeometry(m, 100, 100).outages).toEqual([]);
  });
});
