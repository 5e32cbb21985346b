// The one contract. Types only: the CLI, the Electron main process, the preload, the browser
// bridge and the renderer all import from here, and nothing here imports anything at runtime.

// ---------------------------------------------------------------------------------------------
// Lab spec (what the user writes; validated by provisioning/spec)
// ---------------------------------------------------------------------------------------------

export type HostRole = 'lb' | 'master' | 'worker';
export type ProviderName = 'netns' | 'qemu' | 'existing';
export type BootstrapMode = 'fast' | 'kubeadm';
/**
 * Which etcd members each kube-apiserver talks to. all: every member (kubeadm's external-etcd
 * topology); local: only the member on its own master (kubeadm's stacked topology).
 */
export type ApiserverEtcd = 'all' | 'local';

export interface HostSpec {
  /** DNS label, unique in the lab: becomes the hostname. */
  name: string;
  role: HostRole;
  /** IPv4 address inside the lab subnet. */
  address: string;
  /** Provider existing: how this machine reaches it, where it differs from the lab's `existing` block. */
  ssh?: Partial<ExistingSshSpec> & { address?: string };
}

/**
 * Provider existing: how this machine logs in to the machines the user hands over (the key of a
 * user that may become root; the lab authorises its own key for root on first contact).
 */
export interface ExistingSshSpec {
  /** Login user (default root; another user needs password-less sudo). */
  user: string;
  /** Path of the private key (OpenSSH format) on this machine. */
  privateKey: string;
  /** sshd port (default 22). */
  port: number;
  /** Optional jump host, "user@host" or "user@host:port" (logged in to with the same key). */
  jump?: string;
}

export interface DiskSpec {
  /** Size of the etcd data disk (disk A) on each master, e.g. "512Mi". */
  etcdData: string;
  /** Size of the snapshot disk (disk B) on each master, e.g. "256Mi". */
  etcdSnapshots: string;
  /** Size of the container runtime's disk (images, containers) on every master and worker (kubeadm bootstrap). */
  runtime: string;
}

export interface TimerSpec {
  /** keepalived VRRP advertisement interval, seconds (fractions use VRRPv3). */
  vrrpAdvertInt: number;
  /** HAProxy health check: interval (ms), failures to mark down, successes to mark up. */
  haproxyCheckInterMs: number;
  haproxyCheckFall: number;
  haproxyCheckRise: number;
  /** etcd raft timers, ms. */
  etcdHeartbeatMs: number;
  etcdElectionMs: number;
  /** controller-manager / scheduler leader election, seconds. */
  leaseDurationS: number;
  renewDeadlineS: number;
  retryPeriodS: number;
  /** Node lifecycle: kubelet status updates, controller grace period, pod eviction tolerations (s). */
  nodeStatusUpdateFrequencyS: number;
  nodeMonitorGracePeriodS: number;
  podEvictionTolerationS: number;
}

export interface SnapshotScheduleSpec {
  /** Seconds between scheduled snapshots; 0 disables the schedule. */
  intervalS: number;
  /** How many good snapshots to keep per master. */
  retain: number;
}

export interface LabSpec {
  apiVersion: 'halab/v1';
  kind: 'Lab';
  /** DNS label, at most 20 characters: every resource of the lab carries it. */
  name: string;
  provider: ProviderName;
  bootstrap: BootstrapMode;
  /** Which etcd members each kube-apiserver uses (default all). */
  apiserverEtcd: ApiserverEtcd;
  /** IPv4 CIDR, private, not in use on the machine. */
  subnet: string;
  /** Floating API address (keepalived), inside the subnet, not a host address. */
  vip: string;
  kubernetesVersion: string;
  hosts: HostSpec[];
  disks: DiskSpec;
  timers: TimerSpec;
  snapshots: SnapshotScheduleSpec;
  /** Provider existing: how to log in to the machines (required with it, refused with another provider). */
  existing?: ExistingSshSpec;
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

export interface SpecIssue {
  severity: 'error' | 'warning';
  /** Path into the spec, e.g. "hosts[3].address" ("" for the spec as a whole). */
  path: string;
  message: string;
  /** How to fix it, in one sentence. */
  fix: string;
}

export interface QuorumFigures {
  members: number;
  majority: number;
  tolerated: number;
}

export interface PlanHost {
  name: string;
  role: HostRole;
  address: string;
  disks: { name: string; size: string; mountpoint: string }[];
  ports: { port: number; service: string }[];
}

export interface PlanPreview {
  lab: string;
  provider: ProviderName;
  subnet: string;
  vip: string;
  gateway: string;
  hosts: PlanHost[];
  quorum: QuorumFigures;
  /** The article's failure-tolerance table for 1..7 members. */
  quorumTable: QuorumFigures[];
  timers: TimerSpec;
  issues: SpecIssue[];
  /** Whether the Kubernetes binaries of the spec's version are cached, can be obtained, or do not exist. */
  binaries?: { version: string; state: 'cached' | 'buildable' | 'missing' | 'unknown'; detail: string };
}

// ---------------------------------------------------------------------------------------------
// Engine events: one stream for the CLI (TTY or NDJSON) and the UI
// ---------------------------------------------------------------------------------------------

export type StepStatus = 'done' | 'skipped' | 'failed' | 'cancelled';

export type EngineEvent =
  | {
      type: 'run:start';
      runId: string;
      lab: string;
      action: string;
      steps: { id: string; title: string }[];
      at: number;
    }
  | { type: 'step:start'; runId: string; stepId: string; title: string; at: number }
  | {
      type: 'step:log';
      runId: string;
      stepId?: string;
      host?: string;
      level: 'debug' | 'info' | 'warn' | 'error';
      message: string;
      at: number;
    }
  | { type: 'step:progress'; runId: string; stepId: string; done: number; total: number; detail?: string; at: number }
  | {
      type: 'step:end';
      runId: string;
      stepId: string;
      status: StepStatus;
      durationMs: number;
      error?: ErrorInfo;
      at: number;
    }
  | { type: 'run:end'; runId: string; ok: boolean; durationMs: number; error?: ErrorInfo; at: number }
  | { type: 'status'; lab: string; status: LabStatus; at: number };

/** An error as it crosses a boundary (CLI output, IPC, WebSocket): never a stack trace. */
export interface ErrorInfo {
  code: string;
  message: string;
  /** What the user can do about it. */
  fix?: string;
  /** Extra lines worth showing (a tool's output, a command's stderr). */
  details?: string;
}

// ---------------------------------------------------------------------------------------------
// Lab state and status
// ---------------------------------------------------------------------------------------------

/** stopped: `halab stop` ended every process and kept the files; `halab start` (or `up`) brings it back. */
export type LabPhase = 'creating' | 'ready' | 'failed' | 'interrupted' | 'destroying' | 'stopped';

export interface HostState {
  name: string;
  role: HostRole;
  address: string;
  /** "ssh-ed25519 AAAA..." recorded at creation and pinned afterwards. */
  hostKey?: string;
  /**
   * Where this machine reaches the host's sshd when it is not `address`:22 (the qemu provider: a
   * loopback port forward), and how long a connection with its key exchange may take (ms).
   */
  ssh?: {
    address: string;
    port: number;
    connectTimeoutMs?: number;
    /** A jump host the connection goes through (provider existing), its key pinned like the host's. */
    jump?: { address: string; port: number; user: string; privateKeyPath: string; hostKey: string };
  };
}

/**
 * What the provider records about the lab's hosts (namespace inodes, PIDs, loop devices, VM
 * sockets...). Owned and validated by the provider (its zod schema under providers/<kind>/).
 */
export interface ProviderState {
  kind: ProviderName;
  [key: string]: unknown;
}

export interface LabState {
  name: string;
  spec: LabSpec;
  phase: LabPhase;
  /** Short tag carried by every kernel object of the lab (bridge, veth names). */
  tag: string;
  createdAt: string;
  updatedAt: string;
  completedSteps: string[];
  hosts: Record<string, HostState>;
  /** The provider's own record of the hosts (absent until its first step ran). */
  provider?: ProviderState;
}

export interface ServiceStatus {
  name: string;
  up: boolean;
  /** The service manager wants it up (false: stopped on purpose, not crashed). */
  wantedUp?: boolean;
  pid?: number;
  uptimeS?: number;
  restarts: number;
}

export interface HostStatus {
  name: string;
  role: HostRole;
  address: string;
  reachable: boolean;
  error?: string;
  services: ServiceStatus[];
}

export interface LabStatus {
  lab: string;
  phase: LabPhase;
  provider: ProviderName;
  vip: string;
  hosts: HostStatus[];
  /** Present once the lab has a control plane (not for `up --hosts-only`). */
  controlPlane?: ControlPlaneStatus;
}

export interface ControlPlaneStatus {
  /**
   * THE load balancer holding the VIP: the only one with the address, or the only live keepalived
   * MASTER among several (a crashed one keeps a stale copy). Undefined when no LB has it, or when
   * several live ones do (split brain: see vipHolders).
   */
  vipHolder?: string;
  /** Every reachable LB with the VIP on its interface, in spec order (more than one: see splitBrain). */
  vipHolders: string[];
  /** More than one live keepalived MASTER holds the VIP: they cannot hear each other's adverts. */
  splitBrain: boolean;
  /** `kubectl get --raw /readyz` through the VIP answered ok. */
  apiViaVip: boolean;
  lbs: {
    name: string;
    reachable: boolean;
    /** Why its state could not be read (it does not answer, its HAProxy cannot be asked). */
    error?: string;
    vrrpState?: string;
    hasVip: boolean;
    backends: { server: string; up: boolean; lastCheck?: string }[];
    /** Backends this LB's HAProxy can send requests to (up: running, last check passed). */
    usableBackends: number;
  }[];
  etcd: { name: string; healthy: boolean; leader: boolean; dbSizeBytes?: number; revision?: number; error?: string }[];
  etcdLeader?: string;
  /** The highest revision a healthy member reports: what a fresh snapshot would contain. */
  etcdRevision?: number;
  lastGoodSnapshot?: {
    master: string;
    file: string;
    ageS: number;
    revision?: number;
    sizeBytes: number;
    /** Revisions between it and the cluster's current revision (etcdRevision). */
    behind?: number;
  };
  badSnapshots: number;
  apiservers: { name: string; ready: boolean }[];
  /** The leader leases; `holder` only while the lease is current (renewed within its duration). */
  leases: { name: string; holder?: string; expiredS?: number; lastHolder?: string }[];
  nodes: { name: string; ready: boolean; reason?: string }[];
  /**
   * Every signal that is not healthy, one sentence each, in the order VIP, HAProxy, etcd,
   * snapshots, apiservers, leases, nodes (e.g. "VIP holder lb1 has 0 usable backends, lb2 has 3").
   * Empty when every signal is healthy.
   */
  problems: string[];
}

export interface LabSummary {
  name: string;
  phase: LabPhase;
  provider: ProviderName;
  subnet: string;
  hosts: number;
  updatedAt: string;
}

// ---------------------------------------------------------------------------------------------
// Doctor
// ---------------------------------------------------------------------------------------------

export interface DoctorCheck {
  id: string;
  title: string;
  ok: boolean;
  /** Required checks fail `doctor`; optional ones (e.g. /dev/kvm) only inform. */
  required: boolean;
  detail?: string;
  /** The command that fixes it. */
  fix?: string;
}
