// Removing a netns lab, and proving it is gone: processes (by namespace inode, never by name),
// disks, mount/UTS namespaces, network; then every kind of object checked again.
import { readFileSync, readdirSync } from 'node:fs';
import type { LabContext } from '../../engine/context.ts';
import type { StepTools } from '../../engine/runner.ts';
import { out } from '../../exec/local.ts';
import { poll } from '../../util/poll.ts';
import { destroyFilesystems } from './filesystems.ts';
import { detachDisks, releaseLoopDevices } from './disks.ts';
import { destroyNetwork, networkLeftovers } from './network.ts';
import { booted } from './power.ts';
import { nsInode, pidsInNamespace, procAlive, readFileSafe } from './proc.ts';
import { netnsState } from './state.ts';

function kill(pid: number) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

export async function destroyNetnsLab(lab: LabContext, t: Pick<StepTools, 'log'>): Promise<void> {
  const { state } = lab;
  const ps = netnsState(state);
  // 1. processes: SIGKILL each host's PID 1 (kills its whole PID namespace), then anything
  //    still in the host's network namespace (verified by namespace inode, never by name)
  for (const h of state.spec.hosts) {
    const hs = ps.hosts[h.name];
    if (!hs) continue;
    if (booted(state, h.name)) kill(hs.initPid!);
    if (procAlive(hs.launcherPid) && /unshare|nsenter/.test(readFileSafe(`/proc/${hs.launcherPid}/comm`))) {
      kill(hs.launcherPid!);
    }
    if (hs.netnsInode) for (const pid of pidsInNamespace('net', hs.netnsInode)) kill(pid);
  }
  for (const h of state.spec.hosts) {
    const inode = ps.hosts[h.name]?.netnsInode;
    if (!inode) continue;
    await poll({
      what: `processes of ${h.name} to exit`,
      check: () => pidsInNamespace('net', inode).length === 0,
      timeoutMs: 10_000,
      intervalMs: 50,
    }).catch((e: Error) => t.log(e.message, { level: 'warn' }));
  }
  t.log('processes stopped');
  // 2. disks: unmount inside the hosts; 3. the persistent namespaces die with their last
  //    reference; then the loop devices backed by this lab's images are detached
  await detachDisks(lab);
  await destroyFilesystems(lab);
  await releaseLoopDevices(lab);
  t.log('disks detached');
  // 4. network: deleting a netns deletes the veth end inside it, and so the pair
  await destroyNetwork(state);
  t.log('network removed');
}

export async function netnsLeftovers(lab: LabContext): Promise<string[]> {
  const { state, dir } = lab;
  const left = await networkLeftovers(state);
  const loops = await out('losetup', ['-n', '-O', 'NAME,BACK-FILE', '-l']).catch(() => '');
  const under = (p: string | undefined) => !!p && (p === dir || p.startsWith(`${dir}/`));
  for (const l of loops.split('\n')) if (under(l.trim().split(/\s+/)[1])) left.push(`loop device ${l.trim()}`);
  for (const l of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = l.split(' ');
    const source = (l.split(' - ')[1] ?? '').split(' ')[1];
    if (under(f[4]) || under(f[3]) || source?.startsWith(`halab-${state.name}-`)) {
      left.push(`mount ${f[4]} (${l.split(' - ')[1] ?? ''})`);
    }
  }
  const inodes = new Set(
    Object.values(netnsState(state).hosts)
      .flatMap((h) => [h.netnsInode, h.pidnsInode])
      .filter((x): x is string => !!x),
  );
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (!procAlive(pid)) continue;
    const net = nsInode(pid, 'net');
    const pidns = nsInode(pid, 'pid');
    const cmd = readFileSafe(`/proc/${pid}/cmdline`).replace(/\0/g, ' ');
    if ((net && inodes.has(net)) || (pidns && inodes.has(pidns)) || cmd.includes(`${dir}/`)) {
      left.push(`process ${pid} ${cmd.slice(0, 80)}`);
    }
  }
  return left;
}
