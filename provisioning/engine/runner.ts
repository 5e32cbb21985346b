import { randomUUID } from 'node:crypto';
import type { EngineEvent, ErrorInfo, StepStatus } from '../api/types.ts';
import { CancelledError, isCancelled, toErrorInfo } from '../errors.ts';

export type Emit = (e: EngineEvent) => void;

/** What a step gets: its logger, progress reporter and the run's AbortSignal, plus the caller's context. */
export interface StepTools {
  signal: AbortSignal;
  log(message: string, opts?: { host?: string; level?: 'debug' | 'info' | 'warn' | 'error' }): void;
  progress(done: number, total: number, detail?: string): void;
}

/**
 * One idempotent unit of work. `done` looks at reality (not at a flag) and says whether the step
 * has nothing left to do; `run` checks before changing, so running it twice is harmless.
 */
export interface Step<C> {
  id: string;
  title: string;
  done?(ctx: C, t: StepTools): Promise<boolean>;
  run(ctx: C, t: StepTools): Promise<void>;
}

export interface RunResult {
  ok: boolean;
  runId: string;
  durationMs: number;
  error?: ErrorInfo;
  cancelled: boolean;
  /** The original error, for callers that decide what to do next (tear down, keep). */
  cause?: unknown;
}

/**
 * Run an ordered plan of steps, emitting run/step events. Stops at the first failure; never
 * swallows an error; honours the AbortSignal between and inside steps.
 */
export async function runSteps<C>(o: {
  lab: string;
  action: string;
  steps: Step<C>[];
  ctx: C;
  emit: Emit;
  signal?: AbortSignal;
  onStepDone?: (stepId: string, status: StepStatus) => Promise<void> | void;
}): Promise<RunResult> {
  const runId = randomUUID().slice(0, 8);
  const signal = o.signal ?? new AbortController().signal;
  const t0 = Date.now();
  o.emit({
    type: 'run:start',
    runId,
    lab: o.lab,
    action: o.action,
    steps: o.steps.map((s) => ({ id: s.id, title: s.title })),
    at: t0,
  });
  for (const step of o.steps) {
    const s0 = Date.now();
    const tools: StepTools = {
      signal,
      log: (message, opts = {}) =>
        o.emit({
          type: 'step:log',
          runId,
          stepId: step.id,
          host: opts.host,
          level: opts.level ?? 'info',
          message,
          at: Date.now(),
        }),
      progress: (done, total, detail) =>
        o.emit({ type: 'step:progress', runId, stepId: step.id, done, total, detail, at: Date.now() }),
    };
    o.emit({ type: 'step:start', runId, stepId: step.id, title: step.title, at: s0 });
    try {
      if (signal.aborted) throw new CancelledError(o.action);
      let status: StepStatus = 'done';
      if (step.done && (await step.done(o.ctx, tools))) {
        status = 'skipped';
      } else {
        await step.run(o.ctx, tools);
      }
      if (signal.aborted) throw new CancelledError(o.action);
      await o.onStepDone?.(step.id, status);
      o.emit({ type: 'step:end', runId, stepId: step.id, status, durationMs: Date.now() - s0, at: Date.now() });
    } catch (err) {
      const cancelled = signal.aborted || isCancelled(err);
      const error = cancelled ? toErrorInfo(new CancelledError(o.action)) : toErrorInfo(err);
      o.emit({
        type: 'step:end',
        runId,
        stepId: step.id,
        status: cancelled ? 'cancelled' : 'failed',
        durationMs: Date.now() - s0,
        error,
        at: Date.now(),
      });
      const durationMs = Date.now() - t0;
      o.emit({ type: 'run:end', runId, ok: false, durationMs, error, at: Date.now() });
      return { ok: false, runId, durationMs, error, cancelled, cause: err };
    }
  }
  const durationMs = Date.now() - t0;
  o.emit({ type: 'run:end', runId, ok: true, durationMs, at: Date.now() });
  return { ok: true, runId, durationMs, cancelled: false };
}

/** Run fn over items with at most `limit` at once (hosts are independent; 2 cores are not many). */
export async function forEachLimit<T>(
  items: T[],
  limit: number,
  fn: (item: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        await fn(items[i] as T, i);
      } catch (e) {
        errors.push(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length) throw errors[0];
}
