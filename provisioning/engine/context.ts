import type { LabState } from '../api/types.ts';
import type { Bootstrap } from '../bootstraps/types.ts';
import type { Remote } from '../exec/types.ts';
import type { ServiceManager } from '../hosts/services.ts';
import type { NodeProvider } from '../providers/types.ts';
import type { PlanDisk } from '../spec/plan.ts';

/**
 * What every step of a plan (engine, provider and bootstrap steps), every drill and every status
 * reader works with: one open lab. The engine's LabHandle implements it; unit tests use fakes.
 */
export interface LabContext {
  state: LabState;
  /** The lab's state directory (keys, PKI, logs, the provider's files). */
  dir: string;
  /** Persist `state` atomically (call after every change that a resume must know). */
  save(): Promise<void>;
  /** The SSH connection to a host (pooled, host key pinned). */
  remote(host: string): Remote;
  /** The service manager of a host (s6 on netns hosts), over its SSH connection. */
  services(host: string): ServiceManager;
  provider: NodeProvider;
  bootstrap: Bootstrap;
  /** The lab's SSH key pair (made by the engine's first step, before any host exists). */
  sshKey: { privateKeyPath: string; publicKeyPath: string };
  /** The disks a host gets, with their mountpoints: the plan's, computed once from the spec. */
  disks(host: string): PlanDisk[];
}
