// Which accelerator QEMU can use here, and why (shown by `halab doctor` and `halab plan`):
// KVM where the kernel has real hardware virtualization (the kvm_intel or kvm_amd module and a
// usable /dev/kvm), HVF on macOS (Hypervisor.framework), TCG (QEMU's emulator) everywhere else.
// A /dev/kvm alone proves nothing: on a machine that is itself a PVM guest (kvm_pvm module) the
// device exists but a stock Debian kernel never finishes booting under it, so that is TCG too.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export type Accelerator = 'kvm' | 'hvf' | 'tcg';

export interface AccelChoice {
  accel: Accelerator;
  /** The fact it was chosen on ("kvm_intel loaded, /dev/kvm read-write"). */
  why: string;
  /** Said next to TCG: how slow, and what would make it fast. */
  warning?: string;
}

/** What the detection looks at (a fake in tests). */
export interface AccelFacts {
  platform: NodeJS.Platform;
  arch: string;
  /** HALAB_QEMU_ACCEL, when set. */
  override?: string;
  /** /dev/kvm exists and this process can open it read-write. */
  devKvm: 'rw' | 'present' | 'absent';
  /** Loaded kernel modules among kvm_intel, kvm_amd, kvm_pvm (/sys/module). */
  modules: string[];
  /** The CPU advertises vmx or svm (/proc/cpuinfo). */
  cpuVirt: boolean;
  /** macOS: sysctl kern.hv_support is 1. */
  hvSupport: boolean;
}

export const TCG_WARNING =
  'VMs run under TCG (QEMU emulates the CPU): about 1 minute from power-on to SSH and ~600 MB per VM; a full kubeadm lab is impractical this way. On a laptop with KVM (Linux) or HVF (macOS, Intel) VMs boot in seconds.';

/**
 * Spec timers a lab under TCG keeps (README, provider qemu): VRRP advert 1 s, HAProxy check every
 * 2 s, etcd heartbeat 200 ms and election 2000 ms; a 0.2 s advert is missed whenever an emulated
 * CPU stalls. Used by the qemu bench and integration test.
 */
export const TCG_TIMERS = { vrrpAdvertInt: 1, haproxyCheckInterMs: 2000, etcdHeartbeatMs: 200, etcdElectionMs: 2000 };

/** The accelerator for these facts (pure; see the file comment). */
export function chooseAccelerator(f: AccelFacts): AccelChoice {
  const o = f.override?.trim();
  if (o === 'kvm' || o === 'hvf' || o === 'tcg') {
    return { accel: o, why: `set by HALAB_QEMU_ACCEL=${o}`, ...(o === 'tcg' ? { warning: TCG_WARNING } : {}) };
  }
  if (f.platform === 'darwin') {
    if (f.hvSupport && f.arch === 'x64') return { accel: 'hvf', why: 'macOS Hypervisor.framework (kern.hv_support=1)' };
    return {
      accel: 'tcg',
      why: f.hvSupport ? 'macOS on Apple silicon: the x86_64 image cannot use HVF' : 'kern.hv_support is not 1',
      warning: TCG_WARNING,
    };
  }
  if (f.platform !== 'linux')
    return { accel: 'tcg', why: `no accelerator known on ${f.platform}`, warning: TCG_WARNING };
  const real = f.modules.find((m) => m === 'kvm_intel' || m === 'kvm_amd');
  if (real && f.devKvm === 'rw') return { accel: 'kvm', why: `${real} loaded, /dev/kvm read-write` };
  let why: string;
  if (f.modules.includes('kvm_pvm')) {
    why =
      '/dev/kvm is PVM (kvm_pvm: this machine is itself a VM without VT-x/AMD-V), which cannot boot a stock Debian kernel';
  } else if (real) {
    why = `${real} is loaded but /dev/kvm is not read-write for this user`;
  } else if (f.devKvm !== 'absent') {
    why = '/dev/kvm exists but neither kvm_intel nor kvm_amd is loaded';
  } else if (f.cpuVirt) {
    why = 'the CPU has VT-x/AMD-V but /dev/kvm is absent (modprobe kvm_intel or kvm_amd)';
  } else {
    why = 'no /dev/kvm and no VT-x/AMD-V in this CPU (enable virtualization in the BIOS or the hypervisor)';
  }
  return { accel: 'tcg', why, warning: TCG_WARNING };
}

/** The facts of this machine. */
export function machineFacts(env: NodeJS.ProcessEnv = process.env): AccelFacts {
  let devKvm: AccelFacts['devKvm'] = 'absent';
  if (existsSync('/dev/kvm')) {
    try {
      accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
      devKvm = 'rw';
    } catch {
      devKvm = 'present';
    }
  }
  let cpuVirt = false;
  try {
    cpuVirt = /^flags\s*:.*\b(vmx|svm)\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    /* not Linux */
  }
  let hvSupport = false;
  if (process.platform === 'darwin') {
    try {
      hvSupport = execFileSync('sysctl', ['-n', 'kern.hv_support'], { encoding: 'utf8' }).trim() === '1';
    } catch {
      /* no such sysctl */
    }
  }
  return {
    platform: process.platform,
    arch: process.arch,
    override: env.HALAB_QEMU_ACCEL,
    devKvm,
    modules: ['kvm_intel', 'kvm_amd', 'kvm_pvm'].filter((m) => existsSync(`/sys/module/${m}`)),
    cpuVirt,
    hvSupport,
  };
}

/** The accelerator for this machine. */
export function detectAccelerator(env: NodeJS.ProcessEnv = process.env): AccelChoice {
  return chooseAccelerator(machineFacts(env));
}

/** QEMU's -accel and -cpu arguments for `accel` (TCG: a 64 MiB translation cache keeps a VM near 600 MB). */
export function accelArgs(accel: Accelerator): string[] {
  switch (accel) {
    case 'kvm':
    case 'hvf':
      return ['-accel', accel, '-cpu', 'host'];
    case 'tcg':
      return ['-accel', 'tcg,tb-size=64', '-cpu', 'max'];
  }
}
