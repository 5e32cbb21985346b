// The drill engine. A drill is data (catalog/*.ts): what it teaches, what it predicts from the
// lab's own configuration, its steps (explain -> act -> observe -> verify), and a cleanup. The
// runner goes through the steps straight or one at a time (waiting for the caller before each),
// keeps the probe running on a worker the whole time, ALWAYS cleans up (finally), checks the lab
// is healthy again, and returns a DrillResult that report.ts turns into files.

import { randomBytes } from 'node:crypto';
import type {
  CheckResult,
  DrillEvent,
  DrillInfo,
  DrillMark,
  DrillPhase,
  DrillResult,
  Measurement,
  Prediction,
  ProbeSample,
} from '../api/drills.ts';
import type { LabSpec } from '../api/types.ts';
import { CancelledError, HalabError, toErrorInfo } from '../errors.ts';
import type { ExecOptions, ExecResult } from '../exec/types.ts';
import type { Component, ComponentAction } from '../bootstraps/types.ts';
import type { LabHandle } from '../engine/lab.ts';
import { poll, sleep } from '../util/poll.ts';
import { acquireLock, readState } from '../state/store.ts';
import { healLab, waitHealthy } from './health.ts';
import { allProbeStats, ensureProbeObjects, probeHost, probeStats, startProbe, type ProbeHandle } from './probe.ts';

export interface DrillStep {
  id: string;
  phase: Exclude<DrillPhase, 'cleanup'>;
  title: string;
  /** What the user should understand before this step runs (may use what earlier steps found). */
  explain: string | ((ctx: DrillContext) => string);
  run(ctx: DrillContext): Promise<void>;
}

export interface Drill {
  info: Omit<DrillInfo, 'steps'>;
  /** What the lab lacks for this drill (empty: it can run). */
  needs(spec: LabSpec): string[];
  /** Predictions from the lab's configuration, before anything is touched (pure). */
  predict(spec: LabSpec): Prediction[];
  steps: DrillStep[];
  /** Undo what the drill did (power on, start services, delete objects). healLab and the health check run after it. */
  cleanup(ctx: DrillContext): Promise<void>;
  /** Run the probe on a worker during the drill (default true). */
  probe?: boolean;
  /**
   * Wait for a healthy lab before the first step (default true). false: a procedure that is
   * meant for a broken lab (`halab snapshot restore` after quorum is lost) starts at once.
   */
  preflight?: boolean;
  /** How long the final health check may take (default 180 s). */
  healthTimeoutMs?: number;
}

/** What a step works with. */
export interface DrillContext {
  lab: LabHandle;
  spec: LabSpec;
  runId: string;
  drill: string;
  /** Aborted when the caller cancels (never during cleanup). */
  signal: AbortSignal;
  /** State shared between steps and the cleanup (the victim, the fault time...). */
  vars: Record<string, unknown>;
  predictions: Prediction[];
  probe?: ProbeHandle;
  log(message: string, host?: string): void;
  mark(label: string, kind?: DrillMark['kind'], t?: number): DrillMark;
  /** Record a verification (and emit it). */
  check(c: CheckResult): CheckResult;
  /** Record a measurement; its verdict is computed from the prediction it names. */
  measure(m: Omit<Measurement, 'verdict'>): Measurement;
  /** Run a command on a host as part of the walkthrough (emitted as drill:command). */
  command(host: string, command: string, why: string, opts?: ExecOptions): Promise<ExecResult>;
  /**
   * Stop / start / kill a component (etcd, kube-apiserver, kubelet, haproxy...) on a host the way
   * the lab's bootstrap runs it, as part of the walkthrough (the command is shown).
   */
  component(
    host: string,
    component: Component | Component[],
    action: ComponentAction,
    why: string,
    opts?: ExecOptions,
  ): Promise<ExecResult>;
  /** Record a walkthrough line for something the drill did another way (a copy through this machine). */
  note(host: string, command: string, why: string): void;
  prediction(id: string): Prediction;
  samples(): ProbeSample[];
  sleep(ms: number): Promise<void>;
  /** Poll `fn` every intervalMs until it returns true; the time (ms since the epoch) it did, or throws after timeoutMs. */
  until(
    what: string,
    fn: () => Promise<boolean>,
    o: { timeoutMs: number; intervalMs?: number; fix?: string },
  ): Promise<number>;
}

export interface RunOptions {
  emit: (e: DrillEvent) => void;
  stepwise?: boolean;
  waitForContinue?: () => Promise<void>;
  signal?: AbortSignal;
}

/** "as predicted" unless above value + margin (worse) or below min / value − margin (better). */
export function verdictFor(p: Prediction, measured: number): NonNullable<Measurement['verdict']> {
  if (measured > p.value + p.margin) return 'worse than predicted';
  const low = p.min ?? p.value - p.margin;
  if (measured < low) return 'better than predicted';
  return 'as predicted';
}

export function infoOf(d: Drill): DrillInfo {
  return {
    ...d.info,
    steps: [
      { id: 'preflight', phase: 'observe', title: 'Check that the lab is healthy and start the probe' },
      ...d.steps.map((s) => ({ id: s.id, phase: s.phase, title: s.title })),
      { id: 'cleanup', phase: 'cleanup', title: 'Undo the fault' },
      { id: 'healthy-again', phase: 'cleanup', title: 'Verify the lab is healthy again' },
    ],
  };
}

export function newRunId(drill: string, now = new Date()): string {
  const ts = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${ts}-${drill}-${randomBytes(2).toString('hex')}`;
}

export interface RunOutput {
  result: DrillResult;
  samples: ProbeSample[];
  /** Every event except the sample batches (those are in `samples`). */
  events: DrillEvent[];
}

/**
 * Run one drill on an open lab. Never throws for a failure of the drill itself: the result says
 * what went wrong (`ok` false, `error`), and the cleanup has run.
 */
/**
 * Re-read the lab's state from disk: another process (the CLI, the app) may have powered a host
 * off and on since this handle was opened, and the provider finds a host's processes through the
 * state (a stale one says "off" for a host that runs, and "on" would boot it a second time).
 */
async function refreshState(lab: LabHandle): Promise<void> {
  const fresh = await readState(lab.state.name).catch(() => undefined);
  if (fresh) lab.state = fresh;
}

export async function executeDrill(lab: LabHandle, drill: Drill, o: RunOptions): Promise<RunOutput> {
  await refreshState(lab);
  const spec = lab.state.spec;
  const runId = newRunId(drill.info.name);
  const events: DrillEvent[] = [];
  const emit = (e: DrillEvent) => {
    if (e.type !== 'drill:samples') events.push(e);
    try {
      o.emit(e);
    } catch {
      /* a broken listener must not break the drill */
    }
  };
  const startedAt = new Date();
  const predictions = drill.predict(spec);
  const info = infoOf(drill);
  const result: DrillResult = {
    runId,
    drill: drill.info.name,
    lab: spec.name,
    startedAt: startedAt.toISOString(),
    durationMs: 0,
    ok: false,
    predictions,
    measurements: [],
    probe: [],
    checks: [],
    marks: [],
    walkthrough: [],
    title: drill.info.title,
    concept: drill.info.concept,
  };
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  if (o.signal?.aborted) abort.abort();

  const makeCtx = (signal: AbortSignal): DrillContext => ({
    lab,
    spec,
    runId,
    drill: drill.info.name,
    signal,
    vars,
    predictions,
    probe,
    log: (message, host) => emit({ type: 'drill:log', runId, message, host, at: Date.now() }),
    mark: (label, kind = 'info', t = Date.now()) => {
      const m: DrillMark = { t, label, kind };
      result.marks.push(m);
      emit({ type: 'drill:mark', runId, mark: m });
      return m;
    },
    check: (c) => {
      result.checks.push(c);
      emit({ type: 'drill:check', runId, check: c });
      return c;
    },
    measure: (m) => {
      const p = m.predictionId ? predictions.find((x) => x.id === m.predictionId) : undefined;
      const full: Measurement = { ...m, value: Math.round(m.value * 1000) / 1000 };
      if (p) full.verdict = verdictFor(p, m.value);
      const i = result.measurements.findIndex((x) => x.id === m.id);
      if (i >= 0) result.measurements[i] = full;
      else result.measurements.push(full);
      return full;
    },
    command: async (host, command, why, opts = {}) => {
      result.walkthrough.push({ host, command, why });
      emit({ type: 'drill:command', runId, host, command, why });
      return lab.remote(host).exec(command, { timeoutMs: 120_000, ...opts });
    },
    component: (host, component, action, why, opts = {}) => {
      const command = lab.bootstrap.components.command(lab, host, component, action);
      result.walkthrough.push({ host, command, why });
      emit({ type: 'drill:command', runId, host, command, why });
      return lab.remote(host).exec(command, { timeoutMs: 120_000, ...opts });
    },
    note: (host, command, why) => {
      result.walkthrough.push({ host, command, why });
      emit({ type: 'drill:command', runId, host, command, why });
    },
    prediction: (id) => {
      const p = predictions.find((x) => x.id === id);
      if (!p) throw new HalabError('DRILL_BUG', `drill ${drill.info.name} has no prediction ${id}`);
      return p;
    },
    samples: () => probe?.samples ?? [],
    sleep: (ms) => sleep(ms, signal),
    until: async (what, fn, u) => {
      let lastErr = '';
      try {
        await poll({
          what,
          check: async () => {
            try {
              const ok = await fn();
              lastErr = '';
              return ok;
            } catch (err) {
              lastErr = toErrorInfo(err).message;
              return false;
            }
          },
          timeoutMs: u.timeoutMs,
          intervalMs: u.intervalMs ?? 500,
          signal,
        });
        return Date.now();
      } catch (err) {
        if (!(err instanceof HalabError) || err.code !== 'TIMEOUT') throw err;
        throw new HalabError('DRILL_TIMEOUT', `${what}: not within ${Math.round(u.timeoutMs / 1000)} s`, {
          details: lastErr || undefined,
          fix: u.fix,
        });
      }
    },
  });
  const vars: Record<string, unknown> = {};
  let probe: ProbeHandle | undefined;
  let ctx = makeCtx(abort.signal);

  const step = async (
    id: string,
    phase: DrillPhase,
    title: string,
    explain: DrillStep['explain'] | undefined,
    fn: () => Promise<void>,
    wait: boolean,
  ) => {
    const text = typeof explain === 'function' ? explain(ctx) : explain;
    if (wait && o.stepwise && o.waitForContinue) {
      emit({ type: 'drill:step', runId, stepId: id, phase, title, status: 'waiting', text, at: Date.now() });
      await Promise.race([
        o.waitForContinue(),
        new Promise<void>((_, rej) => {
          if (abort.signal.aborted) rej(new CancelledError('drill'));
          abort.signal.addEventListener('abort', () => rej(new CancelledError('drill')), { once: true });
        }),
      ]);
    }
    emit({ type: 'drill:step', runId, stepId: id, phase, title, status: 'start', text, at: Date.now() });
    try {
      await fn();
      emit({ type: 'drill:step', runId, stepId: id, phase, title, status: 'done', at: Date.now() });
    } catch (err) {
      const e = toErrorInfo(err);
      emit({
        type: 'drill:step',
        runId,
        stepId: id,
        phase,
        title,
        status: 'failed',
        text: `${e.message}${e.details ? `\n${e.details}` : ''}`,
        at: Date.now(),
      });
      throw err;
    }
  };

  emit({
    type: 'drill:start',
    runId,
    drill: drill.info.name,
    lab: spec.name,
    predictions,
    steps: info.steps,
    at: Date.now(),
  });
  let release: (() => Promise<void>) | undefined;
  let cleanupStart = 0;
  try {
    const unavailable = lab.provider?.drillUnavailable?.(drill.info.name);
    if (unavailable) {
      throw new HalabError(
        'DRILL_UNAVAILABLE',
        `drill ${drill.info.name} is unavailable on provider ${spec.provider}: ${unavailable}`,
        {
          fix: 'run it on a lab of provider netns or qemu',
        },
      );
    }
    const missing = drill.needs(spec);
    if (missing.length) {
      throw new HalabError(
        'DRILL_NEEDS',
        `drill ${drill.info.name} needs ${drill.info.needs}; lab ${spec.name} lacks: ${missing.join('; ')}`,
        {
          fix: 'use a lab spec with these hosts (the reference lab has them all)',
        },
      );
    }
    // nothing has been touched before this point: the cleanup runs only once the lab is ours
    release = await acquireLock(spec.name, `drill ${drill.info.name}`);
    await step(
      'preflight',
      'observe',
      info.steps[0]!.title,
      'Before breaking anything: the lab must be healthy (every host on, the VIP on its home LB, etcd complete, every apiserver ready, the nodes Ready), or the drill would measure an old fault instead of the new one. Then the probe starts on a worker: reads and writes through the VIP, each on a fresh connection, the whole time.',
      async () => {
        if (drill.preflight === false) {
          ctx.log('no health check first: this procedure is meant for a lab that may be broken');
        }
        const h =
          drill.preflight === false
            ? { ok: true, checks: [] }
            : await waitHealthy(lab, {
                timeoutMs: 120_000,
                signal: abort.signal,
                onProgress: (cs) =>
                  ctx.log(
                    `waiting for a healthy lab: ${cs
                      .filter((c) => !c.ok)
                      .map((c) => `${c.title}: ${c.observed}`)
                      .join('; ')}`,
                  ),
              });
        if (!h.ok) {
          throw new HalabError(
            'LAB_UNHEALTHY',
            `lab ${spec.name} is not healthy: a drill needs a healthy lab to start from`,
            {
              details: h.checks
                .filter((c) => !c.ok)
                .map((c) => `${c.title}: ${c.observed}`)
                .join('\n'),
              fix: '`halab status` shows what is wrong; `halab up` repairs most of it',
            },
          );
        }
        if (drill.probe !== false) {
          await ensureProbeObjects(lab);
          const host = probeHost(lab);
          probe = await startProbe(lab, {
            host,
            onSamples: (samples) => emit({ type: 'drill:samples', runId, samples }),
            log: (m) => ctx.log(m, host),
          });
          ctx = makeCtx(abort.signal);
          result.probeHost = host;
          await probe.waitBaseline(30_000);
          // a short steady baseline before the fault: what "normal" looks like on this machine
          await sleep(2000, abort.signal);
          ctx.log(
            `probe on ${host}: ${probe.samples.length} requests so far, all through https://${spec.vip}:6443`,
            host,
          );
        }
      },
      true,
    );
    for (const s of drill.steps) {
      await step(s.id, s.phase, s.title, s.explain, () => s.run(ctx), true);
    }
  } catch (err) {
    const e = toErrorInfo(err);
    result.error =
      e.code === 'CANCELLED' ? 'cancelled' : `${e.message}${e.details ? `: ${e.details.split('\n')[0]}` : ''}`;
    ctx.log(`drill stopped: ${result.error}`);
  } finally {
    // the cleanup is never cancelled: the lab must end healthy whatever happened
    cleanupStart = Date.now();
    const cctx = makeCtx(new AbortController().signal);
    if (release) {
      cctx.mark('cleanup', 'recovery', cleanupStart);
      try {
        await step(
          'cleanup',
          'cleanup',
          'Undo the fault',
          'Put back what the drill broke: power the hosts on, start the services, delete what it created.',
          async () => {
            try {
              await drill.cleanup(cctx);
            } finally {
              await refreshState(lab);
              await healLab(lab, (m, h) => cctx.log(m, h));
            }
          },
          false,
        );
      } catch (err) {
        result.error ??= `cleanup failed: ${toErrorInfo(err).message}`;
      }
      try {
        await step(
          'healthy-again',
          'cleanup',
          'Verify the lab is healthy again',
          'Every check of the preflight must pass again.',
          async () => {
            const h = await waitHealthy(lab, {
              timeoutMs: drill.healthTimeoutMs ?? 180_000,
              onProgress: (cs) =>
                cctx.log(
                  `waiting for the lab to heal: ${cs
                    .filter((c) => !c.ok)
                    .map((c) => `${c.title}: ${c.observed}`)
                    .join('; ')}`,
                ),
            });
            const allOk = h.ok;
            cctx.check({
              id: 'healthy-again',
              title: 'The lab is healthy again after the cleanup',
              ok: allOk,
              expected:
                'every host on, services up, VIP home, HAProxy sees all apiservers, etcd n/n, apiservers ready, nodes Ready, leases held',
              observed: allOk
                ? `healthy ${(h.ms / 1000).toFixed(1)} s after the cleanup`
                : h.checks
                    .filter((c) => !c.ok)
                    .map((c) => `${c.title}: ${c.observed}`)
                    .join('; '),
            });
            if (!allOk) throw new HalabError('LAB_UNHEALTHY', 'the lab did not become healthy after the cleanup');
          },
          false,
        );
      } catch (err) {
        result.error ??= toErrorInfo(err).message;
      }
    }
    if (probe) {
      await probe.stop().catch(() => undefined);
      if (probe.error && !/code 0/.test(probe.error)) ctx.log(`probe: ${probe.error}`);
    }
    await release?.().catch(() => undefined);
    o.signal?.removeEventListener('abort', onAbort);
  }
  const samples = probe?.samples ?? [];
  if (probe) {
    const fault = result.marks.find((m) => m.kind === 'fault')?.t;
    const window = { from: probe.startedAt, to: cleanupStart || Date.now(), faultAt: fault };
    const stats = allProbeStats(samples, { ...window, endAt: window.to });
    result.probe = stats.byKind;
    result.probeByOp = stats.byOp;
    result.probeWindow = { from: window.from, to: window.to };
    // the cleanup is part of the story too (a member rejoining, a VIP failing back): reported
    // apart, so it does not blur the drill's own figures
    const last = samples.reduce((m, x) => Math.max(m, x.t + x.latencyMs), window.to);
    if (cleanupStart && samples.some((x) => x.t >= cleanupStart)) {
      for (const kind of ['read', 'write'] as const) {
        const st = probeStats(samples, kind, { from: cleanupStart, endAt: last });
        result.measurements.push({
          id: `cleanup-${kind}-outage`,
          label: `During the cleanup: longest ${kind} outage`,
          value: st.longestOutageMs,
          unit: 'ms',
          how: `probe while the lab was put back (${st.requests} ${kind}s, ${st.failures} failed, ${st.unknowns} unknown); not part of the drill's probe stats`,
        });
      }
    }
  }
  result.durationMs = Date.now() - startedAt.getTime();
  result.ok = !result.error && result.checks.length > 0 && result.checks.every((c) => c.ok);
  return { result, samples: [...samples].sort((a, b) => a.t - b.t), events };
}
