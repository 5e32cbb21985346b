// `halab watch` and the app's live chart: the drills' probe (reads and writes through the VIP
// from a worker, each on a fresh connection) running while a person breaks the lab by hand,
// with who holds the VIP, the etcd leadership and the leader leases, read every second or so.
// Every manual action recorded meanwhile (operate/actions.ts: `halab fault`, `service`, `heal`,
// a restore, from this terminal, another one or the app) becomes a mark on the timeline. When it
// stops, it writes a report like a drill's (report.json with every sample and mark, report.md,
// timeline.svg) under <lab>/reports/<run>/.
import type { DrillEvent, DrillMark, DrillResult, ProbeSample, ProbeStats } from '../api/drills.ts';
import type { LabHandle } from '../engine/handle.ts';
import { holderHost, leaseExpiry, leases } from '../k8s/kubectl.ts';
import { actionMark, readActions } from '../operate/actions.ts';
import { etcdEndpointsStatus, leaderOf } from '../steps/etcd/etcdctl.ts';
import { vipView, vrrpStates } from '../steps/lb/status.ts';
import { readState } from '../state/store.ts';
import { sleep } from '../util/poll.ts';
import { newRunId } from './engine.ts';
import { allProbeStats, ensureProbeObjects, probeHost, probeStats, startProbe } from './probe.ts';
import { writeReport } from './report.ts';

/** Who leads what, as last read. */
export interface WatchView {
  at: number;
  /** THE VIP holder; several: a split brain (vipHolders). */
  vipHolder?: string;
  vipHolders: string[];
  etcdLeader?: string;
  /** The holder of each leader lease (host name), while it is held. */
  leases: { name: string; holder?: string }[];
}

/** One line of the live view: the last full second of requests, and the run so far. */
export interface WatchTick {
  at: number;
  elapsedS: number;
  /** Requests started in the last full second, by outcome. */
  reads: { ok: number; failed: number };
  writes: { ok: number; failed: number; unknown: number };
  /** Since the start. */
  failedReads: number;
  failedWrites: number;
  unknownWrites: number;
  /** Time since the last successful answer (read), and the longest such gap so far (ms). */
  gapMs: number;
  longestGapMs: number;
  view?: WatchView;
}

export interface WatchHandle {
  runId: string;
  startedAt: number;
  host: string;
  samples: ProbeSample[];
  marks: DrillMark[];
  view?: WatchView;
  /** The live line now. */
  tick(now?: number): WatchTick;
  /** Stop the probe and the readers, write the report. Idempotent. */
  stop(): Promise<{ result: DrillResult; reportDir?: string }>;
}

/** The live figures from the samples (pure). */
export function watchTick(samples: ProbeSample[], startedAt: number, now: number, view?: WatchView): WatchTick {
  const from = now - 2000;
  const to = now - 1000;
  const inWindow = samples.filter((s) => s.t >= from && s.t < to);
  const reads = inWindow.filter((s) => s.kind === 'read');
  const writes = inWindow.filter((s) => s.kind === 'write');
  const st = probeStats(samples, 'read', { from: startedAt, endAt: now });
  const okEnds = samples.filter((s) => s.kind === 'read' && s.ok === true).map((s) => s.t + s.latencyMs);
  const lastOk = okEnds.length ? Math.max(...okEnds) : startedAt;
  return {
    at: now,
    elapsedS: Math.max(0, (now - startedAt) / 1000),
    reads: { ok: reads.filter((s) => s.ok === true).length, failed: reads.filter((s) => s.ok !== true).length },
    writes: {
      ok: writes.filter((s) => s.ok === true).length,
      failed: writes.filter((s) => s.ok === false).length,
      unknown: writes.filter((s) => s.ok === null).length,
    },
    failedReads: samples.filter((s) => s.kind === 'read' && s.ok === false).length,
    failedWrites: samples.filter((s) => s.kind === 'write' && s.ok === false).length,
    unknownWrites: samples.filter((s) => s.kind === 'write' && s.ok === null).length,
    gapMs: Math.max(0, now - lastOk),
    longestGapMs: st.longestOutageMs,
    view,
  };
}

/** The longest stretch without a successful answer of a kind: from, to (ms since the epoch) (pure). */
export function longestOutage(
  samples: ProbeSample[],
  kind: 'read' | 'write',
  from: number,
  end: number,
): { from: number; to: number; ms: number; failed: number } {
  const ends = samples
    .filter((s) => s.kind === kind && s.ok === true && s.t >= from)
    .map((s) => s.t + s.latencyMs)
    .sort((a, b) => a - b);
  let best = { from, to: from, ms: 0 };
  let prev = from;
  for (const e of [...ends, end]) {
    if (e - prev > best.ms) best = { from: prev, to: e, ms: e - prev };
    prev = Math.max(prev, e);
  }
  const failed = samples.filter(
    (s) => s.kind === kind && s.ok !== true && s.t >= best.from && s.t <= best.to && s.t >= from,
  ).length;
  return { ...best, failed };
}

async function readView(lab: LabHandle): Promise<WatchView> {
  // only the LBs that are on: asking one that is off waits for a connection that never comes
  const on = await Promise.all(
    lab.state.spec.hosts.map(
      async (h) => (await lab.provider.isPoweredOn(lab, h.name).catch(() => true)) || h.role !== 'lb',
    ),
  );
  const spec = { ...lab.state.spec, hosts: lab.state.spec.hosts.filter((_, i) => on[i]) };
  const lbView = Object.create(lab, { state: { value: { ...lab.state, spec } } }) as LabHandle;
  const [vrrp, members, ls] = await Promise.all([
    vrrpStates(lbView).catch(() => []),
    etcdEndpointsStatus(lab).catch(() => []),
    leases(lab).catch(() => []),
  ]);
  const vip = vipView(vrrp);
  const now = Date.now();
  return {
    at: now,
    vipHolder: vip.holder,
    vipHolders: vip.holders,
    etcdLeader: leaderOf(members),
    leases: ls.map((l) => ({ name: l.name, holder: leaseExpiry(l, now).held ? holderHost(l.holder) : undefined })),
  };
}

/**
 * Start watching `lab` (see the file's header). `onSamples` gets the probe's samples in batches,
 * `onMark` each manual action as it is recorded, `onView` each new reading of the leaders.
 */
export async function startWatch(
  lab: LabHandle,
  o: {
    onSamples?: (s: ProbeSample[]) => void;
    onMark?: (m: DrillMark) => void;
    onView?: (v: WatchView) => void;
    log?: (m: string) => void;
  } = {},
): Promise<WatchHandle> {
  const runId = newRunId('watch');
  const startedAt = Date.now();
  await ensureProbeObjects(lab);
  const host = probeHost(lab);
  const probe = await startProbe(lab, { host, onSamples: o.onSamples, log: o.log });
  const marks: DrillMark[] = [];
  let stopping = false;
  const handle: WatchHandle = {
    runId,
    startedAt,
    host,
    samples: probe.samples,
    marks,
    tick: (now = Date.now()) => watchTick(probe.samples, probe.startedAt, now, handle.view),
    stop: async () => ({ result: undefined as unknown as DrillResult }),
  };
  // who leads what, as often as it can be read (a powered-off LB makes one reading slower)
  const viewLoop = (async () => {
    while (!stopping) {
      const t0 = Date.now();
      // another process (a fault by hand) may have powered a host off or on: the state says which
      const fresh = await readState(lab.state.name).catch(() => undefined);
      if (fresh) lab.state = fresh;
      handle.view = await readView(lab).catch(() => handle.view);
      if (handle.view) o.onView?.(handle.view);
      await sleep(Math.max(0, 1000 - (Date.now() - t0)));
    }
  })();
  // the manual actions, recorded by whichever process did them
  let seen = 0;
  const markLoop = (async () => {
    while (!stopping) {
      const acts = await readActions(lab.dir, startedAt);
      for (const a of acts.slice(seen)) {
        const m = actionMark(a);
        marks.push(m);
        o.onMark?.(m);
      }
      seen = Math.max(seen, acts.length);
      await sleep(300);
    }
  })();
  let result: Promise<{ result: DrillResult; reportDir?: string }> | undefined;
  handle.stop = () => {
    result ??= (async () => {
      const endAt = Date.now();
      await probe.stop();
      stopping = true;
      await Promise.all([viewLoop, markLoop]);
      // the last actions, in case one was recorded in the last moment
      for (const a of (await readActions(lab.dir, startedAt)).slice(seen)) marks.push(actionMark(a));
      const samples = [...probe.samples].sort((a, b) => a.t - b.t);
      const firstFault = marks.find((m) => m.kind === 'fault')?.t;
      const stats = allProbeStats(samples, { from: probe.startedAt, to: endAt, endAt, faultAt: firstFault });
      const acts = await readActions(lab.dir, startedAt);
      const outage = (kind: 'read' | 'write', st: ProbeStats | undefined) => ({
        id: `longest-${kind}-outage`,
        label: `Longest ${kind} outage through the VIP`,
        value: st?.longestOutageMs ?? 0,
        unit: 'ms' as const,
        how: `${st?.requests ?? 0} ${kind}s, ${st?.failures ?? 0} failed, ${st?.unknowns ?? 0} unknown`,
      });
      const res: DrillResult = {
        runId,
        drill: 'watch',
        lab: lab.state.name,
        startedAt: new Date(startedAt).toISOString(),
        durationMs: endAt - startedAt,
        ok: samples.some((s) => s.ok === true),
        predictions: [],
        measurements: [
          outage(
            'read',
            stats.byKind.find((s) => s.kind === 'read'),
          ),
          outage(
            'write',
            stats.byKind.find((s) => s.kind === 'write'),
          ),
        ],
        probe: stats.byKind,
        probeByOp: stats.byOp,
        checks: [
          {
            id: 'probe-answered',
            title: 'The probe got answers through the VIP',
            ok: samples.some((s) => s.ok === true),
            expected: 'at least one successful request',
            observed: `${samples.filter((s) => s.ok === true).length} of ${samples.length} requests succeeded`,
          },
        ],
        marks: [...marks].sort((a, b) => a.t - b.t),
        walkthrough: acts.map((a) => ({
          host: a.host ?? 'this machine',
          command: a.command ?? a.label,
          why: `${new Date(a.t).toISOString().slice(11, 23)} ${a.label}`,
        })),
        title: 'Watch: the probe through the VIP while the lab is operated by hand',
        concept:
          'What clients of the API saw while faults were made by hand: every request of the probe through the VIP, with each manual action marked where it happened.',
        probeHost: host,
        probeWindow: { from: probe.startedAt, to: endAt },
      };
      const events: DrillEvent[] = res.marks.map((m) => ({ type: 'drill:mark', runId, mark: m }));
      const reportDir = await writeReport(lab.dir, { result: res, samples, events }).catch(() => undefined);
      return { result: res, reportDir };
    })();
    return result;
  };
  return handle;
}
