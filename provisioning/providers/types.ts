import type { DoctorCheck, LabSpec, ProviderName } from '../api/types.ts';
import type { LabContext } from '../engine/context.ts';
import type { Step, StepTools } from '../engine/runner.ts';
import type { ServiceManager } from '../hosts/services.ts';

export type { LabContext } from '../engine/context.ts';

export type PowerAction = 'off' | 'on' | 'freeze' | 'thaw' | 'link-down' | 'link-up';

/** What one host's power, freeze and cable are now (a fault by hand on a host already so says so). */
export interface HostPowerState {
  /** Its processes run (powered on). */
  on: boolean;
  /** Powered on, and every one of its processes is stopped (freeze). */
  frozen: boolean;
  /** Its network cable is plugged in (link up). */
  plugged: boolean;
}

/**
 * A provider creates hosts that the engine then drives over SSH, the same way for every provider.
 * netns: network namespaces on this machine; qemu (next): virtual machines. Every method takes
 * the same lab handle; the provider keeps what it must remember in `lab.state.provider` (its own
 * zod schema, under its folder).
 */
export interface NodeProvider {
  readonly name: ProviderName;
  /** One line for lists and the wizard. */
  readonly title: string;
  /** Prerequisites of this provider, each with the command that fixes it. */
  preflight(): Promise<DoctorCheck[]>;
  /**
   * Ordered, idempotent steps that end with every host reachable over SSH with a pinned host
   * key (authorised: the engine's key, `lab.sshKey`), with the plan's disks (`lab.disks(host)`)
   * mounted.
   */
  createSteps(spec: LabSpec): Step<LabContext>[];
  /** Remove every resource of the lab that its state records (and that is verifiably the lab's). */
  destroy(lab: LabContext, t: Pick<StepTools, 'log'>): Promise<void>;
  /** What of this lab is still on the machine, one line each; empty after a clean destroy. */
  leftovers(lab: LabContext): Promise<string[]>;
  /** Power actions on one host (drills and faults by hand). */
  power(lab: LabContext, host: string, action: PowerAction): Promise<void>;
  /** Is the host powered on (its processes running)? */
  isPoweredOn(lab: LabContext, host: string): Promise<boolean>;
  /** Power, freeze and cable of one host as they are now. */
  hostState(lab: LabContext, host: string): Promise<HostPowerState>;
  /**
   * Stop the whole lab: every process of every host ends and what the kernel holds for it
   * (namespaces, network links, mounts, loop devices) is released; everything on disk stays
   * (state, keys, the hosts' /etc and /var/lib, disk images). createSteps() bring it back with
   * the same addresses, host keys and disks, also after this machine rebooted. Idempotent.
   */
  stop(lab: LabContext, t: Pick<StepTools, 'log'>): Promise<void>;
  /**
   * Remove one host from the machine (its processes, namespaces, cable, mounts, loop devices,
   * files and its record in the state), keeping the disk images named in `keepDisks` where
   * createSteps() find them again for a host of the same name (`halab replace`: a new machine
   * with the old one's disks). The caller removes the host from the spec (or keeps it there to
   * have it made again).
   */
  removeHost(lab: LabContext, host: string, o: { keepDisks?: string[]; log: (m: string) => void }): Promise<void>;
  /**
   * Make a local directory readable on a host at `hostPath` (netns: read-only bind mount;
   * a VM provider uploads it). Used for Kubernetes binaries and other artifacts.
   */
  shareDirectory(lab: LabContext, host: string, localDir: string, hostPath: string): Promise<void>;
  /** The service manager that the provider's hosts run (netns: s6 as PID 1). */
  services(lab: LabContext, host: string): ServiceManager;
  /**
   * Network interfaces on this machine that belong to the lab (names): a re-run's spec check
   * does not count their addresses and routes as taken.
   */
  ownInterfaces(lab: LabContext): string[];
  /**
   * Why a drill cannot run on this provider's hosts (undefined: it can): provider existing cannot
   * cut power for real, so the drills that need what only a power cut does say so.
   */
  drillUnavailable?(drill: string): string | undefined;
  /** Process ids of everything running on a host, as seen from this machine (bench: memory). */
  hostPids?(lab: LabContext, host: string): Promise<number[]>;
  /**
   * How many times slower than this machine's CPU the hosts run (absent: 1). Health-check
   * scripts on the hosts (keepalived's track scripts) stretch their timings by it: a VM whose CPU
   * QEMU emulates (TCG) needs about a second for one curl.
   */
  cpuSlowdown?(lab: LabContext): number;
}
