// Stopping a netns lab (every process ends, its namespaces, links, mounts and loop devices are
// released, its files stay: the next `up` makes the kernel objects again over them) and
// removing one host (`halab remove`, and `halab replace`, which keeps the host's disk images).
import { promises as fs } from 'node:fs';
import type { LabContext } from '../../engine/context.ts';
import type { StepTools } from '../../engine/runner.ts';
import { out, run } from '../../exec/local.ts';
import { poll } from '../../util/poll.ts';
import { destroyNetnsLab } from './destroy.ts';
import { releaseHostFs } from './filesystems.ts';
import { netnsPaths } from './names.ts';
import { destroyHostNetwork } from './network.ts';
import { booted } from './power.ts';
import { isMountpoint, pidsInNamespace, procAlive, readFileSafe } from './proc.ts';
import { netnsHost, netnsState } from './state.ts';

/** Forget what only lives while a host runs (pids, namespace inodes, loop devices): kept files stay recorded. */
function forgetRuntime(lab: LabContext, host: string): void {
  const hs = netnsHost(lab.state, host);
  delete hs.initPid;
  delete hs.launcherPid;
  delete hs.pidnsInode;
  delete hs.netnsInode;
  hs.disks = hs.disks.map(({ loopDevice: _gone, ...d }) => d);
}

/** Stop every host of the lab and release its kernel objects; the files stay (see NodeProvider.stop). */
export async function stopNetnsLab(lab: LabContext, t: Pick<StepTools, 'log'>): Promise<void> {
  // the removal's first half is exactly this: processes, disks, mount/UTS namespaces, network
  await destroyNetnsLab(lab, t);
  for (const h of lab.state.spec.hosts) forgetRuntime(lab, h.name);
  await lab.save();
}

const backingFile = (dev: string) => out('losetup', ['-n', '-O', 'BACK-FILE', dev]).catch(() => '');

/** Remove one host (see NodeProvider.removeHost). Idempotent. */
export async function removeNetnsHost(
  lab: LabContext,
  host: string,
  o: { keepDisks?: string[]; log: (m: string) => void },
): Promise<void> {
  const { state } = lab;
  const ps = netnsState(state);
  const hs = ps.hosts[host];
  const p = netnsPaths(lab.dir);
  if (hs) {
    if (booted(state, host)) process.kill(hs.initPid!, 'SIGKILL');
    if (procAlive(hs.launcherPid) && /unshare|nsenter/.test(readFileSafe(`/proc/${hs.launcherPid}/comm`))) {
      process.kill(hs.launcherPid!, 'SIGKILL');
    }
    const inode = hs.netnsInode;
    if (inode) {
      for (const pid of pidsInNamespace('net', inode)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await poll({
        what: `processes of ${host} to exit`,
        check: () => pidsInNamespace('net', inode).length === 0,
        timeoutMs: 10_000,
        intervalMs: 50,
      });
    }
    o.log(`${host}: every process stopped`);
    // its disks: unmounted inside it, its mount namespace released, then the loop devices backed by its images
    if (hs.disks.length && isMountpoint(p.mnt(host))) {
      const umounts = hs.disks.map((d) => `umount ${d.mountpoint} 2>/dev/null`).join('; ');
      await run('nsenter', [`--mount=${p.mnt(host)}`, '--', '/bin/sh', '-c', `${umounts}; true`], { allowFail: true });
    }
    await releaseHostFs(lab, host);
    for (const d of hs.disks) {
      for (const dev of (await out('losetup', ['-n', '-O', 'NAME', '-j', d.image]).catch(() => ''))
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)) {
        const back = await backingFile(dev);
        if (back === d.image || back === `${d.image} (deleted)`) await run('losetup', ['-d', dev]);
      }
      if (!o.keepDisks?.includes(d.name)) await fs.rm(d.image, { force: true });
    }
    await destroyHostNetwork(state, host);
  } else {
    await releaseHostFs(lab, host);
  }
  // disk images that were never recorded (an interrupted attempt) go too, but the kept ones
  for (const f of await fs.readdir(`${lab.dir}/disks`).catch(() => [] as string[])) {
    const m = new RegExp(`^${host}-(.+)\\.img(\\.tmp)?$`).exec(f);
    if (m && !o.keepDisks?.includes(m[1]!)) await fs.rm(`${lab.dir}/disks/${f}`, { force: true });
  }
  await fs.rm(p.host(host), { recursive: true, force: true });
  await fs.rm(p.mnt(host), { force: true });
  await fs.rm(p.uts(host), { force: true });
  delete ps.hosts[host];
  delete state.hosts[host];
  await lab.save();
  o.log(
    `${host}: removed from this machine${o.keepDisks?.length ? ` (its ${o.keepDisks.join(' and ')} disk images kept)` : ''}`,
  );
}
