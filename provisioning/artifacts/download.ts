// Downloading published binaries, each checked against its published sha256 (how the official
// Kubernetes release is fetched from dl.k8s.io). An unreachable server is an outcome the caller
// can fall back from (to a build); a binary that does not match its checksum is an error.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { HalabError } from '../errors.ts';
import { throwIfCancelled } from './cache.ts';

/** One file to download: saved as <dir>/<name>; `sha256Url` serves its hex sha256 (first word). */
export interface DownloadFile {
  name: string;
  url: string;
  sha256Url: string;
}

export interface DownloadContext {
  fetch: typeof globalThis.fetch;
  signal?: AbortSignal;
  /** Time the server has to answer a request, in ms (a binary gets twice as long). */
  connectTimeoutMs: number;
  /** A transfer with no data for this long fails as unreachable, in ms (default 60 000). */
  stallMs?: number;
  log: (line: string) => void;
  /** For messages: "Kubernetes v1.34.4". */
  title: string;
  /** HalabError code prefix: K8S -> K8S_DOWNLOAD_CHECKSUM. */
  codePrefix: string;
}

export type DownloadOutcome = { ok: true; seconds: number } | { ok: false; reason: string };

function describeFetchError(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return err.message || 'timed out';
  return err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e);
}

/** fetch that fails when the server has not answered within `ms`. */
async function fetchWithin(ctx: DownloadContext, url: string, ms: number): Promise<Response> {
  const ac = new AbortController();
  const timer = setTimeout(
    () => ac.abort(new DOMException(`no answer from ${new URL(url).host} within ${ms / 1000} s`, 'TimeoutError')),
    ms,
  );
  try {
    return await ctx.fetch(url, {
      signal: ctx.signal ? AbortSignal.any([ac.signal, ctx.signal]) : ac.signal,
      redirect: 'follow',
    });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Download every file into `dir` (made executable), each checked against its published sha256.
 * Resolves `{ ok: false, reason }` ("ENOTFOUND", "kubelet: HTTP 404") when a checksum or a file
 * cannot be fetched; `{ ok: true, seconds }` when all are in place.
 *
 * Errors: HalabError <prefix>_DOWNLOAD_CHECKSUM when a file does not match its checksum;
 * CancelledError when `ctx.signal` aborts.
 */
export async function downloadVerified(
  files: readonly DownloadFile[],
  dir: string,
  ctx: DownloadContext,
): Promise<DownloadOutcome> {
  const t0 = performance.now();
  const what = `downloading ${ctx.title}`;
  const sums = new Map<string, string>();
  try {
    await Promise.all(
      files.map(async (f) => {
        const res = await fetchWithin(ctx, f.sha256Url, ctx.connectTimeoutMs);
        if (!res.ok) throw new Error(`${f.name}.sha256: HTTP ${res.status}`);
        const sum = (await res.text()).trim().split(/\s+/)[0]?.toLowerCase() ?? '';
        if (!/^[0-9a-f]{64}$/.test(sum)) throw new Error(`${f.name}.sha256 is not a sha256`);
        sums.set(f.name, sum);
      }),
    );
  } catch (e) {
    throwIfCancelled(ctx.signal, what);
    return { ok: false, reason: describeFetchError(e) };
  }
  for (const f of files) {
    let got: { sha256: string; bytes: number };
    try {
      got = await downloadTo(ctx, f.url, join(dir, f.name));
    } catch (e) {
      throwIfCancelled(ctx.signal, what);
      return { ok: false, reason: `${f.name}: ${describeFetchError(e)}` };
    }
    if (got.sha256 !== sums.get(f.name)) {
      const host = new URL(f.url).host;
      throw new HalabError(
        `${ctx.codePrefix}_DOWNLOAD_CHECKSUM`,
        `downloaded ${f.name} of ${ctx.title} does not match its published sha256`,
        {
          fix: `retry; if it persists, something between you and ${host} alters downloads: build instead (--from build)`,
          details: `expected ${sums.get(f.name)}\ngot      ${got.sha256}`,
        },
      );
    }
    ctx.log(`downloaded ${f.name} (${(got.bytes / 1e6).toFixed(1)} MB, sha256 ok)`);
  }
  return { ok: true, seconds: Math.round((performance.now() - t0) / 100) / 10 };
}

async function downloadTo(ctx: DownloadContext, url: string, path: string): Promise<{ sha256: string; bytes: number }> {
  const res = await fetchWithin(ctx, url, ctx.connectTimeoutMs * 2);
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
  const stallMs = ctx.stallMs ?? 60_000;
  const hash = createHash('sha256');
  const fh = await open(path, 'w', 0o755);
  let bytes = 0;
  try {
    const reader = res.body.getReader();
    for (;;) {
      // a stalled transfer counts as unreachable
      let timer: NodeJS.Timeout | undefined;
      const stall = new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Error(`transfer stalled for ${stallMs / 1000} s`)), stallMs);
      });
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await Promise.race([reader.read(), stall]);
      } catch (e) {
        void reader.cancel().catch(() => {});
        throw e;
      } finally {
        clearTimeout(timer);
      }
      if (chunk.done) break;
      hash.update(chunk.value);
      bytes += chunk.value.byteLength;
      await fh.write(chunk.value);
    }
  } finally {
    await fh.close();
  }
  return { sha256: hash.digest('hex'), bytes };
}
