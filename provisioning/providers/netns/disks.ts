// A host's disks: sparse image files in the lab directory, attached as loop devices, ext4,
// mounted only inside the host (its mount namespace) where the plan says.
import { promises as fs } from 'node:fs';
import { open } from 'node:fs/promises';
import type { LabContext } from '../../engine/context.ts';
import type { StepTools } from '../../engine/runner.ts';
import { out, run } from '../../exec/local.ts';
import { parseSize } from '../../spec/schema.ts';
import { hostSh } from './host-exec.ts';
import { netnsPaths } from './names.ts';
import { isMountpoint } from './proc.ts';
import { netnsHost, type NetnsDisk } from './state.ts';

const backingFile = (dev: string) => out('losetup', ['-n', '-O', 'BACK-FILE', dev]).catch(() => '');
const exists = (p: string) =>
  fs.access(p).then(
    () => true,
    () => false,
  );

/** done(): every planned disk of `h` is attached to its image and mounted at its mountpoint. */
export async function disksReady(lab: LabContext, h: string): Promise<boolean> {
  const want = lab.disks(h);
  const have = netnsHost(lab.state, h).disks;
  if (want.length === 0) return true;
  let mounts: string;
  try {
    mounts = (await hostSh(lab.state, lab.dir, h, 'cat /proc/self/mountinfo')).stdout;
  } catch {
    return false;
  }
  for (const w of want) {
    const disk = have.find((d) => d.name === w.name);
    if (!disk?.loopDevice || disk.mountpoint !== w.mountpoint) return false;
    if ((await backingFile(disk.loopDevice)) !== disk.image) return false;
    const line = mounts.split('\n').find((l) => l.split(' ')[4] === disk.mountpoint);
    if (!line || !line.includes(` ${disk.loopDevice} `)) return false;
  }
  return true;
}

/** Make, attach, format (when new) and mount every planned disk of `h`; reuses what exists. */
export async function createDisks(lab: LabContext, h: string, t: StepTools): Promise<void> {
  const { state } = lab;
  const hs = netnsHost(state, h);
  const p = netnsPaths(lab.dir);
  const result: NetnsDisk[] = [];
  for (const want of lab.disks(h)) {
    const image = p.disk(h, want.name);
    const prev = hs.disks.find((x) => x.name === want.name);
    // reuse a device that is still attached to this very image
    let dev = prev?.loopDevice;
    if (dev && (await backingFile(dev)) !== image) dev = undefined;
    if (!dev) {
      const fresh = !(await exists(image));
      if (fresh && want.seed) {
        // a copy of the seed (sparse: only its used blocks take space), then grown to the size
        await run('cp', ['--sparse=always', want.seed, `${image}.tmp`]);
        await run('truncate', ['-s', `>${parseSize(want.size) ?? 0}`, `${image}.tmp`]);
        await fs.rename(`${image}.tmp`, image);
      } else if (fresh) {
        const fh = await open(image, 'w', 0o600);
        await fh.truncate(parseSize(want.size) ?? 0);
        await fh.close();
      }
      dev = await out('losetup', ['--find', '--show', image]);
      hs.disks = [...hs.disks.filter((x) => x.name !== want.name), { ...want, image, loopDevice: dev }];
      await lab.save();
      if (fresh && want.seed) {
        t.log(`${want.name}: ${want.size} ext4 on ${dev}, a copy of ${want.seed}`, { host: h });
        await run('e2fsck', ['-fp', dev], { allowFail: true });
        await run('resize2fs', ['-f', dev]);
      } else if (fresh) {
        t.log(`${want.name}: ${want.size} ext4 on ${dev}`, { host: h });
        await run('mkfs.ext4', [
          '-q',
          '-F',
          '-L',
          `${h}-${want.name}`.slice(0, 16),
          '-E',
          'lazy_itable_init=1,lazy_journal_init=1',
          dev,
        ]);
      }
    }
    // (re)mount inside the host only
    await hostSh(
      state,
      lab.dir,
      h,
      `mkdir -p ${want.mountpoint}; if ! mountpoint -q ${want.mountpoint}; then mount -o noatime ${dev} ${want.mountpoint}; fi`,
    );
    result.push({ ...want, image, loopDevice: dev });
  }
  hs.disks = result;
  await lab.save();
}

/**
 * Unmount every disk inside its host, then detach the loop devices backed by this lab's images
 * (also one attached by an interrupted run before it was recorded). Never touches another device.
 */
export async function detachDisks(lab: LabContext): Promise<void> {
  const p = netnsPaths(lab.dir);
  for (const h of lab.state.spec.hosts) {
    const disks = netnsHost(lab.state, h.name).disks;
    if (disks.length && isMountpoint(p.mnt(h.name))) {
      const umounts = disks.map((d) => `umount ${d.mountpoint} 2>/dev/null`).join('; ');
      await run('nsenter', [`--mount=${p.mnt(h.name)}`, '--', '/bin/sh', '-c', `${umounts}; true`], {
        allowFail: true,
      });
    }
  }
}

/** Detach the lab's loop devices (after the mount namespaces are gone). */
export async function releaseLoopDevices(lab: LabContext): Promise<void> {
  const p = netnsPaths(lab.dir);
  for (const h of lab.state.spec.hosts) {
    const disks = netnsHost(lab.state, h.name).disks;
    for (const disk of disks) {
      if (!disk.loopDevice) continue;
      const back = await backingFile(disk.loopDevice);
      if (back === disk.image || back === `${disk.image} (deleted)`) await run('losetup', ['-d', disk.loopDevice]);
    }
    for (const d of new Set([...disks.map((x) => x.name), ...lab.disks(h.name).map((x) => x.name)])) {
      const img = p.disk(h.name, d);
      for (const dev of (await out('losetup', ['-n', '-O', 'NAME', '-j', img]).catch(() => ''))
        .split('\n')
        .filter(Boolean)) {
        await run('losetup', ['-d', dev.trim()]);
      }
    }
  }
}
