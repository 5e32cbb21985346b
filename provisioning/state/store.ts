import { createHash, randomBytes } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { LabState, LabSummary } from '../api/types.ts';
import { HalabError } from '../errors.ts';
import { tryLock } from '../util/lock.ts';

/** Root of everything HA Lab keeps: $HALAB_HOME, else $XDG_STATE_HOME/halab, else ~/.local/state/halab. */
export function halabHome(): string {
  if (process.env.HALAB_HOME) return process.env.HALAB_HOME;
  const base = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'halab');
}

export function labsRoot(): string {
  return join(halabHome(), 'labs');
}

export function labDir(name: string): string {
  if (!/^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$/.test(name)) {
    throw new HalabError('BAD_LAB_NAME', `"${name}" is not a lab name`, {
      fix: 'lab names are DNS labels of at most 20 characters, e.g. "halab" or "lab2"',
    });
  }
  return join(labsRoot(), name);
}

/**
 * The short tag every kernel object of a lab carries (bridge and veth names are limited to 15
 * characters). Derived from the name, so it is the same from any process; recorded in the state too.
 */
export function labTag(name: string): string {
  return `hl${createHash('sha256').update(name).digest('hex').slice(0, 6)}`;
}

/** Write a file so that readers see either the old or the new content, never half of it. */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await fs.open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, path);
}

export async function readState(name: string): Promise<LabState | undefined> {
  try {
    return JSON.parse(await fs.readFile(join(labDir(name), 'state.json'), 'utf8')) as LabState;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new HalabError('STATE_CORRUPT', `the state of lab ${name} cannot be read: ${(err as Error).message}`, {
      fix: `inspect ${join(labDir(name), 'state.json')}; \`halab down ${name}\` still removes what it can find`,
    });
  }
}

export function readStateSync(name: string): LabState | undefined {
  try {
    return JSON.parse(readFileSync(join(labDir(name), 'state.json'), 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

export async function writeState(state: LabState): Promise<void> {
  state.updatedAt = new Date().toISOString();
  await fs.mkdir(labDir(state.name), { recursive: true, mode: 0o700 });
  await writeFileAtomic(join(labDir(state.name), 'state.json'), `${JSON.stringify(state, null, 2)}\n`, 0o600);
}

export async function listLabs(): Promise<LabSummary[]> {
  let names: string[] = [];
  try {
    names = (await fs.readdir(labsRoot())).sort();
  } catch {
    return [];
  }
  const out: LabSummary[] = [];
  for (const n of names) {
    const s = await readState(n).catch(() => undefined);
    if (!s) continue;
    out.push({
      name: s.name,
      phase: s.phase,
      provider: s.spec.provider,
      subnet: s.spec.subnet,
      hosts: s.spec.hosts.length,
      updatedAt: s.updatedAt,
    });
  }
  return out;
}

/**
 * One engine at a time per lab. A lock left by a process that died (kill -9, crash) is taken
 * over; a lock held by a live process is an error naming it (HalabError LAB_BUSY). This process
 * may take its own lock again (the service runs several operations in one process and keeps its
 * own table of busy labs). Resolves with the release function.
 */
export async function acquireLock(name: string, action: string): Promise<() => Promise<void>> {
  const dir = labDir(name);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  let r;
  try {
    r = await tryLock(join(dir, 'lock'), { info: { action }, sameProcess: 'take-over' });
  } catch (err) {
    if (err instanceof HalabError && err.code === 'LOCK_CONTENDED') {
      throw new HalabError('LAB_BUSY', `cannot lock lab ${name}`, { fix: 'run your command again' });
    }
    throw err;
  }
  const lock = r.lock;
  if (lock) return () => lock.release();
  const holder = r.owner;
  const act = typeof holder.info.action === 'string' ? holder.info.action : '?';
  throw new HalabError('LAB_BUSY', `lab ${name} is busy: \`halab ${act}\` (pid ${holder.pid}) is working on it`, {
    fix: `wait for it to finish, or stop it (Ctrl-C / kill ${holder.pid}) and run your command again`,
  });
}
