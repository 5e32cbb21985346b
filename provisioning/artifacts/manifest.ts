// The manifest of a cached artifact version (<cache>/<name>/<version>/manifest.json): where the
// binaries came from and the sha256, size and mtime of each, and the checks of a cache directory
// against it.
import { createHash } from 'node:crypto';
import { accessSync, closeSync, constants as fsc, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { goArch } from './version.ts';

const BinarySchema = z.object({
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
  /** mtime when installed (ms): lets a re-run skip hashing when nothing touched the file. */
  mtimeMs: z.number().optional(),
});

export type ArtifactSource = 'download' | 'built';

export const ManifestSchema = z.object({
  schema: z.literal(1),
  version: z.string(),
  source: z.enum(['download', 'built']),
  os: z.string(),
  /** GOARCH the binaries are for. */
  arch: z.string(),
  createdAt: z.string(),
  /** Wall time to obtain the binaries, in s (download, or module download + compile). */
  seconds: z.number(),
  downloadSeconds: z.number().optional(),
  compileSeconds: z.number().optional(),
  /** Toolchain that compiled the binaries; null for official downloads. */
  goVersion: z.string().nullable(),
  /** The Go module built (and whatever its builder records with it, e.g. Kubernetes' stagingVersion). */
  module: z.looseObject({ path: z.string(), version: z.string(), sum: z.string().optional() }).optional(),
  /** By file name under bin/. */
  binaries: z.record(z.string(), BinarySchema),
});
export type Manifest = z.infer<typeof ManifestSchema>;

/** The manifest.json of a version directory; undefined when missing, unreadable or malformed. */
export function readManifest(dir: string): Manifest | undefined {
  try {
    const r = ManifestSchema.safeParse(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** Hex sha256 of a file. Errors: the filesystem's. */
export function sha256File(path: string): string {
  // synchronous for `doctor`, in 8 MiB chunks: a cached disk image is gigabytes
  const h = createHash('sha256');
  const buf = Buffer.alloc(8 * 1024 * 1024);
  const fd = openSync(path, 'r');
  try {
    for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsc.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** One binary of a cached version, checked. */
export interface BinaryCheck<N extends string = string> {
  component: N;
  path: string;
  present: boolean;
  /**
   * sha256 of the file: computed when `hashed`, else the recorded one (the file's size and mtime
   * are still exactly as installed).
   */
  sha256?: string;
  /** What manifest.json recorded. */
  expectedSha256?: string;
  hashed: boolean;
  /** Present, executable, and matching the manifest. */
  ok: boolean;
  problem?: string;
}

/** Why a manifest does not describe `version` for this machine; undefined when it does. */
export function manifestProblem(manifest: Manifest | undefined, version: string): string | undefined {
  if (!manifest) return 'manifest.json missing or unreadable';
  if (manifest.version !== version) return `manifest is for ${manifest.version}`;
  if (manifest.arch !== goArch()) return `built for ${manifest.arch}, this machine is ${goArch()}`;
  return undefined;
}

/**
 * Check bin/<name> of a version directory against its manifest. `deep` hashes it even when its
 * size and mtime are as installed (else only a changed file is hashed).
 */
export function checkBinary<N extends string>(
  dir: string,
  name: N,
  manifest: Manifest | undefined,
  mProblem: string | undefined,
  deep: boolean,
): BinaryCheck<N> {
  const path = join(dir, 'bin', name);
  let st;
  try {
    st = statSync(path);
  } catch {
    /* absent */
  }
  if (!st || !st.isFile())
    return { component: name, path, present: false, hashed: false, ok: false, problem: 'missing' };
  const want = manifest?.binaries[name];
  const unchanged =
    !deep && want !== undefined && want.mtimeMs !== undefined && st.mtimeMs === want.mtimeMs && st.size === want.size;
  const sha256 = unchanged ? want.sha256 : sha256File(path);
  const base = { component: name, path, present: true, sha256, expectedSha256: want?.sha256, hashed: !unchanged };
  if (mProblem) return { ...base, ok: false, problem: mProblem };
  if (!want) return { ...base, ok: false, problem: 'not listed in manifest.json' };
  if (sha256 !== want.sha256)
    return { ...base, ok: false, problem: 'sha256 differs from manifest.json (corrupted or replaced)' };
  if (!isExecutable(path)) return { ...base, ok: false, problem: 'not executable' };
  return { ...base, ok: true };
}

/** Every binary of a version directory, checked (for `halab doctor`). */
export function checkBinaries<N extends string>(
  dir: string,
  version: string,
  names: readonly N[],
  deep = false,
): BinaryCheck<N>[] {
  const manifest = readManifest(dir);
  const mProblem = manifestProblem(manifest, version);
  return names.map((n) => checkBinary(dir, n, manifest, mProblem, deep));
}

/** Is a version directory complete and intact? Stops at the first problem ("kubelet: missing"). */
export function cacheProblem(
  dir: string,
  version: string,
  names: readonly string[],
): { problem?: string; manifest?: Manifest } {
  const manifest = readManifest(dir);
  const mProblem = manifestProblem(manifest, version);
  if (mProblem || !manifest) return { problem: mProblem };
  for (const n of names) {
    const r = checkBinary(dir, n, manifest, undefined, false);
    if (!r.ok) return { problem: `${n}: ${r.problem}` };
  }
  return { manifest };
}
