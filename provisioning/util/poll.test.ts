import { describe, expect, it } from 'vitest';
import { CancelledError, HalabError } from '../errors.ts';
import { poll, sleep } from './poll.ts';

describe('poll', () => {
  it('returns the first truthy result and stops checking', async () => {
    let n = 0;
    const v = await poll({
      what: 'three checks',
      check: () => (++n === 3 ? `n=${n}` : false),
      timeoutMs: 2000,
      intervalMs: 5,
    });
    expect(v).toBe('n=3');
    expect(n).toBe(3);
  });

  it('treats a throwing check as "not yet" and shows its last error on timeout', async () => {
    const err = await poll({
      what: 'a broken thing',
      check: () => {
        throw new Error('connection refused');
      },
      timeoutMs: 60,
      intervalMs: 10,
      fix: 'start it',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HalabError);
    expect((err as HalabError).code).toBe('TIMEOUT');
    expect((err as HalabError).message).toBe('a broken thing: not reached within 0 s');
    expect((err as HalabError).fix).toBe('start it');
    expect((err as HalabError).details).toBe('connection refused');
  });

  it('prefers detail() over the last error', async () => {
    const err = await poll({
      what: 'x',
      check: () => false,
      timeoutMs: 20,
      intervalMs: 5,
      detail: () => 'm1: NotReady',
    }).catch((e: unknown) => e);
    expect((err as HalabError).details).toBe('m1: NotReady');
  });

  it('is cancelled by its signal, also in the middle of a pause', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    const t0 = Date.now();
    const err = await poll({
      what: 'x',
      check: () => false,
      timeoutMs: 10_000,
      intervalMs: 5000,
      signal: ac.signal,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});

describe('sleep', () => {
  it('rejects at once on an aborted signal', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(sleep(10_000, ac.signal)).rejects.toBeInstanceOf(CancelledError);
  });
});
