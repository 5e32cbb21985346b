import type { DoctorCheck, LabState, ProviderName } from '../api/types.ts';
import type { Step, StepTools } from '../engine/runner.ts';
import type { Remote } from '../exec/types.ts';

/** What every step of a plan (provider steps, bootstrap steps) works with. */
export interface LabContext {
  state: LabState;
  /** The lab's state directory. */
  dir: string;
  /** Persist `state` atomically (call after every change that a resume must know). */
  save(): Promise<void>;
  /** The SSH connection to a host (pooled, host key pinned). */
  remote(host: string): Remote;
  provider: NodeProvider;
}

export type PowerAction = 'off' | 'on' | 'freeze' | 'thaw' | 'link-down' | 'link-up';

/**
 * A provider creates hosts that the engine then drives over SSH, the same way for every provider.
 * netns: network namespaces on this machine; qemu (next): virtual machines.
 */
export interface NodeProvider {
  readonly name: ProviderName;
  /** Prerequisites of this provider, each with the command that fixes it. */
  preflight(): Promise<DoctorCheck[]>;
  /** Ordered, idempotent steps that end with every host reachable over SSH with a pinned host key. */
  createSteps(): Step<LabContext>[];
  /** Remove every resource of the lab that its state records (and that is verifiably the lab's). */
  destroy(state: LabState, dir: string, t: Pick<StepTools, 'log'>): Promise<void>;
  /** What of this lab is still on the machine; empty after a clean destroy. */
  leftovers(state: LabState, dir: string): Promise<string[]>;
  /** Drill actions on one host. */
  power(ctx: LabContext, host: string, action: PowerAction): Promise<void>;
  /** Is the host powered on (its processes running)? */
  isPoweredOn(state: LabState, host: string): Promise<boolean>;
  /**
   * Make a local directory readable on a host at `hostPath` (netns: read-only bind mount;
   * a VM provider uploads it). Used for Kubernetes binaries and other artifacts.
   */
  shareDirectory(ctx: LabContext, host: string, localDir: string, hostPath: string): Promise<void>;
  /** Process ids of everything running on a host, as seen from this machine (bench: memory). */
  hostPids?(state: LabState, host: string): Promise<number[]>;
}
