// The plan preview: what `halab plan` shows before anything is built — every host with its
// disks and ports, the network, the etcd quorum, the timers and what they mean for failures.

import type {
  ApiserverEtcd,
  BootstrapMode,
  DiskSpec,
  HostRole,
  LabSpec,
  PlanPreview,
  SnapshotScheduleSpec,
  SpecIssue,
  TimerSpec,
} from '../api/types.ts';
import { formatIssues } from './format.ts';
import { formatIPv4, networkOf, parseCidr } from './net.ts';
import { quorum, quorumTable } from './quorum.ts';
import { masterHosts } from './roles.ts';

export const ETCD_DATA_MOUNT = '/var/lib/etcd';
export const ETCD_SNAPSHOTS_MOUNT = '/var/lib/etcd-snapshots';
/** containerd's root on a kubeadm node. */
export const RUNTIME_MOUNT = '/var/lib/containerd';
/** keepalived priority of the first backup LB (the master has 101): sets the takeover skew. */
export const BACKUP_PRIORITY = 100;
/** VRRP is IP protocol 112, not a port: shown as port 0. */
export const VRRP_PORT = 0;
export const API_PORT = 6443;

/** The contract's PlanPreview plus the spec fields a plan shows (see the report on types.ts). */
export interface PlanPreviewDetails extends PlanPreview {
  bootstrap: BootstrapMode;
  apiserverEtcd: ApiserverEtcd;
  kubernetesVersion: string;
  disks: DiskSpec;
  snapshots: SnapshotScheduleSpec;
}

const PORTS: Readonly<Record<HostRole | 'all', readonly { port: number; service: string }[]>> = {
  all: [{ port: 22, service: 'sshd' }],
  lb: [
    { port: API_PORT, service: 'haproxy on VIP and 127.0.0.1' },
    { port: 8404, service: 'haproxy monitor on 127.0.0.1' },
    { port: VRRP_PORT, service: 'vrrp' },
  ],
  master: [
    { port: 2379, service: 'etcd client' },
    { port: 2380, service: 'etcd peer' },
    { port: API_PORT, service: 'kube-apiserver' },
    { port: 10257, service: 'kube-controller-manager' },
    { port: 10259, service: 'kube-scheduler' },
  ],
  worker: [{ port: 10250, service: 'kubelet' }],
};

/** The ports a host of `role` listens on (VRRP as port 0, service "vrrp"); kubeadm adds a kubelet and kube-proxy to every master. */
export function hostPorts(role: HostRole, bootstrap: BootstrapMode = 'fast'): { port: number; service: string }[] {
  const node =
    bootstrap === 'kubeadm' && role !== 'lb'
      ? [
          ...(role === 'master' ? [{ port: 10250, service: 'kubelet' }] : []),
          { port: 10256, service: 'kube-proxy health' },
        ]
      : [];
  return [...PORTS.all, ...PORTS[role], ...node].map((p) => ({ ...p }));
}

/** A disk of a host: its name (also the file and label the provider gives it), size, mountpoint. */
export interface PlanDisk {
  name: 'etcd-data' | 'etcd-snapshots' | 'runtime';
  /** Kubernetes-style size: "512Mi", "1Gi". */
  size: string;
  /** Where it is mounted on the host. */
  mountpoint: string;
  /**
   * An ext4 image file on this machine that a NEW disk starts as (copied, then grown to `size`)
   * instead of an empty filesystem; set by the bootstrap (the runtime disk's preloaded images).
   */
  seed?: string;
}

/**
 * The disks of a host of `role` (the one definition: the plan shows it, the provider makes it):
 * masters get etcd-data (disk A) and etcd-snapshots (disk B); with the kubeadm bootstrap every
 * master and worker also gets the container runtime's disk (containerd's root: its overlayfs
 * snapshots need a real filesystem, not the host's overlay /var/lib). Load balancers get none.
 */
export function hostDisks(spec: Pick<LabSpec, 'disks' | 'bootstrap'>, role: HostRole): PlanDisk[] {
  const out: PlanDisk[] = [];
  if (role === 'master') {
    out.push(
      { name: 'etcd-data', size: spec.disks.etcdData, mountpoint: ETCD_DATA_MOUNT },
      { name: 'etcd-snapshots', size: spec.disks.etcdSnapshots, mountpoint: ETCD_SNAPSHOTS_MOUNT },
    );
  }
  if (spec.bootstrap === 'kubeadm' && role !== 'lb') {
    out.push({ name: 'runtime', size: spec.disks.runtime, mountpoint: RUNTIME_MOUNT });
  }
  return out;
}

/** The gateway of a subnet: its first usable address (this machine's side of the lab bridge). */
export function gatewayOf(subnet: string): string {
  const cidr = parseCidr(subnet);
  if (!cidr) throw new RangeError(`gatewayOf: "${subnet}" is not an IPv4 CIDR`);
  return formatIPv4(networkOf(cidr) + 1);
}

/** The plan of `spec`; `extra.binaries` (from engine/plan-checks.ts) says what its version's binaries are. */
export function planPreview(
  spec: LabSpec,
  issues: SpecIssue[],
  extra: Pick<PlanPreviewDetails, 'binaries'> = {},
): PlanPreviewDetails {
  const masters = masterHosts(spec).length;
  return {
    ...(extra.binaries ? { binaries: extra.binaries } : {}),
    lab: spec.name,
    provider: spec.provider,
    bootstrap: spec.bootstrap,
    apiserverEtcd: spec.apiserverEtcd,
    kubernetesVersion: spec.kubernetesVersion,
    subnet: spec.subnet,
    vip: spec.vip,
    gateway: gatewayOf(spec.subnet),
    hosts: spec.hosts.map((h) => ({
      name: h.name,
      role: h.role,
      address: h.address,
      disks: hostDisks(spec, h.role),
      ports: hostPorts(h.role, spec.bootstrap),
    })),
    quorum: quorum(masters),
    quorumTable: quorumTable(7),
    timers: { ...spec.timers },
    disks: { ...spec.disks },
    snapshots: { ...spec.snapshots },
    issues: [...issues],
  };
}

// ---------------------------------------------------------------------------------------------
// What the timers mean
// ---------------------------------------------------------------------------------------------

export interface DerivedTimings {
  /** Backup LB takes the VIP: 3 × advert + (256 − priority)/256 × advert. */
  vipTakeoverS: number;
  /** HAProxy stops sending to a dead apiserver: inter × fall. */
  apiserverDownAfterS: number;
  /** HAProxy sends to a recovered apiserver again: inter × rise. */
  apiserverUpAfterS: number;
  /** etcd followers call an election after a randomized timeout in [election, 2 × election). */
  etcdElectionMinS: number;
  etcdElectionMaxS: number;
  /** A new controller-manager / scheduler leader at most: lease + retry. */
  leaderTakeoverS: number;
  /** A silent node becomes NotReady: nodeMonitorGracePeriod. */
  nodeNotReadyAfterS: number;
  /** Its pods are evicted: grace period + toleration. */
  podsEvictedAfterS: number;
}

export function derivedTimings(t: TimerSpec): DerivedTimings {
  return {
    vipTakeoverS: 3 * t.vrrpAdvertInt + ((256 - BACKUP_PRIORITY) / 256) * t.vrrpAdvertInt,
    apiserverDownAfterS: (t.haproxyCheckInterMs * t.haproxyCheckFall) / 1000,
    apiserverUpAfterS: (t.haproxyCheckInterMs * t.haproxyCheckRise) / 1000,
    etcdElectionMinS: t.etcdElectionMs / 1000,
    etcdElectionMaxS: (2 * t.etcdElectionMs) / 1000,
    leaderTakeoverS: t.leaseDurationS + t.retryPeriodS,
    nodeNotReadyAfterS: t.nodeMonitorGracePeriodS,
    podsEvictedAfterS: t.nodeMonitorGracePeriodS + t.podEvictionTolerationS,
  };
}

/** 0.721875 -> "0.72", 1 -> "1". */
export function seconds(n: number): string {
  return String(Number(n.toFixed(2)));
}

const TIMER_TEXT: Readonly<Record<keyof TimerSpec, { unit: string; meaning: string }>> = {
  vrrpAdvertInt: { unit: 's', meaning: 'keepalived advertisement interval' },
  haproxyCheckInterMs: { unit: 'ms', meaning: 'HAProxy health-check interval' },
  haproxyCheckFall: { unit: '', meaning: 'failed checks before an apiserver is marked down' },
  haproxyCheckRise: { unit: '', meaning: 'passed checks before it is marked up again' },
  etcdHeartbeatMs: { unit: 'ms', meaning: 'etcd leader heartbeat interval' },
  etcdElectionMs: { unit: 'ms', meaning: 'silence before an etcd follower calls an election' },
  leaseDurationS: { unit: 's', meaning: 'controller-manager/scheduler leader lease' },
  renewDeadlineS: { unit: 's', meaning: 'the leader steps down if it cannot renew by then' },
  retryPeriodS: { unit: 's', meaning: 'how often leader election retries' },
  nodeStatusUpdateFrequencyS: { unit: 's', meaning: 'how often a kubelet reports its node' },
  nodeMonitorGracePeriodS: { unit: 's', meaning: 'silence before a node is marked NotReady' },
  podEvictionTolerationS: { unit: 's', meaning: 'how long pods wait on a NotReady node before eviction' },
};

/** Lines of a left-aligned table, two spaces between columns, no trailing spaces. */
function table(rows: readonly (readonly string[])[], indent = '  '): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map(
    (row) =>
      indent +
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] as number)))
        .join('  ')
        .trimEnd(),
  );
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** "etcd: 3 members, majority 2, tolerates 1 failure". */
export function quorumLine(q: PlanPreview['quorum']): string {
  if (q.members === 0) return 'etcd: no members (no master)';
  return `etcd: ${plural(q.members, 'member')}, majority ${q.majority}, tolerates ${plural(q.tolerated, 'failure')}`;
}

function portLabel(p: { port: number; service: string }): string {
  return p.port === VRRP_PORT ? `${p.service} (IP protocol 112)` : `${p.port} ${p.service}`;
}

/** The text of `halab plan`. Takes a PlanPreview; shows bootstrap, version and snapshots when present. */
export function formatPlan(
  preview: PlanPreview &
    Partial<Pick<PlanPreviewDetails, 'bootstrap' | 'apiserverEtcd' | 'kubernetesVersion' | 'snapshots' | 'binaries'>>,
): string {
  const out: string[] = [];
  const head = [`provider ${preview.provider}`];
  if (preview.bootstrap) head.push(`bootstrap ${preview.bootstrap}`);
  if (preview.kubernetesVersion) head.push(`Kubernetes ${preview.kubernetesVersion}`);
  out.push(`Lab ${preview.lab} (${head.join(', ')})`);
  if (preview.binaries) {
    out.push(`  binaries ${preview.binaries.detail}`);
  }
  out.push(`  subnet   ${preview.subnet}`);
  if (preview.provider === 'existing') {
    out.push(
      `  machines yours, reached over SSH (provider existing): nothing is created, a preflight checks each one first`,
    );
    out.push(
      `  disks    on existing machines the etcd data and snapshot paths are directories (or mounts you made there), not disks HA Lab makes`,
    );
  } else {
    out.push(`  gateway  ${preview.gateway} (this machine, on the lab bridge)`);
  }
  out.push(`  VIP      ${preview.vip} (the API endpoint: https://${preview.vip}:${API_PORT}, held by keepalived)`);
  if (preview.apiserverEtcd) {
    out.push(
      `  etcd     ${preview.apiserverEtcd === 'local' ? 'each kube-apiserver uses the member on its own master (apiserverEtcd local, stacked)' : 'each kube-apiserver uses every member (apiserverEtcd all, external)'}`,
    );
  }

  out.push('', 'Hosts');
  const rows = [['NAME', 'ROLE', 'ADDRESS', 'DISKS', 'PORTS']];
  for (const h of preview.hosts) {
    const disks = h.disks.length ? h.disks.map((d) => `${d.size} ${d.mountpoint}`).join(', ') : '-';
    const ports = h.ports.map((p) => (p.port === VRRP_PORT ? p.service : String(p.port))).join(' ');
    rows.push([h.name, h.role, h.address, disks, ports]);
  }
  out.push(...table(rows));
  // Ports by role: the table shows numbers, this says what listens on them.
  const legend: string[][] = [];
  const isSsh = (p: { port: number; service: string }) => p.port === 22 && p.service === 'sshd';
  const common =
    preview.hosts.length > 0 && preview.hosts.every((h) => h.ports.some(isSsh)) ? [{ port: 22, service: 'sshd' }] : [];
  if (common.length) legend.push(['all hosts', common.map(portLabel).join(', ')]);
  for (const role of ['lb', 'master', 'worker'] as const) {
    const host = preview.hosts.find((h) => h.role === role);
    if (!host) continue;
    const own = host.ports.filter((p) => !common.some((c) => c.port === p.port && c.service === p.service));
    legend.push([role, own.map(portLabel).join(', ')]);
  }
  out.push('', 'Ports', ...table(legend));

  out.push('', quorumLine(preview.quorum));
  const q = [['members', 'majority', 'tolerates']];
  for (const row of preview.quorumTable) {
    q.push([
      String(row.members),
      String(row.majority),
      row.members === preview.quorum.members ? `${row.tolerated}  <- this lab` : String(row.tolerated),
    ]);
  }
  out.push(...table(q));

  out.push('', 'Timers');
  const t = preview.timers;
  out.push(
    ...table(
      (Object.keys(TIMER_TEXT) as (keyof TimerSpec)[]).map((key) => {
        const { unit, meaning } = TIMER_TEXT[key];
        return [key, unit ? `${t[key]} ${unit}` : String(t[key]), meaning];
      }),
    ),
  );
  const d = derivedTimings(t);
  out.push('', 'What the timers mean for failures');
  out.push(
    ...table([
      [
        'VIP takeover',
        `≈ ${seconds(d.vipTakeoverS)} s`,
        `3 × ${t.vrrpAdvertInt} s + (256 - ${BACKUP_PRIORITY})/256 × ${t.vrrpAdvertInt} s`,
      ],
      [
        'apiserver marked down',
        `after ${seconds(d.apiserverDownAfterS)} s`,
        `${t.haproxyCheckInterMs} ms × ${t.haproxyCheckFall} failed checks (back after ${seconds(d.apiserverUpAfterS)} s)`,
      ],
      [
        'new etcd leader',
        `after ${seconds(d.etcdElectionMinS)}-${seconds(d.etcdElectionMaxS)} s`,
        `election timeout ${t.etcdElectionMs} ms, randomized up to 2×`,
      ],
      [
        'new controller leader',
        `within ≈ ${seconds(d.leaderTakeoverS)} s`,
        `lease ${t.leaseDurationS} s + retry ${t.retryPeriodS} s`,
      ],
      [
        'lost node',
        `NotReady after ${seconds(d.nodeNotReadyAfterS)} s`,
        `its pods are evicted ${t.podEvictionTolerationS} s later (${seconds(d.podsEvictedAfterS)} s after it went silent)`,
      ],
    ]),
  );

  if (preview.snapshots) {
    const s = preview.snapshots;
    out.push('');
    if (s.intervalS > 0) {
      out.push(
        `Snapshots: every ${s.intervalS} s on each master to ${ETCD_SNAPSHOTS_MOUNT}, keeping the last ${s.retain}`,
      );
    } else {
      out.push(
        `Snapshots: no schedule (intervalS 0); manual snapshots go to ${ETCD_SNAPSHOTS_MOUNT}, keeping the last ${s.retain}`,
      );
    }
  }

  const warnings = preview.issues.filter((i) => i.severity === 'warning');
  const errors = preview.issues.filter((i) => i.severity === 'error');
  out.push('');
  if (warnings.length === 0 && errors.length === 0) {
    out.push('No problems found.');
  } else {
    if (warnings.length) out.push(`Warnings (${warnings.length})`, formatIssues(warnings));
    if (errors.length) out.push(`${warnings.length ? '\n' : ''}Errors (${errors.length})`, formatIssues(errors));
  }
  return out.join('\n');
}
