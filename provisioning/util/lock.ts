// One file lock for the whole tool: the per-lab engine lock (state/store.ts) and the per-version
// lock of the artifact cache (artifacts/cache.ts). A lock is a file holding its owner's pid; it
// appears with its content in one step (written to a temp file, then hard-linked into place), so
// a reader never sees a half-written one. A lock whose process is gone (kill -9, a crash, a
// reboot) is stale and is taken over; a live owner is reported, or waited for.
//
// Why not a library: proper-lockfile and friends detect staleness by an mtime the owner keeps
// touching, which needs seconds after a crash and loses the lock of a process that is merely
// stopped; the pid answers at once and says who holds it ("`halab up` (pid 4242)").
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { HalabError } from '../errors.ts';
import { poll } from './poll.ts';

/** Who holds a lock, as its file records it. */
export interface LockOwner {
  pid: number;
  /** When it was taken (ISO 8601), when recorded. */
  at?: string;
  /** What the owner recorded about itself, e.g. `{ action: 'up' }`. */
  info: Record<string, unknown>;
}

/** A lock this process holds. */
export interface FileLock {
  readonly path: string;
  /** Remove the lock file if it is still this lock's (idempotent; never removes someone else's). */
  release(): Promise<void>;
}

export interface LockOptions {
  /** Recorded in the lock file next to the pid: what the owner is doing (shown to whoever finds it held). */
  info?: Record<string, unknown>;
  /**
   * A lock held by this same process: 'busy' (default) treats it like any live owner; 'take-over'
   * replaces it (re-entrant use, e.g. the engine's per-lab lock inside the service process).
   */
  sameProcess?: 'busy' | 'take-over';
}

const OwnerFile = z.looseObject({
  pid: z.number().int().positive(),
  at: z.string().optional(),
  token: z.string().optional(),
});

/**
 * True while process `pid` exists and is not a zombie (a zombie has exited: its lock is stale).
 * A process of another user counts as alive.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true; // no /proc to ask: kill(0) said it exists
  }
}

/** The owner recorded in a lock file's text: JSON `{pid, at, ...}`, or a bare pid (older lock files). */
export function parseLockOwner(text: string): (LockOwner & { token?: string }) | undefined {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t) > 0 ? { pid: Number(t), info: {} } : undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(t);
  } catch {
    return undefined;
  }
  const r = OwnerFile.safeParse(raw);
  if (!r.success) return undefined;
  const { pid, at, token, ...info } = r.data;
  return { pid, at, token, info };
}

/** Filesystems without hard links (vfat, some FUSE): there the lock is created with O_EXCL instead. */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/** Create `path` holding `body` unless it exists; false when it does. */
async function create(path: string, body: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, body, { mode: 0o600 });
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (!NO_LINKS.has(code)) throw err;
  } finally {
    await rm(tmp, { force: true });
  }
  try {
    const fh = await open(path, 'wx', 0o600);
    try {
      await fh.writeFile(body);
    } finally {
      await fh.close();
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/** The lock file as found: its owner (undefined when unreadable: stale) and inode; undefined when gone. */
async function inspect(path: string): Promise<{ owner?: LockOwner & { token?: string }; ino: number } | undefined> {
  try {
    const st = await stat(path);
    return { owner: parseLockOwner(await readFile(path, 'utf8')), ino: st.ino };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * One attempt at the lock at `path`: `{ lock }` when taken (a stale lock is removed first), else
 * `{ owner }`, the live process that holds it.
 *
 * Errors: the filesystem's (EACCES, ENOENT of the directory: the caller creates it); HalabError
 * LOCK_CONTENDED when the lock changed hands five times during the attempt.
 */
export async function tryLock(
  path: string,
  o: LockOptions = {},
): Promise<{ lock: FileLock; owner?: undefined } | { lock?: undefined; owner: LockOwner }> {
  const token = randomBytes(8).toString('hex');
  const body = JSON.stringify({ pid: process.pid, at: new Date().toISOString(), token, ...o.info });
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await create(path, body)) return { lock: held(path, token) };
    const found = await inspect(path);
    if (!found) continue; // released meanwhile
    const owner = found.owner;
    const mine = owner?.pid === process.pid;
    if (owner && processAlive(owner.pid) && !(mine && o.sameProcess === 'take-over')) {
      return { owner: { pid: owner.pid, at: owner.at, info: owner.info } };
    }
    // stale: remove it, unless another process replaced it since we looked
    const now = await stat(path).catch(() => undefined);
    if (now?.ino === found.ino) await rm(path, { force: true });
  }
  throw new HalabError('LOCK_CONTENDED', `cannot take the lock ${path}: it keeps changing hands`, {
    fix: 'another process is taking and releasing it in a loop; run again when it is done',
  });
}

function held(path: string, token: string): FileLock {
  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      const found = await inspect(path).catch(() => undefined);
      if (found?.owner?.token === token) await rm(path, { force: true });
    },
  };
}

export interface WaitLockOptions extends LockOptions {
  /** What is waited for, for poll's errors: "the Kubernetes v1.34.4 cache". */
  what: string;
  /** Give up after this long, in ms (HalabError TIMEOUT); default: wait as long as the owner lives. */
  timeoutMs?: number;
  /** How often to look again while a live process holds it, in ms (default 2000). */
  intervalMs?: number;
  signal?: AbortSignal;
  /** Called once, the first time the lock is found held. */
  onWait?: (owner: LockOwner) => void;
  /**
   * The owner's work is done (e.g. the artifact it was building is now installed): checked while
   * waiting and right after taking the lock; true ends the wait with 'done' and no lock held.
   */
  done?: () => boolean;
}

/**
 * Take the lock at `path`, waiting while a live process holds it: resolves with the lock, or
 * with 'done' as soon as `o.done()` says the work the lock guards was done by its owner.
 *
 * Errors: CancelledError when `o.signal` aborts; HalabError TIMEOUT after `o.timeoutMs`; the
 * filesystem's errors as they are.
 */
export async function waitForLock(path: string, o: WaitLockOptions): Promise<FileLock | 'done'> {
  let told = false;
  const r = await poll<{ lock?: FileLock; done?: true; error?: unknown }>({
    what: o.what,
    timeoutMs: o.timeoutMs ?? Infinity,
    intervalMs: o.intervalMs ?? 2000,
    signal: o.signal,
    check: async () => {
      try {
        const t = await tryLock(path, o);
        if (t.lock) {
          if (!o.done?.()) return { lock: t.lock };
          await t.lock.release();
          return { done: true };
        }
        if (o.done?.()) return { done: true };
        if (!told) {
          told = true;
          o.onWait?.(t.owner);
        }
        return undefined;
      } catch (error) {
        return { error }; // poll would retry it until the timeout: a filesystem error is final
      }
    },
  });
  if (r.error !== undefined) throw r.error;
  return r.lock ?? 'done';
}
