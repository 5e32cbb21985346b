// Measurements shared by the benchmarks: memory and CPU of a lab's processes, read from /proc.
import { readdirSync, readFileSync } from 'node:fs';
import type { LabHandle } from '../provisioning/engine/lab.ts';

export interface MemoryFigures {
  processes: number;
  rssMiB: number;
  pssMiB: number;
  byCommand: Record<string, { n: number; pssMiB: number }>;
}

function kb(text: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/**
 * `pids` and all their descendants: a pod's processes (kubeadm bootstrap) are children of the
 * host's containerd-shim but live in the pod's own network namespace (CoreDNS, agnhost).
 */
export function withDescendants(pids: number[]): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const st = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
    } catch {
      /* exited */
    }
  }
  const all = new Set(pids);
  const queue = [...pids];
  while (queue.length) {
    for (const c of children.get(queue.pop()!) ?? []) {
      if (!all.has(c)) {
        all.add(c);
        queue.push(c);
      }
    }
  }
  return [...all];
}

/** Every process of the lab's hosts (their network namespaces) and their descendants. */
export async function labPids(lab: LabHandle): Promise<number[]> {
  const all: number[] = [];
  for (const h of lab.state.spec.hosts) all.push(...((await lab.provider.hostPids?.(lab, h.name)) ?? []));
  return withDescendants(all);
}

/** RSS counts shared pages once per process; PSS splits them: the honest total. */
export async function labMemory(lab: LabHandle): Promise<MemoryFigures> {
  let rss = 0,
    pss = 0,
    n = 0;
  const byCommand: MemoryFigures['byCommand'] = {};
  for (const pid of await labPids(lab)) {
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      const st = readFileSync(`/proc/${pid}/status`, 'utf8');
      const sm = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      const p = kb(sm, 'Pss');
      rss += kb(st, 'VmRSS');
      pss += p;
      n++;
      byCommand[comm] ??= { n: 0, pssMiB: 0 };
      byCommand[comm].n++;
      byCommand[comm].pssMiB += p / 1024;
    } catch {
      /* exited */
    }
  }
  return { processes: n, rssMiB: rss / 1024, pssMiB: pss / 1024, byCommand };
}

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]); // utime + stime
}

/** CPU used by the lab's processes over `seconds`, as a percentage of one core. */
export async function labCpu(lab: LabHandle, seconds: number): Promise<number> {
  const pids = await labPids(lab);
  const before = new Map<number, number>();
  for (const p of pids) {
    try {
      before.set(p, cpuTicks(p));
    } catch {
      /* gone */
    }
  }
  await new Promise((r) => setTimeout(r, seconds * 1000));
  let used = 0;
  for (const [p, t] of before) {
    try {
      used += cpuTicks(p) - t;
    } catch {
      /* gone */
    }
  }
  const hz = 100;
  return (used / hz / seconds) * 100;
}
