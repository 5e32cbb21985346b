// The plan's disks inside a VM: each is a virtio disk whose serial is the disk's name, so the
// guest sees it as /dev/disk/by-id/virtio-<name> whatever order the kernel probes them in. Made
// an ext4 filesystem labelled with its name on first use (a seeded disk already has one, grown to
// the disk's size), listed in /etc/fstab by that path, mounted at the plan's mountpoint.
import type { LabContext } from '../../engine/context.ts';
import { shq } from '../../exec/types.ts';
import type { PlanDisk } from '../../spec/plan.ts';

const byId = (d: Pick<PlanDisk, 'name'>) => `/dev/disk/by-id/virtio-${d.name}`;

/** Shell that prints "ok" when every disk is mounted at its mountpoint from its device (pure). */
export function disksCheckScript(disks: PlanDisk[]): string {
  const tests = disks.map(
    (d) => `[ "$(findmnt -n -o SOURCE --target ${shq(d.mountpoint)} 2>/dev/null)" = "$(readlink -f ${shq(byId(d))})" ]`,
  );
  return tests.length ? `${tests.join(' && ')} && echo ok` : 'echo ok';
}

/** Shell that formats (only a disk with no filesystem), records in fstab and mounts every disk (pure). */
export function disksSetupScript(disks: PlanDisk[]): string {
  const lines = ['set -e', 'udevadm settle -t 10 2>/dev/null || true'];
  for (const d of disks) {
    const dev = shq(byId(d));
    const mnt = shq(d.mountpoint);
    lines.push(
      `i=0; while [ ! -e ${dev} ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done`,
      `[ -e ${dev} ] || { echo "disk ${d.name}: no device ${byId(d)}" >&2; exit 1; }`,
      `if ! blkid -p ${dev} >/dev/null 2>&1; then mkfs.ext4 -q -L ${shq(d.name)} -m 0 ${dev}; fi`,
      `mkdir -p ${mnt}`,
      `grep -q "^${byId(d)} " /etc/fstab || echo "${byId(d)} ${d.mountpoint} ext4 noatime,nofail 0 2" >> /etc/fstab`,
      `mountpoint -q ${mnt} || mount ${mnt}`,
      // a seed smaller than the disk, or a disk grown in the spec: the filesystem takes it all
      `resize2fs ${dev} >/dev/null 2>&1 || true`,
    );
  }
  lines.push('systemctl daemon-reload 2>/dev/null || true');
  return lines.join('\n');
}

/** done(): every planned disk of `host` is mounted where the plan says. */
export async function vmDisksReady(lab: LabContext, host: string): Promise<boolean> {
  const disks = lab.disks(host);
  if (!disks.length) return true;
  const r = await lab
    .remote(host)
    .exec(disksCheckScript(disks), { allowFail: true, timeoutMs: 30_000 })
    .catch(() => undefined);
  return r?.stdout.trim() === 'ok';
}

/** Format what is blank, record and mount every planned disk of `host`. */
export async function setupVmDisks(lab: LabContext, host: string): Promise<void> {
  const disks = lab.disks(host);
  if (disks.length) await lab.remote(host).exec(disksSetupScript(disks), { timeoutMs: 120_000 });
}
