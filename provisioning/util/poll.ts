// One way to wait for something: every wait loop of the engine, the steps and the drills uses it.
import { CancelledError, HalabError } from '../errors.ts';

/** Resolve after `ms` milliseconds; reject with CancelledError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new CancelledError());
    const onAbort = () => {
      clearTimeout(timer);
      reject(new CancelledError());
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface PollOptions<T> {
  /** What is awaited, as the error says it: "kube-apiserver on m1 ready (/readyz)". */
  what: string;
  /**
   * One check. A truthy result ends the wait and is returned; falsy (or a thrown error, which
   * is remembered and shown if the wait times out) means "not yet".
   */
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false;
  /** Give up after this long, in ms. */
  timeoutMs: number;
  /** Pause between checks, in ms (default 250). */
  intervalMs?: number;
  signal?: AbortSignal;
  /** The fix shown with the timeout error. */
  fix?: string;
  /** Extra lines for the timeout error (the last state seen, say). */
  detail?: () => string | undefined;
}

/**
 * Check until `check` returns a truthy value, and return it.
 *
 * Errors: HalabError `TIMEOUT` ("<what>: not reached within N s", with `fix`, and as details
 * `detail()` or the last error a check threw); CancelledError when `signal` aborts. Never
 * throws what a single check threw: a check that fails is a check that says "not yet".
 */
export async function poll<T>(o: PollOptions<T>): Promise<T> {
  const t0 = Date.now();
  let lastError: unknown;
  for (;;) {
    if (o.signal?.aborted) throw new CancelledError(o.what);
    try {
      const v = await o.check();
      if (v) return v;
    } catch (err) {
      if (o.signal?.aborted) throw new CancelledError(o.what);
      lastError = err;
    }
    if (Date.now() - t0 >= o.timeoutMs) {
      const details = o.detail?.() ?? (lastError instanceof Error ? lastError.message : undefined);
      throw new HalabError('TIMEOUT', `${o.what}: not reached within ${Math.round(o.timeoutMs / 1000)} s`, {
        fix: o.fix,
        details,
      });
    }
    await sleep(Math.min(o.intervalMs ?? 250, Math.max(0, o.timeoutMs - (Date.now() - t0))), o.signal);
  }
}
