import type { BootstrapMode, DoctorCheck, HostRole, LabSpec, LabState, SpecIssue } from '../api/types.ts';
import type { LabContext } from '../engine/context.ts';
import type { Step } from '../engine/runner.ts';
import type { LbOptions } from '../steps/lb/options.ts';

/**
 * The parts of a lab a user can stop, start or kill on one host, by the names the field uses
 * (kubeadm's, etcd's, keepalived's). How each is run is the bootstrap's business: an s6 service,
 * a static pod behind a kubelet, ...
 */
export const COMPONENTS = [
  'etcd',
  'etcd-snapshot',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubelet',
  'containerd',
  'haproxy',
  'keepalived',
] as const;
export type Component = (typeof COMPONENTS)[number];
export type ComponentAction = 'stop' | 'start' | 'kill';

/** Stop / start / kill / status of one component on one host, and the command that does it. */
export interface ComponentController {
  /** The components that run on a host of `role` in this bootstrap. */
  components(role: HostRole): Component[];
  /**
   * The shell line (run as root on `host`) that does `action`: stop = graceful and kept down
   * until started, kill = SIGKILL and kept down (a crash that is not restarted), start = run it
   * again. Returns once the component is down (stop, kill) or started (start). Shown to the user
   * in walkthroughs, so it is what a person would type.
   */
  command(lab: LabContext, host: string, component: Component | Component[], action: ComponentAction): string;
  /** Run command(...) on the host. */
  control(lab: LabContext, host: string, component: Component, action: ComponentAction): Promise<void>;
  /** Where its log is on the host (for "see its log" fixes). */
  logPath(lab: LabContext, host: string, component: Component): string;
  /** Is it running (process or container), and its pid on the host if known. */
  status(lab: LabContext, host: string, component: Component): Promise<{ up: boolean; pid?: number }>;
}

/** How a narrating caller (a drill) shows what is done: the command and why. */
export interface Narrator {
  note(host: string, command: string, why: string): void;
  log(message: string, host?: string): void;
}

/**
 * Two kubelets that differ only in the API server they were given (the external-lb drill): one
 * pinned to one apiserver's own address, one through the VIP.
 */
export interface PinnedKubelets {
  /** What setup() will do, in one sentence (the drill's explanation). */
  describe(spec: LabSpec): string;
  /** Arrange both, wait until both nodes are Ready; returns the node names. */
  setup(
    lab: LabContext,
    o: { pinnedTo: string; narrator: Narrator; signal?: AbortSignal },
  ): Promise<{
    direct: string;
    vip: string;
  }>;
  /** Undo setup() (also after a partial setup); safe to call twice. */
  teardown(lab: LabContext, o: { pinnedTo: string; narrator: Narrator }): Promise<void>;
}

/**
 * A bootstrap makes a Kubernetes cluster on hosts the provider made. fast: the components as
 * supervised processes, hollow kubelets; kubeadm: containerd, real kubelets, `kubeadm init/join`.
 */
export interface Bootstrap {
  readonly name: BootstrapMode;
  /** One line for lists, the wizard and the plan. */
  readonly title: string;
  /** Prerequisites on this machine, each with the command that fixes it. */
  preflight(spec?: LabSpec): Promise<DoctorCheck[]>;
  /**
   * Every spec field this bootstrap would not honour, as an error with the reason and the fix
   * (pure): `halab plan`, `halab up` and the app refuse the spec with them. A field a bootstrap
   * accepts must take effect in the running lab (issue 11, case 5: a timer accepted and ignored).
   */
  specIssues(spec: LabSpec): SpecIssue[];
  /** The ordered, idempotent steps after the hosts exist, as an explicit list of named steps. */
  steps(spec: LabSpec, o?: BootstrapOptions): Step<LabContext>[];
  /** Does the lab have a control plane to ask (its steps got that far)? */
  hasControlPlane(state: LabState): boolean;
  components: ComponentController;
  /** The Node names of a healthy lab, every one Ready, no other registered. */
  nodeNames(spec: LabSpec): string[];
  /** A nodeSelector that puts pods on the lab's worker nodes (and only there). */
  workerSelector(spec: LabSpec): Record<string, string>;
  /** Do pods really run (a container runtime, a pod network, kube-proxy)? The fast path's are hollow. */
  readonly realPods: boolean;
  /** The lease a worker's kubelet renews, in seconds (how soon a lost node is noticed). */
  nodeLeaseRenewS(spec: LabSpec): number;
  pinnedKubelets: PinnedKubelets;
  /**
   * Remove what the bootstrap's hosts made on this machine's shared kernel that does not die
   * with them (cgroups): called by `down` after the provider destroyed the hosts. Idempotent.
   */
  release?(lab: LabContext, t: { log: (m: string) => void }): Promise<void>;
  /** The image file a new disk of this name starts as (PlanDisk.seed), if the bootstrap has one. */
  diskSeed?(spec: LabSpec, disk: string): string | undefined;
  /** What of that is still on the machine, one line each (the leak check of `down`). */
  leftovers?(lab: LabContext): Promise<string[]>;
}

/** Options a caller (a test) hands to a bootstrap's steps explicitly: no environment variables. */
export interface BootstrapOptions {
  lb?: LbOptions;
}
