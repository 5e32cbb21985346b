// Small helpers over /proc and the machine's mount table (synchronous: they only read files).
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** Is `pid` a live process (not a zombie)? */
export function procAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** The namespace of `kind` a process is in, e.g. "net:[4026532...]"; undefined if gone. */
export function nsInode(pid: number | 'self', kind: 'net' | 'pid' | 'mnt'): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return undefined;
  }
}

/** Every live pid whose namespace of `kind` is `inode` (e.g. "pid:[4026532...]"). */
export function pidsInNamespace(kind: 'net' | 'pid', inode: string): number[] {
  const res: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (nsInode(pid, kind) === inode && procAlive(pid)) res.push(pid);
  }
  return res;
}

/** Is `path` a mountpoint in this process's mount namespace? */
export function isMountpoint(path: string): boolean {
  const mi = readFileSync('/proc/self/mountinfo', 'utf8');
  return mi.split('\n').some((l) => l.split(' ')[4] === path);
}

/** A file's text, or '' when it cannot be read. */
export function readFileSafe(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

/**
 * `pids` and every live descendant of them, by parent pid (from /proc/PID/stat), whatever PID
 * namespace the descendants are in: a container's processes (a pod of the kubeadm bootstrap)
 * live in a PID namespace of their own, below the host's.
 */
export function withDescendants(pids: number[]): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    // "pid (comm) state ppid ...": comm may contain spaces and parentheses, ppid follows the last ')'
    const stat = readFileSafe(`/proc/${e}/stat`);
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!ppid) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(e));
    children.set(ppid, list);
  }
  const out = new Set(pids);
  const queue = [...pids];
  while (queue.length) {
    for (const c of children.get(queue.pop()!) ?? []) {
      if (out.has(c)) continue;
      out.add(c);
      queue.push(c);
    }
  }
  return [...out].filter((p) => procAlive(p));
}

/** Direct children of a process (from /proc/PID/task/PID/children). */
export function childPids(pid: number): number[] {
  return readFileSafe(`/proc/${pid}/task/${pid}/children`).trim().split(/\s+/).filter(Boolean).map(Number);
}
