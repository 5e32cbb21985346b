// A host's own view of the machine's filesystem: its mount namespace (bound to a file, so it
// outlives its processes) with overlays on /etc and /var/lib, private /root, /run, /var/log,
// /tmp and /mnt, a fresh sysfs, the HA Lab cache read-only, and its UTS namespace (hostname).
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { LabContext } from '../../engine/context.ts';
import type { StepTools } from '../../engine/runner.ts';
import { run } from '../../exec/local.ts';
import { shq } from '../../exec/types.ts';
import { cacheRoot } from '../../artifacts/kubernetes.ts';
import { HOST_CACHE, netnsPaths, nsName } from './names.ts';
import { isMountpoint } from './proc.ts';
import { netnsHost } from './state.ts';

export interface HostFsInput {
  lab: string;
  host: string;
  /** The host's directory on this machine (overlay upper/work dirs, root, log). */
  hostDir: string;
  /** The lab's namespace-file directory (unmounted inside the host, so it does not pin them). */
  nsDir: string;
  /** The HA Lab cache on this machine, shown read-only at HOST_CACHE. */
  cache: string;
  /** Every host of the lab: name and address (/etc/hosts). */
  hosts: { name: string; address: string }[];
  /**
   * The host was populated before (a stopped lab started again, after a reboot too): its /etc
   * and /var/lib keep what they had, its sshd host key included.
   */
  again?: boolean;
}

/** The script run once inside the new mount and UTS namespaces (pure). */
export function hostFsScript(i: HostFsInput): string {
  const tag = (what: string) => shq(`halab-${i.lab}-${i.host}-${what}`);
  const hostsFile = ['127.0.0.1 localhost', ...i.hosts.map((x) => `${x.address} ${x.name}`), ''].join('\n');
  return [
    `hostname ${shq(i.host)}`,
    // this namespace's copies of /run/netns and of the lab's ns files would pin those namespaces:
    // first, while the lab directory is still visible here
    `umount -R -l /run/netns 2>/dev/null || true`,
    `umount -R -l ${shq(i.nsDir)} 2>/dev/null || true`,
    `mount -t overlay ${tag('etc')} -o lowerdir=/etc,upperdir=${shq(join(i.hostDir, 'etc.upper'))},workdir=${shq(join(i.hostDir, 'etc.work'))} /etc`,
    `mount -t overlay ${tag('varlib')} -o lowerdir=/var/lib,upperdir=${shq(join(i.hostDir, 'varlib.upper'))},workdir=${shq(join(i.hostDir, 'varlib.work'))} /var/lib`,
    // every source under the lab directory or the cache is mounted before /root is covered: both
    // usually live under it (~/.local/state/halab, ~/.cache/halab when run as root)
    `mount --bind ${shq(join(i.hostDir, 'log'))} /var/log`,
    // /mnt (for temporary mounts, present on every Debian/Ubuntu) becomes the host's own tmpfs,
    // then the cache is shown in it
    `mkdir -p /mnt && mount -t tmpfs -o mode=0755,size=1m ${tag('mnt')} /mnt`,
    `mkdir -p ${HOST_CACHE} && mount --bind ${shq(i.cache)} ${HOST_CACHE} && mount -o remount,bind,ro ${HOST_CACHE}`,
    `mount --bind ${shq(join(i.hostDir, 'root'))} /root`,
    `mount -t tmpfs -o mode=0755,size=64m ${tag('run')} /run`,
    `umount -l /sys && mount -t sysfs ${tag('sys')} /sys`,
    `echo ${shq(i.host)} > /etc/hostname`,
    `cat > /etc/hosts <<'EOF'\n${hostsFile}EOF`,
    // no stale daemons' keys from the real machine (a host started again keeps its own)
    ...(i.again ? [] : [`rm -f /etc/ssh/ssh_host_*`]),
    // last: the lab directory itself may live under /tmp
    `mount -t tmpfs -o mode=1777,size=256m ${tag('tmp')} /tmp`,
  ].join('\n');
}

/** done(): the host's namespaces exist and were populated. */
export function fsReady(lab: LabContext, h: string): boolean {
  const p = netnsPaths(lab.dir);
  return isMountpoint(p.mnt(h)) && isMountpoint(p.uts(h)) && netnsHost(lab.state, h).fs === 'ready';
}

/**
 * Make (or remake, after an interrupted attempt) host `h`'s mount and UTS namespaces. A host that
 * was populated before (recorded `fs: ready`: the lab was stopped, or this machine rebooted)
 * gets its namespaces back over the files it had; any other starts from empty directories.
 */
export async function createHostFs(lab: LabContext, h: string, t: StepTools): Promise<void> {
  const { state } = lab;
  const p = netnsPaths(lab.dir);
  const d = p.host(h);
  const again = netnsHost(state, h).fs === 'ready';
  for (const f of [p.mnt(h), p.uts(h)]) if (isMountpoint(f)) await run('umount', [f]);
  for (const sub of ['etc.upper', 'etc.work', 'varlib.upper', 'varlib.work', 'root', 'log']) {
    if (!again) await fs.rm(join(d, sub), { recursive: true, force: true });
    await fs.mkdir(join(d, sub), { recursive: true, mode: 0o755 });
  }
  await fs.chmod(join(d, 'root'), 0o700);
  await fs.writeFile(p.mnt(h), '');
  await fs.writeFile(p.uts(h), '');
  const cache = cacheRoot();
  await fs.mkdir(cache, { recursive: true });
  const script = hostFsScript({
    lab: state.name,
    host: h,
    hostDir: d,
    nsDir: p.ns,
    cache,
    hosts: state.spec.hosts,
    again,
  });
  t.log(`mount, UTS and filesystem view for ${h}${again ? ' (again, over its files)' : ''}`, { host: h });
  await run('nsenter', [
    `--net=/run/netns/${nsName(state.name, h)}`,
    'unshare',
    `--mount=${p.mnt(h)}`,
    `--uts=${p.uts(h)}`,
    '--propagation',
    'private',
    '/bin/sh',
    '-ec',
    script,
  ]);
  netnsHost(state, h).fs = 'ready';
  await lab.save();
}

/** Release one host's persistent mount and UTS namespaces (its files stay). */
export async function releaseHostFs(lab: LabContext, h: string): Promise<void> {
  const p = netnsPaths(lab.dir);
  for (const f of [p.mnt(h), p.uts(h)]) if (isMountpoint(f)) await run('umount', [f]);
}

/** Release every host's persistent mount and UTS namespace, then the lab's ns directory. */
export async function destroyFilesystems(lab: LabContext): Promise<void> {
  const p = netnsPaths(lab.dir);
  for (const h of lab.state.spec.hosts) {
    for (const f of [p.mnt(h.name), p.uts(h.name)]) if (isMountpoint(f)) await run('umount', [f]);
  }
  if (isMountpoint(p.ns)) await run('umount', [p.ns]);
}
