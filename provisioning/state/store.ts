import { createHash, randomBytes } from 'node:crypto';
import { promises as fs, constants as fsc, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { LabState, LabSummary } from '../api/types.ts';
import { HalabError } from '../errors.ts';

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
    throw new HalabError('BAD_LAB_NAME', `"${name}" is not a lab name`, { fix: 'lab names are DNS labels of at most 20 characters, e.g. "halab" or "lab2"' });
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
    out.push({ name: s.name, phase: s.phase, provider: s.spec.provider, subnet: s.spec.subnet, hosts: s.spec.hosts.length, updatedAt: s.updatedAt });
  }
  return out;
}

function pidAlive(pid: number): boolean {
  try {
    const st = readFileSync(`/proc/${pid}/status`, 'utf8');
    return !/^State:\s+Z/m.test(st);
  } catch {
    return false;
  }
}

/**
 * One engine at a time per lab. A lock left by a process that died (kill -9, crash) is taken
 * over; a lock held by a live process is an error naming it.
 */
export async function acquireLock(name: string, action: string): Promise<() => Promise<void>> {
  const dir = labDir(name);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, 'lock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await fs.open(path, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY, 0o600);
      await fh.writeFile(JSON.stringify({ pid: process.pid, action, at: new Date().toISOString() }));
      await fh.close();
      return async () => { await fs.rm(path, { force: true }); };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder: { pid?: number; action?: string } = {};
      try { holder = JSON.parse(await fs.readFile(path, 'utf8')); } catch { /* half-written: stale */ }
      if (holder.pid && holder.pid !== process.pid && pidAlive(holder.pid)) {
        throw new HalabError('LAB_BUSY', `lab ${name} is busy: \`halab ${holder.action ?? '?'}\` (pid ${holder.pid}) is working on it`, {
          fix: `wait for it to finish, or stop it (Ctrl-C / kill ${holder.pid}) and run your command again`,
        });
      }
      await fs.rm(path, { force: true });
    }
  }
  throw new HalabError('LAB_BUSY', `cannot lock lab ${name}`);
}
