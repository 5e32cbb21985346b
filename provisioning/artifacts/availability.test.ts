// Whether a Kubernetes version's binaries are cached, can be obtained, or do not exist (issue 11,
// case 6), with the cache in a temp dir and the Go module proxy answered by a stand-in.
import { describe, expect, it } from 'vitest';
import { firstProxy, kubernetesAvailability } from './availability.ts';
import { fakeCache, noFetch, offlineFetch, useTmpCache } from './fixtures.testutil.ts';

const t = useTmpCache();

/** A proxy stand-in: the versions it knows, answered like proxy.golang.org (404 for the others). */
function proxy(known: Record<string, string>, seen: string[] = []) {
  return (async (url: string | URL | Request) => {
    seen.push(String(url));
    const v = /@v\/(v[^/]+)\.info$/.exec(String(url))?.[1] ?? '';
    return known[v]
      ? new Response(JSON.stringify({ Version: v, Time: known[v] }), { status: 200 })
      : new Response(`not found: k8s.io/kubernetes@${v}: invalid version: unknown revision ${v}`, { status: 404 });
  }) as typeof fetch;
}

describe('kubernetesAvailability', () => {
  it('cached: every binary in the cache, no network', async () => {
    fakeCache(t.env, 'v1.34.4');
    const a = await kubernetesAvailability('v1.34.4', { env: t.env, fetch: noFetch });
    expect(a).toMatchObject({
      state: 'cached',
      detail: expect.stringMatching(/^Kubernetes v1\.34\.4: cached on this machine/),
    });
  });

  it('buildable: not cached, but the Go module proxy has it', async () => {
    const seen: string[] = [];
    const env = { ...t.env, GOPROXY: 'https://proxy.example/,direct' };
    const a = await kubernetesAvailability('v1.34.3', {
      env,
      fetch: proxy({ 'v1.34.3': '2025-12-09T14:59:13Z' }, seen),
    });
    expect(seen).toEqual(['https://proxy.example/k8s.io/kubernetes/@v/v1.34.3.info']);
    expect(a.state).toBe('buildable');
    expect(a.detail).toMatch(
      /^Kubernetes v1\.34\.3: not cached; the Go module proxy has k8s.io\/kubernetes v1\.34\.3 \(released 2025-12-09\)/,
    );
  });

  it('missing: v1.99.0 does not exist (the proxy says so: 404, or a mirror\'s 403 "not available")', async () => {
    const a = await kubernetesAvailability('v1.99.0', { env: { ...t.env, GOPROXY: undefined }, fetch: proxy({}) });
    expect(a.state).toBe('missing');
    expect(a.detail).toMatch(
      /^Kubernetes v1\.99\.0 does not exist: the Go module proxy \(https:\/\/proxy\.golang\.org\) has no k8s\.io\/kubernetes v1\.99\.0/,
    );
    const mirror = (async () => new Response('This module version is not available.', { status: 403 })) as typeof fetch;
    expect((await kubernetesAvailability('v1.99.0', { env: t.env, fetch: mirror })).state).toBe('missing');
  });

  it('unknown: not cached and the proxy cannot be asked; never throws', async () => {
    const a = await kubernetesAvailability('v1.34.3', { env: { ...t.env, GOPROXY: undefined }, fetch: offlineFetch });
    expect(a).toMatchObject({
      state: 'unknown',
      detail: expect.stringMatching(/did not answer \(fetch failed\): cannot tell/),
    });
    const off = await kubernetesAvailability('v1.34.3', { env: { ...t.env, GOPROXY: 'off' }, fetch: noFetch });
    expect(off.state).toBe('unknown');
    const hang = (async (_u: string | URL | Request, init?: RequestInit) =>
      new Promise((_r, reject) =>
        init?.signal?.addEventListener('abort', () => reject(new Error('aborted'))),
      )) as typeof fetch;
    const quiet = { ...t.env, GOPROXY: undefined };
    expect((await kubernetesAvailability('v1.34.3', { env: quiet, fetch: hang, timeoutMs: 50 })).detail).toMatch(
      /no answer within 0 s/,
    );
  });

  it('firstProxy reads GOPROXY lists', () => {
    expect(firstProxy(undefined)).toBe('https://proxy.golang.org');
    expect(firstProxy('direct|https://b.example/')).toBe('https://b.example');
    expect(firstProxy('off')).toBeUndefined();
  });
});
