// The one contract. Types only: the CLI, the Electron main process, the preload, the browser
// bridge and the renderer all import from here, and nothing here imports anything at runtime.

// ---------------------------------------------------------------------------------------------
// Lab spec (what the user writes; validated by provisioning/spec)
// ---------------------------------------------------------------------------------------------

export type HostRole = 'lb' | 'master' | 'worker';
export type ProviderName = 'netns' | 'qemu';
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
}

export interface DiskSpec {
  /** Size of the etcd data disk (disk A) on each master, e.g. "512Mi". */
  etcdData: string;
  /** Size of the snapshot disk (disk B) on each master, e.g. "256Mi". */
  etcdSnapshots: string;
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
}

// ---------------------------------------------------------------------------------------------
// Engine events: one stream for the CLI (TTY or NDJSON) and the UI
// ---------------------------------------------------------------------------------------------

export type StepStatus = 'done' | 'skipped' | 'failed' | 'cancelled';

export type EngineEvent =
  | { type: 'run:start'; runId: string; lab: string; action: string; steps: { id: string; title: string }[]; at: number }
  | { type: 'step:start'; runId: string; stepId: string; title: string; at: number }
  | { type: 'step:log'; runId: string; stepId?: string; host?: string; level: 'debug' | 'info' | 'warn' | 'error'; message: string; at: number }
  | { type: 'step:progress'; runId: string; stepId: string; done: number; total: number; detail?: string; at: number }
  | { type: 'step:end'; runId: string; stepId: string; status: StepStatus; durationMs: number; error?: ErrorInfo; at: number }
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

export type LabPhase = 'creating' | 'ready' | 'failed' | 'interrupted' | 'destroying';

export interface HostDiskState {
  name: 'etcd-data' | 'etcd-snapshots';
  image: string;
  loopDevice?: string;
  mountpoint: string;
  size: string;
}

export interface HostState {
  name: string;
  role: HostRole;
  address: string;
  /** "ssh-ed25519 AAAA..." recorded at creation and pinned afterwards. */
  hostKey?: string;
  disks: HostDiskState[];
  /** Provider-specific handle data (netns: namespace names, init pid). */
  provider: Record<string, string | number | undefined>;
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
}

export interface ServiceStatus {
  name: string;
  up: boolean;
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
  /** The LB holding the VIP (undefined: none, or more than one reachable holder). */
  vipHolder?: string;
  /** `kubectl get --raw /readyz` through the VIP answered ok. */
  apiViaVip: boolean;
  lbs: { name: string; reachable: boolean; vrrpState?: string; hasVip: boolean; backends: { server: string; up: boolean; lastCheck?: string }[] }[];
  etcd: { name: string; healthy: boolean; leader: boolean; dbSizeBytes?: number; revision?: number; error?: string }[];
  etcdLeader?: string;
  lastGoodSnapshot?: { master: string; file: string; ageS: number; revision?: number; sizeBytes: number };
  badSnapshots: number;
  apiservers: { name: string; ready: boolean }[];
  leases: { name: string; holder?: string }[];
  nodes: { name: string; ready: boolean; reason?: string }[];
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
