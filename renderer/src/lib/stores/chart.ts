// The probe chart's data: the drill's probe samples (one request through the VIP each, read or
// write, ok / failed / unknown) folded into time buckets (availability and latency per kind),
// the outages (runs of failures with no success in between), the drill's marks, and the SVG
// geometry of it all. Pure: the component only draws what this returns.
import type { DrillMark, ProbeKind, ProbeSample } from '../../../../provisioning/api/drills.ts';

export interface KindBucket {
  ok: number;
  failed: number;
  unknown: number;
  /** Highest latency of the bucket's successful requests (ms). */
  maxLatencyMs?: number;
  /** Median latency of its successful requests (ms). */
  medianLatencyMs?: number;
}

export interface Bucket {
  /** Start of the bucket, ms since the epoch. */
  t: number;
  read: KindBucket;
  write: KindBucket;
}

export interface Outage {
  kind: ProbeKind;
  /** Start of the first failed request (a stall: the end of the last answer before it). */
  from: number;
  /** Start of the next successful request (or the last failure's end while it lasts; a stall: the next answer). */
  to: number;
  /** Still going at the end of the samples. */
  open: boolean;
  failures: number;
}

export interface ChartModel {
  t0: number;
  t1: number;
  bucketMs: number;
  buckets: Bucket[];
  outages: Outage[];
  marks: DrillMark[];
  maxLatencyMs: number;
  totals: Record<ProbeKind, { requests: number; failed: number; unknown: number; longestOutageMs: number }>;
}

const emptyKind = (): KindBucket => ({ ok: 0, failed: 0, unknown: 0 });

function median(xs: number[]): number | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/**
 * A gap at least this long (and at least 2.5 request intervals of its kind) between two
 * successful answers is an outage even when no request failed: the answers came late (during a
 * VIP move the clients' connects are retried, and every request succeeds about a second late).
 * The drill reports count the same gaps.
 */
export const STALL_MS = 500;

/**
 * Runs of failed (or unknown) requests of one kind, ended by the next success; and stalls:
 * gaps of STALL_MS or more between successful answers that no failure run already covers.
 */
export function outages(samples: readonly ProbeSample[], kind: ProbeKind): Outage[] {
  const out: Outage[] = [];
  let cur: Outage | undefined;
  const sorted = samples.filter((s) => s.kind === kind).sort((a, b) => a.t - b.t);
  for (const s of sorted) {
    if (s.ok === true) {
      if (cur) {
        cur.to = s.t;
        cur.open = false;
        out.push(cur);
        cur = undefined;
      }
    } else if (!cur) {
      cur = { kind, from: s.t, to: s.t + s.latencyMs, open: true, failures: 1 };
    } else {
      cur.failures++;
      cur.to = Math.max(cur.to, s.t + s.latencyMs);
    }
  }
  if (cur) out.push(cur);
  const ends = sorted
    .filter((s) => s.ok === true)
    .map((s) => s.t + s.latencyMs)
    .sort((a, b) => a - b);
  // requests of a sparse kind (writes: one per 400 ms) are further apart than that on their own
  const every = median(sorted.slice(1).map((s, i) => s.t - sorted[i]!.t)) ?? 0;
  const minGap = Math.max(STALL_MS, 2.5 * every);
  const stalls: Outage[] = [];
  for (let i = 1; i < ends.length; i++) {
    const from = ends[i - 1]!;
    const to = ends[i]!;
    if (to - from >= minGap && !out.some((o) => o.from < to && o.to > from))
      stalls.push({ kind, from, to, open: false, failures: 0 });
  }
  return [...out, ...stalls].sort((a, b) => a.from - b.from);
}

export function availability(b: KindBucket): number | undefined {
  const n = b.ok + b.failed + b.unknown;
  return n ? b.ok / n : undefined;
}

export function chartModel(
  samples: readonly ProbeSample[],
  marks: readonly DrillMark[] = [],
  o: { bucketMs?: number; windowMs?: number; now?: number } = {},
): ChartModel {
  const bucketMs = o.bucketMs ?? 500;
  let ts = samples.map((s) => s.t);
  const last = ts.length ? Math.max(...ts) : (o.now ?? Date.now());
  let first = ts.length ? Math.min(...ts) : last;
  if (o.windowMs && last - first > o.windowMs) first = last - o.windowMs;
  const shown = samples.filter((s) => s.t >= first);
  ts = shown.map((s) => s.t);
  const t0 = Math.floor(first / bucketMs) * bucketMs;
  const t1 = Math.max(t0 + bucketMs, Math.ceil((last + 1) / bucketMs) * bucketMs);
  const n = Math.round((t1 - t0) / bucketMs);
  const buckets: Bucket[] = Array.from({ length: n }, (_, i) => ({
    t: t0 + i * bucketMs,
    read: emptyKind(),
    write: emptyKind(),
  }));
  const lat: Record<ProbeKind, number[][]> = { read: buckets.map(() => []), write: buckets.map(() => []) };
  let maxLatencyMs = 0;
  for (const s of shown) {
    const i = Math.min(n - 1, Math.max(0, Math.floor((s.t - t0) / bucketMs)));
    const b = buckets[i]![s.kind];
    if (s.ok === true) {
      b.ok++;
      lat[s.kind][i]!.push(s.latencyMs);
      maxLatencyMs = Math.max(maxLatencyMs, s.latencyMs);
    } else if (s.ok === false) b.failed++;
    else b.unknown++;
  }
  buckets.forEach((b, i) => {
    for (const k of ['read', 'write'] as const) {
      const l = lat[k][i]!;
      if (l.length) {
        b[k].maxLatencyMs = Math.max(...l);
        b[k].medianLatencyMs = median(l);
      }
    }
  });
  const outs = [...outages(shown, 'read'), ...outages(shown, 'write')].sort((a, b) => a.from - b.from);
  const totals = {} as ChartModel['totals'];
  for (const k of ['read', 'write'] as const) {
    const ks = shown.filter((s) => s.kind === k);
    totals[k] = {
      requests: ks.length,
      failed: ks.filter((s) => s.ok === false).length,
      unknown: ks.filter((s) => s.ok === null).length,
      longestOutageMs: Math.max(0, ...outs.filter((x) => x.kind === k).map((x) => x.to - x.from)),
    };
  }
  return {
    t0,
    t1,
    bucketMs,
    buckets,
    outages: outs,
    marks: marks.filter((m) => m.t >= t0 && m.t <= t1),
    maxLatencyMs,
    totals,
  };
}

export interface ChartGeometry {
  width: number;
  height: number;
  /** Availability lines (0..100 %) per kind, SVG path data. */
  availability: Record<ProbeKind, string>;
  /** Median latency line of reads and writes (log-free, linear up to maxLatencyMs). */
  latency: Record<ProbeKind, string>;
  outages: { kind: ProbeKind; x: number; w: number; label: string }[];
  marks: { x: number; label: string; kind: DrillMark['kind'] }[];
  /** x positions and labels of the time axis (seconds from the start). */
  ticks: { x: number; label: string }[];
}

/** Geometry in a width × height box: availability in the top 60 %, latency in the bottom 40 %. */
export function chartGeometry(m: ChartModel, width: number, height: number): ChartGeometry {
  const span = m.t1 - m.t0 || 1;
  const x = (t: number) => Math.round(((t - m.t0) / span) * width * 10) / 10;
  const availH = height * 0.6;
  const latTop = height * 0.65;
  const latH = height * 0.35;
  const maxLat = Math.max(m.maxLatencyMs, 1);
  const path = (kind: ProbeKind, f: (b: KindBucket) => number | undefined, y: (v: number) => number) => {
    let d = '';
    let pen = false;
    for (const b of m.buckets) {
      const v = f(b[kind]);
      if (v === undefined) {
        pen = false;
        continue;
      }
      const px = x(b.t + m.bucketMs / 2);
      d += `${pen ? 'L' : 'M'}${px},${Math.round(y(v) * 10) / 10}`;
      pen = true;
    }
    return d;
  };
  const ay = (v: number) => availH - v * availH;
  const ly = (v: number) => latTop + latH - (Math.min(v, maxLat) / maxLat) * latH;
  const stepS = span <= 20_000 ? 2 : span <= 60_000 ? 5 : span <= 180_000 ? 15 : 60;
  const ticks: ChartGeometry['ticks'] = [];
  for (let s = 0; s * 1000 <= span; s += stepS) ticks.push({ x: x(m.t0 + s * 1000), label: `${s}s` });
  return {
    width,
    height,
    availability: { read: path('read', availability, ay), write: path('write', availability, ay) },
    latency: { read: path('read', (b) => b.medianLatencyMs, ly), write: path('write', (b) => b.medianLatencyMs, ly) },
    outages: m.outages.map((o) => ({
      kind: o.kind,
      x: x(o.from),
      w: Math.max(2, x(o.to) - x(o.from)),
      label: `${o.kind} outage ${((o.to - o.from) / 1000).toFixed(1)} s${o.open ? ' (ongoing)' : ''}, ${o.failures ? `${o.failures} failed request${o.failures === 1 ? '' : 's'}` : 'no failed request: the answers came late'}`,
    })),
    marks: m.marks.map((mk) => ({ x: x(mk.t), label: mk.label, kind: mk.kind })),
    ticks,
  };
}
