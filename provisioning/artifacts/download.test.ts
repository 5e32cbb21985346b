// The official Kubernetes release: every binary downloaded and checked against its published sha256.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fakeGo, noRunner, offlineFetch, sha, useTmpCache } from './fixtures.testutil.ts';
import { checkArtifacts, ensureArtifacts, K8S_COMPONENTS } from './kubernetes.ts';
import { goArch } from './version.ts';

const t = useTmpCache();

function fakeRelease(bodies: Record<string, string>, sums: Record<string, string> = {}) {
  const urls: string[] = [];
  const f = (async (input: string | URL | Request) => {
    const url = String(input);
    urls.push(url);
    const name = url.split('/').pop() ?? '';
    if (name.endsWith('.sha256')) {
      const c = name.slice(0, -'.sha256'.length);
      return new Response(sums[c] ?? sha(bodies[c] ?? ''), { status: bodies[c] === undefined ? 404 : 200 });
    }
    return bodies[name] === undefined ? new Response('', { status: 404 }) : new Response(bodies[name]);
  }) as typeof fetch;
  return { f, urls };
}
const bodies = Object.fromEntries(K8S_COMPONENTS.map((c) => [c, `official ${c}`]));

describe('official download', () => {
  it('downloads and verifies every binary', async () => {
    const { f, urls } = fakeRelease(bodies);
    const r = await ensureArtifacts({ env: t.env, fetch: f, runner: noRunner });
    expect(r.source).toBe('download');
    expect(urls).toContain(`https://dl.k8s.io/release/v1.34.4/bin/linux/${goArch()}/kubectl.sha256`);
    expect(readFileSync(join(r.binDir, 'kubemark'), 'utf8')).toBe('official kubemark');
    expect(checkArtifacts('v1.34.4', { env: t.env }).every((c) => c.ok)).toBe(true);
  });

  it('refuses a binary that does not match its published sha256', async () => {
    const { f } = fakeRelease(bodies, { kubelet: 'a'.repeat(64) });
    await expect(ensureArtifacts({ env: t.env, fetch: f, runner: noRunner })).rejects.toMatchObject({
      code: 'K8S_DOWNLOAD_CHECKSUM',
      message: 'downloaded kubelet of Kubernetes v1.34.4 does not match its published sha256',
    });
    expect(checkArtifacts('v1.34.4', { env: t.env }).some((c) => c.present)).toBe(false);
  });

  it('builds when a component is not published', async () => {
    const { kubemark: _omit, ...partial } = bodies;
    const { f } = fakeRelease(partial);
    const go = fakeGo(t.tmp);
    const r = await ensureArtifacts({ env: t.env, fetch: f, runner: go.runner, goBinary: '/usr/bin/go' });
    expect(r.source).toBe('built');
  });

  it('--from download fails with a fix when the server is unreachable', async () => {
    await expect(
      ensureArtifacts({ env: t.env, fetch: offlineFetch, runner: noRunner, from: 'download' }),
    ).rejects.toMatchObject({ code: 'K8S_DOWNLOAD_FAILED', fix: expect.stringMatching(/--from build/) });
  });
});
