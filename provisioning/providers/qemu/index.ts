// The qemu provider: every host is a QEMU virtual machine booted from the locally built base
// image (a copy-on-write overlay per VM), masters with their two data disks as virtio disks,
// all VMs on one lab segment that needs no root (QEMU's multicast socket backend on 127.0.0.1),
// each reached over SSH through a loopback port forward. Power actions go through QMP.
//
//   accel.ts        KVM / HVF / TCG, and why
//   image.ts        the base image: debootstrap, cached per version (image-files.ts: what it holds)
//   names.ts        files, segment, MACs, PCI slots (pure)
//   state.ts        what is recorded in state.provider (zod)
//   qmp.ts          the QMP client
//   vm.ts           a VM's files, its QEMU command line and start, SSH readiness
//   disks.ts        the plan's disks inside a VM
//   segment.ts      this machine on the lab segment (a tap joined to it by socat: the VIP from here)
//   power.ts        power cut, power on, clean shutdown, freeze/thaw, cable
//   lifecycle.ts    stop, destroy, leftovers, the removal of one VM
import type { LabSpec } from '../../api/types.ts';
import { cacheRoot } from '../../artifacts/cache.ts';
import type { LabContext } from '../../engine/context.ts';
import { forEachLimit, type Step, type StepTools } from '../../engine/runner.ts';
import { HalabError } from '../../errors.ts';
import { shq } from '../../exec/types.ts';
import type { ServiceManager } from '../../hosts/services.ts';
import { Supervisor } from '../../hosts/supervisor.ts';
import type { HostPowerState, NodeProvider, PowerAction } from '../types.ts';
import { detectAccelerator } from './accel.ts';
import { setupVmDisks, vmDisksReady } from './disks.ts';
import { GUEST_CACHE } from './image-files.ts';
import { checkImage, imageVersion } from './image.ts';
import { destroyQemuLab, qemuLeftovers, removeQemuHost, stopQemuLab } from './lifecycle.ts';
import { labAccel, power, vmHostState } from './power.ts';
import { accelLine, qemuPreflight } from './preflight.ts';
import { segmentInterface, segmentUp, startSegment } from './segment.ts';
import { qemuState } from './state.ts';
import { makeVmFiles, startVm, vmFilesReady, vmRunning, waitVmSsh } from './vm.ts';

export { detectAccelerator, chooseAccelerator, type Accelerator, type AccelChoice } from './accel.ts';
export { accelLine } from './preflight.ts';

/**
 * How much slower than native a TCG guest runs the LBs' health checks: one curl to HAProxy's
 * monitor took 1-2 s on a 2-core machine running 4 VMs, past keepalived's 1 s interval and 2 s
 * timeout (every check timed out, the VIP never came); 3 times those held the VIP.
 */
export const TCG_SLOWDOWN = 3;

export class QemuProvider implements NodeProvider {
  readonly name = 'qemu' as const;
  readonly title = 'QEMU virtual machines (KVM / HVF / TCG)';

  preflight() {
    return qemuPreflight();
  }

  createSteps(_spec: LabSpec): Step<LabContext>[] {
    return [
      {
        id: 'qemu:image',
        title: 'Choose the accelerator and the cached base image the VMs boot from',
        run: async (lab, t) => {
          const qs = qemuState(lab.state);
          // a lab keeps the image its overlays were made on; a new lab takes the current one
          const version = qs.image ?? imageVersion();
          const bad = checkImage(version).find((c) => !c.ok);
          if (bad) {
            throw new HalabError('NO_VM_IMAGE', `the VM base image ${version} is not in the cache (${bad.problem})`, {
              fix: 'npm run setup (builds it once: debootstrap, about 3 minutes), or: npx tsx scripts/vm-image.ts',
            });
          }
          qs.image = version;
          const accel = detectAccelerator();
          qs.accel = accel.accel;
          t.log(`accelerator ${accelLine(accel)}`, { level: accel.warning ? 'warn' : 'info' });
          t.log(`base image ${version}`);
          await lab.save();
        },
      },
      {
        id: 'qemu:files',
        title: 'Make every VM its SSH host key, its overlay on the base image and its planned disks',
        done: async (lab) => {
          for (const h of lab.state.spec.hosts) if (!(await vmFilesReady(lab, h.name))) return false;
          return true;
        },
        run: async (lab, t) => {
          for (const h of lab.state.spec.hosts) {
            if (!(await vmFilesReady(lab, h.name))) await makeVmFiles(lab, h.name, (m) => t.log(m, { host: h.name }));
          }
        },
      },
      {
        id: 'qemu:segment',
        title:
          "Put this machine on the lab segment (a tap with the subnet's gateway address, joined to the VMs' multicast group)",
        done: async (lab) => segmentUp(lab),
        run: async (lab, t) => {
          await startSegment(lab);
          t.log(`${segmentInterface(lab.state.tag)} on the lab segment (pid ${qemuState(lab.state).segment?.pid})`);
        },
      },
      {
        id: 'qemu:boot',
        title: 'Power on every VM (QEMU, lab segment on 127.0.0.1, SSH forward on 127.0.0.1)',
        done: async (lab) => lab.state.spec.hosts.every((h) => vmRunning(lab, h.name)),
        run: async (lab, t) => {
          const accel = labAccel(lab);
          for (const h of lab.state.spec.hosts) {
            if (vmRunning(lab, h.name)) continue;
            await startVm(lab, h.name, accel);
            const hs = qemuState(lab.state).hosts[h.name]!;
            t.log(`powered on (${accel}, pid ${hs.pid}, SSH on 127.0.0.1:${hs.sshPort})`, { host: h.name });
          }
        },
      },
      {
        id: 'qemu:ssh',
        title:
          'Log in to every VM over SSH with its pinned host key (boot: seconds with KVM/HVF, about a minute under TCG)',
        run: async (lab, t) => {
          const accel = labAccel(lab);
          let n = 0;
          const t0 = Date.now();
          await forEachLimit(lab.state.spec.hosts, 16, async (h) => {
            await waitVmSsh(lab, h.name, accel, t.signal);
            t.progress(++n, lab.state.spec.hosts.length, h.name);
            t.log(`SSH login ${((Date.now() - t0) / 1000).toFixed(1)} s after this step began`, { host: h.name });
          });
        },
      },
      {
        id: 'qemu:disks',
        title: 'Format (when blank) and mount the planned disks (masters: etcd data and snapshots)',
        done: async (lab) => {
          for (const h of lab.state.spec.hosts) if (!(await vmDisksReady(lab, h.name))) return false;
          return true;
        },
        run: async (lab, t) => {
          await forEachLimit(
            lab.state.spec.hosts.filter((h) => lab.disks(h.name).length > 0),
            8,
            async (h) => {
              await setupVmDisks(lab, h.name);
              t.log(
                lab
                  .disks(h.name)
                  .map((d) => `${d.name} on ${d.mountpoint}`)
                  .join(', '),
                { host: h.name },
              );
            },
          );
        },
      },
    ];
  }

  destroy(lab: LabContext, t: { log: (m: string, o?: { level?: 'info' | 'warn' }) => void }) {
    return destroyQemuLab(lab, t);
  }

  leftovers(lab: LabContext) {
    return qemuLeftovers(lab);
  }

  power(lab: LabContext, host: string, action: PowerAction) {
    return power(lab, host, action);
  }

  async isPoweredOn(lab: LabContext, host: string): Promise<boolean> {
    return vmRunning(lab, host);
  }

  hostState(lab: LabContext, host: string): Promise<HostPowerState> {
    return vmHostState(lab, host);
  }

  stop(lab: LabContext, t: Pick<StepTools, 'log'>) {
    return stopQemuLab(lab, t);
  }

  removeHost(lab: LabContext, host: string, o: { keepDisks?: string[]; log: (m: string) => void }) {
    return removeQemuHost(lab, host, o);
  }

  services(lab: LabContext, host: string): ServiceManager {
    return new Supervisor(lab.remote(host));
  }

  /** This machine's tap on the lab segment (segment.ts). */
  ownInterfaces(lab: LabContext): string[] {
    return [segmentInterface(lab.state.tag)];
  }

  /** Under TCG a VM's CPU is emulated: about 3 times slower than native for the LBs' curl checks (measured). */
  cpuSlowdown(lab: LabContext): number {
    return qemuState(lab.state).accel === 'tcg' ? TCG_SLOWDOWN : 1;
  }

  async hostPids(lab: LabContext, host: string): Promise<number[]> {
    const pid = qemuState(lab.state).hosts[host]?.pid;
    return pid && vmRunning(lab, host) ? [pid] : [];
  }

  /**
   * Only directories under the HA Lab cache can be shared: every VM mounts the cache read-only
   * over 9p at GUEST_CACHE; this binds the wanted part at `hostPath`. Errors: NOT_SHAREABLE.
   */
  async shareDirectory(lab: LabContext, host: string, localDir: string, hostPath: string): Promise<void> {
    const cache = cacheRoot();
    if (!localDir.startsWith(`${cache}/`)) {
      throw new HalabError('NOT_SHAREABLE', `${localDir} is not in the HA Lab cache (${cache})`, {
        fix: 'put shared artifacts under the cache directory',
      });
    }
    const inVm = `${GUEST_CACHE}/${localDir.slice(cache.length + 1)}`;
    await lab
      .remote(host)
      .exec(
        [
          `mountpoint -q ${GUEST_CACHE} || mount ${GUEST_CACHE}`,
          `mkdir -p ${shq(hostPath)}`,
          `if ! mountpoint -q ${shq(hostPath)}; then mount --bind ${shq(inVm)} ${shq(hostPath)} && mount -o remount,bind,ro ${shq(hostPath)}; fi`,
        ].join('\n'),
      );
  }
}
