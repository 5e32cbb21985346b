// Stop, destroy, leftovers and the removal of one VM. Everything of a qemu lab on this machine is
// a QEMU process (found by its recorded pid, or by a command line that names this lab's own VM
// folder) and files under <lab dir>/vms: stop ends the processes and keeps the files; destroy
// ends them and removes the files; leftovers lists what is still there.
import { readdirSync, readFileSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import type { LabContext } from '../../engine/context.ts';
import { forEachLimit, type StepTools } from '../../engine/runner.ts';
import { poll } from '../../util/poll.ts';
import { vmPaths, vmsDir } from './names.ts';
import { powerCut, shutdownVm } from './power.ts';
import { segmentLeftovers, stopSegment } from './segment.ts';
import { qemuState } from './state.ts';
import { vmRunning } from './vm.ts';

/**
 * QEMU processes whose command line names a file in this lab's VM folder, whether recorded or not
 * (an `up` killed between starting a VM and recording it). Linux only (/proc); elsewhere the
 * recorded pids are all there is.
 */
export function strayVmPids(labDir: string): number[] {
  const marker = `${vmsDir(labDir)}/`;
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const d of pids) {
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (cmd.startsWith('qemu-system') || cmd.includes('/qemu-system')) {
        if (cmd.includes(marker)) out.push(Number(d));
      }
    } catch {
      /* gone */
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILL every stray QEMU of the lab and wait until they are gone. */
async function killStrays(labDir: string): Promise<void> {
  const pids = strayVmPids(labDir);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  if (pids.length) {
    await poll({
      what: 'stray QEMU processes to exit',
      check: () => pids.every((p) => !alive(p)),
      timeoutMs: 10_000,
      intervalMs: 50,
    }).catch(() => undefined);
  }
}

/** Stop every VM cleanly (in parallel; a guest that does not shut down in time is powered off); files stay. */
export async function stopQemuLab(lab: LabContext, t: Pick<StepTools, 'log'>): Promise<void> {
  const hosts = Object.keys(qemuState(lab.state).hosts);
  await forEachLimit(hosts, 8, async (h) => {
    if (!vmRunning(lab, h)) return;
    const t0 = Date.now();
    const clean = await shutdownVm(lab, h);
    t.log(
      clean
        ? `${h}: shut down (${((Date.now() - t0) / 1000).toFixed(1)} s)`
        : `${h}: did not shut down in time: powered off`,
      { host: h },
    );
  });
  await killStrays(lab.dir);
  await stopSegment(lab);
  for (const h of hosts) await rm(vmPaths(lab.dir, h).qmp, { force: true });
  await lab.save();
}

/** Power every VM off and remove every file of the lab's VMs. */
export async function destroyQemuLab(
  lab: LabContext,
  t: { log: (m: string, o?: { level?: 'info' | 'warn' }) => void },
): Promise<void> {
  const hosts = Object.keys(qemuState(lab.state).hosts);
  await forEachLimit(hosts, 8, async (h) => {
    if (vmRunning(lab, h)) {
      await powerCut(lab, h);
      t.log(`${h}: powered off`);
    }
  });
  await killStrays(lab.dir);
  await stopSegment(lab);
  await rm(vmsDir(lab.dir), { recursive: true, force: true });
  await lab.save().catch(() => undefined);
}

/**
 * What of the lab's VMs still runs on this machine: QEMU processes, recorded or stray, and this
 * machine's presence on the segment (its socat and tap). (Their
 * files, overlays, disks and sockets, are all under the lab's directory, which `down` removes
 * once this is empty; `stop` keeps them on purpose.)
 */
export async function qemuLeftovers(lab: LabContext): Promise<string[]> {
  const out: string[] = [];
  const qs = qemuState(lab.state);
  for (const h of Object.keys(qs.hosts)) {
    if (vmRunning(lab, h)) out.push(`qemu process ${qs.hosts[h]!.pid} (VM ${h})`);
  }
  for (const pid of strayVmPids(lab.dir)) {
    if (!Object.values(qs.hosts).some((x) => x.pid === pid)) out.push(`qemu process ${pid} (not recorded)`);
  }
  return [...out, ...segmentLeftovers(lab)];
}

/** Remove VM `host`: its QEMU, its files but the disks in keepDisks, its records. Idempotent. */
export async function removeQemuHost(
  lab: LabContext,
  host: string,
  o: { keepDisks?: string[]; log: (m: string) => void },
): Promise<void> {
  const qs = qemuState(lab.state);
  await powerCut(lab, host);
  const p = vmPaths(lab.dir, host);
  const keep = new Set((o.keepDisks ?? []).map((d) => p.disk(d)));
  for (const f of await readdir(p.dir).catch(() => [] as string[])) {
    const full = `${p.dir}/${f}`;
    if (!keep.has(full)) await rm(full, { recursive: true, force: true });
  }
  if (!keep.size) await rm(p.dir, { recursive: true, force: true });
  delete qs.hosts[host];
  delete lab.state.hosts[host];
  await lab.save();
  o.log(`${host}: removed${o.keepDisks?.length ? ` (its ${o.keepDisks.join(' and ')} disks kept)` : ''}`);
}
