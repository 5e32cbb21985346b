// The embedded provider: every host is a network namespace on a per-lab bridge, with its own
// persistent mount and UTS namespaces (private /etc and /var/lib overlays, /root, /run, /var/log,
// hostname), its own PID namespace whose PID 1 is s6-svscan (so "power off" kills the whole host
// at once), an sshd with a host key pinned at creation, and the plan's disks (loop-backed ext4)
// visible only inside that host.
//
//   names.ts        kernel object and file names (pure)
//   state.ts        what is recorded in state.provider (zod)
//   network.ts      bridge, namespaces, cables, addresses
//   filesystems.ts  mount and UTS namespaces
//   disks.ts        loop disks
//   sshd.ts         host keys and sshd
//   power.ts        boot, SSH readiness, power actions
//   destroy.ts      removal and the leftover check
//   stop.ts         stop (kernel objects released, files kept) and the removal of one host
import { promises as fs } from 'node:fs';
import type { LabSpec } from '../../api/types.ts';
import type { LabContext } from '../../engine/context.ts';
import { forEachLimit, type Step, type StepTools } from '../../engine/runner.ts';
import { HalabError } from '../../errors.ts';
import { run } from '../../exec/local.ts';
import type { ServiceManager } from '../../hosts/services.ts';
import { Supervisor } from '../../hosts/supervisor.ts';
import { cacheRoot } from '../../artifacts/kubernetes.ts';
import { shq } from '../../exec/types.ts';
import type { HostPowerState, NodeProvider, PowerAction } from '../types.ts';
import { destroyNetnsLab, netnsLeftovers } from './destroy.ts';
import { createDisks, disksReady } from './disks.ts';
import { createHostFs, fsReady } from './filesystems.ts';
import { hostSh } from './host-exec.ts';
import { bridgeName, HOST_CACHE, netnsPaths } from './names.ts';
import { cablePlugged, createNetwork, networkReady } from './network.ts';
import { boot, booted, hostFrozen, power, waitSsh } from './power.ts';
import { netnsPreflight } from './preflight.ts';
import { isMountpoint, pidsInNamespace } from './proc.ts';
import { configureSshd, sshdConfigured } from './sshd.ts';
import { netnsHost } from './state.ts';
import { removeNetnsHost, stopNetnsLab } from './stop.ts';

export { bridgeName, nsName, vethName, HOST_CACHE } from './names.ts';
export { netnsState, netnsHost, type NetnsState, type NetnsHost, type NetnsDisk } from './state.ts';

export class NetnsProvider implements NodeProvider {
  readonly name = 'netns' as const;
  readonly title = 'Linux network namespaces (embedded, no VM engine)';

  preflight() {
    return netnsPreflight();
  }

  createSteps(_spec: LabSpec): Step<LabContext>[] {
    return [
      {
        id: 'netns:prepare',
        title: 'Prepare the lab directory (namespace files, disks, hosts)',
        done: async (lab) => isMountpoint(netnsPaths(lab.dir).ns),
        run: async (lab) => {
          const p = netnsPaths(lab.dir);
          for (const d of [p.ns, `${lab.dir}/disks`, `${lab.dir}/hosts`]) {
            await fs.mkdir(d, { recursive: true, mode: 0o700 });
          }
          // a persistent namespace file must sit on a mount with private propagation
          if (!isMountpoint(p.ns)) await run('mount', ['--bind', p.ns, p.ns]);
          await run('mount', ['--make-private', p.ns]);
        },
      },
      {
        id: 'netns:network',
        title: 'Create the lab bridge and one network namespace per host',
        done: async (lab) => networkReady(lab.state),
        run: async (lab, t) => createNetwork(lab, t),
      },
      {
        id: 'netns:filesystems',
        title: 'Give every host its own /etc, /var/lib, /root, /run, /var/log and hostname',
        done: async (lab) => lab.state.spec.hosts.every((h) => fsReady(lab, h.name)),
        run: async (lab, t) => {
          let n = 0;
          for (const h of lab.state.spec.hosts) {
            if (!fsReady(lab, h.name)) await createHostFs(lab, h.name, t);
            t.progress(++n, lab.state.spec.hosts.length, h.name);
          }
        },
      },
      {
        id: 'netns:disks',
        title:
          'Attach the planned loop-backed ext4 disks (masters: etcd data and snapshots; kubeadm nodes: the runtime disk)',
        done: async (lab) => {
          for (const h of lab.state.spec.hosts) if (!(await disksReady(lab, h.name))) return false;
          return true;
        },
        run: async (lab, t) => {
          const withDisks = lab.state.spec.hosts.filter((h) => lab.disks(h.name).length > 0);
          let n = 0;
          for (const h of withDisks) {
            if (!(await disksReady(lab, h.name))) await createDisks(lab, h.name, t);
            t.progress(++n, withDisks.length, h.name);
          }
        },
      },
      {
        id: 'netns:sshd',
        title: 'Generate host keys and configure sshd on every host',
        done: async (lab) => {
          for (const h of lab.state.spec.hosts) if (!(await sshdConfigured(lab, h.name))) return false;
          return true;
        },
        run: async (lab, t) => {
          await forEachLimit(lab.state.spec.hosts, 4, async (h) => {
            if (!(await sshdConfigured(lab, h.name))) await configureSshd(lab, h.name, t);
          });
        },
      },
      {
        id: 'netns:boot',
        title: 'Boot every host (s6-svscan as PID 1, sshd supervised)',
        done: async (lab) => lab.state.spec.hosts.every((h) => booted(lab.state, h.name)),
        run: async (lab, t) => {
          for (const h of lab.state.spec.hosts) if (!booted(lab.state, h.name)) await boot(lab, h.name, t);
          await lab.save();
        },
      },
      {
        id: 'netns:ssh',
        title: 'Connect to every host over SSH with its pinned key',
        run: async (lab, t) => {
          let n = 0;
          await forEachLimit(lab.state.spec.hosts, 7, async (h) => {
            await waitSsh(lab, h.name, t.signal);
            t.progress(++n, lab.state.spec.hosts.length, h.name);
          });
        },
      },
    ];
  }

  destroy(lab: LabContext, t: { log: (m: string, o?: { level?: 'info' | 'warn' }) => void }) {
    return destroyNetnsLab(lab, t);
  }

  leftovers(lab: LabContext) {
    return netnsLeftovers(lab);
  }

  power(lab: LabContext, host: string, action: PowerAction) {
    return power(lab, host, action);
  }

  async isPoweredOn(lab: LabContext, host: string): Promise<boolean> {
    return booted(lab.state, host);
  }

  async hostState(lab: LabContext, host: string): Promise<HostPowerState> {
    const on = booted(lab.state, host);
    return { on, frozen: on && hostFrozen(lab.state, host), plugged: cablePlugged(lab.state, host) };
  }

  stop(lab: LabContext, t: Pick<StepTools, 'log'>) {
    return stopNetnsLab(lab, t);
  }

  removeHost(lab: LabContext, host: string, o: { keepDisks?: string[]; log: (m: string) => void }) {
    return removeNetnsHost(lab, host, o);
  }

  services(lab: LabContext, host: string): ServiceManager {
    return new Supervisor(lab.remote(host));
  }

  ownInterfaces(lab: LabContext): string[] {
    return [bridgeName(lab.state.tag)];
  }

  async hostPids(lab: LabContext, host: string): Promise<number[]> {
    const inode = netnsHost(lab.state, host).netnsInode;
    return inode ? pidsInNamespace('net', inode) : [];
  }

  /**
   * Only directories under the HA Lab cache can be shared: every host sees the cache read-only
   * at HOST_CACHE (bound when the host was made); this binds the wanted part at `hostPath`.
   */
  async shareDirectory(lab: LabContext, host: string, localDir: string, hostPath: string): Promise<void> {
    const cache = cacheRoot();
    if (!localDir.startsWith(`${cache}/`)) {
      throw new HalabError('NOT_SHAREABLE', `${localDir} is not in the HA Lab cache (${cache})`, {
        fix: 'put shared artifacts under the cache directory',
      });
    }
    const inHost = `${HOST_CACHE}/${localDir.slice(cache.length + 1)}`;
    await hostSh(
      lab.state,
      lab.dir,
      host,
      [
        `mkdir -p ${shq(hostPath)}`,
        `if ! mountpoint -q ${shq(hostPath)}; then mount --bind ${shq(inHost)} ${shq(hostPath)} && mount -o remount,bind,ro ${shq(hostPath)}; fi`,
      ].join('\n'),
    );
  }
}
