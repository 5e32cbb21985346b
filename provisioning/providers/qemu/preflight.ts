// What the qemu provider needs on this machine, each with the command that fixes it: QEMU and
// qemu-img, socat (this machine on the lab segment), the base image (built once by the set-up: debootstrap as root), and, to inform, the
// accelerator the VMs will run under and why (a TCG warning says how slow that is).
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { DoctorCheck } from '../../api/types.ts';
import { detectAccelerator, type AccelChoice } from './accel.ts';
import { checkImage, imageVersion } from './image.ts';
import { QEMU_BINARY } from './vm.ts';

/** The first executable `name` on PATH (plus the sbin directories root has), or undefined. */
export function onPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of [...path.split(delimiter), '/usr/sbin', '/sbin']) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

const isMac = process.platform === 'darwin';
const TOOLS: [tool: string, pkg: string, why: string][] = [
  [QEMU_BINARY, 'qemu-system-x86', 'runs the VMs'],
  ['qemu-img', 'qemu-utils', 'makes the overlays and disks'],
  ['debootstrap', 'debootstrap', 'builds the base image'],
  ['socat', 'socat', 'puts this machine on the lab segment'],
];

/** The accelerator line of `doctor` and `plan` (pure): "TCG (...why...)" with the warning. */
export function accelLine(a: AccelChoice): string {
  return `${a.accel.toUpperCase()}: ${a.why}${a.warning ? `. ${a.warning}` : ''}`;
}

export async function qemuPreflight(): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  for (const [tool, pkg, why] of TOOLS) {
    const p = onPath(tool);
    checks.push({
      id: `tool:${tool}`,
      title: `${tool} (Debian package ${pkg}; qemu provider: ${why})`,
      ok: !!p,
      required: true,
      detail: p ?? 'not found on PATH',
      fix: isMac ? 'brew install qemu' : `apt-get install -y ${pkg}`,
    });
  }
  const version = imageVersion();
  const image = checkImage(version);
  const bad = image.find((c) => !c.ok);
  checks.push({
    id: 'qemu:image',
    title: `the VM base image (Debian bookworm, ${version}; qemu provider)`,
    ok: !bad,
    // `up` of a lab made on an earlier image does not need this one (the qemu:image step checks
    // the lab's own); the set-up builds it all the same (its rule for qemu:image)
    required: false,
    detail: bad ? `${bad.component}: ${bad.problem ?? 'missing'}` : image[0]?.path,
    fix: 'npx tsx scripts/vm-image.ts (as root: debootstrap; about 3 minutes, once per image version)',
  });
  const accel = detectAccelerator();
  checks.push({
    id: 'qemu:accel',
    title: `VM accelerator (qemu provider): ${accel.accel.toUpperCase()}`,
    ok: accel.accel !== 'tcg',
    required: false,
    detail: accelLine(accel),
    fix:
      accel.accel === 'tcg'
        ? 'on a machine with VT-x/AMD-V: load kvm_intel or kvm_amd and make /dev/kvm read-write; on macOS (Intel): HVF is used by itself'
        : undefined,
  });
  return checks;
}
