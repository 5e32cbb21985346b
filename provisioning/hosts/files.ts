// Files on a host, kept equal to what HA Lab wants: one "is it current" check (sha256 + mode)
// for every step that puts files on hosts (PKI, service inputs).
import { createHash } from 'node:crypto';
import { shq, type Remote } from '../exec/types.ts';
import type { FileSpec } from './services.ts';

export const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** Shell that prints "MODE SHA256 PATH" (or "missing - PATH") for each path. */
export function checksumScript(paths: string[]): string {
  return [
    `for f in ${paths.map(shq).join(' ')}; do`,
    `  if [ -f "$f" ]; then echo "$(stat -c %a "$f") $(sha256sum < "$f" | cut -c1-64) $f"; else echo "missing - $f"; fi`,
    `done`,
  ].join('\n');
}

export interface RemoteFileState {
  mode: number;
  sha256: string;
}

/** Parse checksumScript's output: path -> its mode and sha256, or undefined when missing. */
export function parseChecksums(text: string): Map<string, RemoteFileState | undefined> {
  const out = new Map<string, RemoteFileState | undefined>();
  for (const line of text.split('\n')) {
    const m = /^(\S+) (\S+) (\/\S+)$/.exec(line.trim());
    if (!m) continue;
    const [, mode, sum, path] = m as unknown as [string, string, string, string];
    out.set(
      path,
      mode === 'missing' || !/^[0-9a-f]{64}$/.test(sum) ? undefined : { mode: parseInt(mode, 8), sha256: sum },
    );
  }
  return out;
}

/** The files whose content or mode on the host differ from what is wanted (pure). */
export function staleFiles(files: FileSpec[], have: Map<string, RemoteFileState | undefined>): FileSpec[] {
  return files.filter((f) => {
    const r = have.get(f.path);
    return !r || r.sha256 !== sha256(f.content) || r.mode !== f.mode;
  });
}

/** Which of `files` differ on the host (one round trip). */
export async function staleOnHost(remote: Remote, files: FileSpec[]): Promise<FileSpec[]> {
  if (files.length === 0) return [];
  const r = await remote.exec(checksumScript(files.map((f) => f.path)), { timeoutMs: 30_000 });
  return staleFiles(files, parseChecksums(r.stdout));
}

/**
 * Write the files that differ (atomically, with their modes, creating directories); returns the
 * paths written. A second call with the same files writes nothing.
 */
export async function syncFiles(remote: Remote, files: FileSpec[]): Promise<string[]> {
  const stale = await staleOnHost(remote, files);
  if (stale.length === 0) return [];
  const dirs = [...new Set(stale.map((f) => f.path.replace(/\/[^/]+$/, '') || '/'))].sort();
  await remote.exec(`mkdir -p ${dirs.map(shq).join(' ')}`);
  for (const f of stale) await remote.upload(f.path, f.content, f.mode);
  return stale.map((f) => f.path);
}
