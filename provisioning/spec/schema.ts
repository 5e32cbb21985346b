// The lab spec as a zod schema: types, unknown keys, formats and ranges of single fields, and the
// defaults that turn `name: x` (or nothing at all) into the full reference lab. Rules that relate
// fields to each other or to the machine (addresses inside the subnet, duplicates, overlaps,
// quorum advice) live in validate.ts.
//
// Every single-field rule reports a custom issue whose params carry the one-sentence fix, so the
// message and its fix are written side by side here and validate.ts passes them through.

import { z } from 'zod';
import type {
  ApiserverEtcd,
  BootstrapMode,
  DiskSpec,
  HostRole,
  HostSpec,
  LabSpec,
  ProviderName,
  SnapshotScheduleSpec,
  TimerSpec,
} from '../api/types.ts';
import { CIDR_PATTERN, IPV4_PATTERN, addressAt, formatIPv4, parseCidr, parseIPv4, type Cidr } from './net.ts';

// ---------------------------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------------------------

export const DEFAULT_LAB_NAME = 'halab';
export const DEFAULT_SUBNET = '10.213.0.0/24';
export const DEFAULT_KUBERNETES_VERSION = 'v1.34.4';
/** Host number (offset from the network address) of the VIP in the default layout. */
export const VIP_OFFSET = 10;
/** First host numbers of each role in the default layout: lb .11+, masters .21+, workers .31+. */
export const ROLE_OFFSETS: Readonly<Record<HostRole, number>> = { lb: 11, master: 21, worker: 31 };
/** Host name prefixes of each role: lb1, m1, w1. */
export const ROLE_PREFIXES: Readonly<Record<HostRole, string>> = { lb: 'lb', master: 'm', worker: 'w' };
/** specFromCounts limits: each role has ten host numbers before the next role's block. */
export const COUNT_LIMITS: Readonly<{ lbs: number; masters: number; workers: number }> = {
  lbs: 10,
  masters: 10,
  workers: 200,
};

export const DEFAULT_DISKS: Readonly<DiskSpec> = { etcdData: '512Mi', etcdSnapshots: '256Mi', runtime: '4Gi' };
export const DEFAULT_TIMERS: Readonly<TimerSpec> = {
  vrrpAdvertInt: 0.2,
  haproxyCheckInterMs: 500,
  haproxyCheckFall: 2,
  haproxyCheckRise: 2,
  etcdHeartbeatMs: 100,
  etcdElectionMs: 1000,
  leaseDurationS: 8,
  renewDeadlineS: 6,
  retryPeriodS: 2,
  // Kubernetes' own kubelet default, and all the fast bootstrap's hollow kubelets can do (kubemark
  // fixes it: status every 10 s, node lease 40 s renewed every 10 s); 2 x that before NotReady
  nodeStatusUpdateFrequencyS: 10,
  nodeMonitorGracePeriodS: 20,
  podEvictionTolerationS: 10,
};
export const DEFAULT_SNAPSHOTS: Readonly<SnapshotScheduleSpec> = { intervalS: 60, retain: 5 };

/** The reference lab's hosts: lb1 lb2, m1 m2 m3, w1 w2. */
const REFERENCE_COUNTS: Readonly<Record<HostRole, number>> = { lb: 2, master: 3, worker: 2 };

/** Hosts named lb1..lbN, m1..mN, w1..wN at host numbers .11+, .21+, .31+ of the subnet. */
export function layoutHosts(subnet: Cidr, counts: Readonly<Record<HostRole, number>>): HostSpec[] {
  const hosts: HostSpec[] = [];
  for (const role of ['lb', 'master', 'worker'] as const) {
    for (let i = 0; i < counts[role]; i++) {
      hosts.push({
        name: `${ROLE_PREFIXES[role]}${i + 1}`,
        role,
        address: formatIPv4(addressAt(subnet, ROLE_OFFSETS[role] + i)),
      });
    }
  }
  return hosts;
}

/** The reference lab's hosts placed in `subnet` (the default subnet when it does not parse). */
export function referenceHosts(subnet: string = DEFAULT_SUBNET): HostSpec[] {
  return layoutHosts(parseCidr(subnet) ?? (parseCidr(DEFAULT_SUBNET) as Cidr), REFERENCE_COUNTS);
}

/** The default VIP (.10) of `subnet` (of the default subnet when it does not parse). */
export function defaultVip(subnet: string = DEFAULT_SUBNET): string {
  return formatIPv4(addressAt(parseCidr(subnet) ?? (parseCidr(DEFAULT_SUBNET) as Cidr), VIP_OFFSET));
}

// ---------------------------------------------------------------------------------------------
// Field rules
// ---------------------------------------------------------------------------------------------

/** RFC 1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit. */
export const DNS_LABEL_PATTERN = '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$';
const DNS_LABEL_RE = new RegExp(DNS_LABEL_PATTERN);
export const LAB_NAME_MAX = 20;
export const HOST_NAME_MAX = 63;

export const SIZE_PATTERN = '^[0-9]+(Ki|Mi|Gi|Ti)$';
const SIZE_RE = new RegExp(SIZE_PATTERN);
const SIZE_UNITS: Readonly<Record<string, number>> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
/** etcd preallocates 64 MB write-ahead-log segments (the current one and the next). */
export const MIN_ETCD_DATA = '256Mi';
export const MIN_ETCD_SNAPSHOTS = '32Mi';
/** The runtime disk starts as a copy of the 2 GiB seed with the lab's images (artifacts/runtime-disk.ts), grown, never shrunk. */
export const MIN_RUNTIME_DISK = '2Gi';

export const KUBERNETES_VERSION_PATTERN = '^v[0-9]+\\.[0-9]+\\.[0-9]+$';
const KUBERNETES_VERSION_RE = new RegExp(KUBERNETES_VERSION_PATTERN);

/** Bytes of a size like "512Mi"; undefined when it is not one. */
export function parseSize(text: string): number | undefined {
  if (!SIZE_RE.test(text)) return undefined;
  const unit = text.slice(-2);
  return Number(text.slice(0, -2)) * (SIZE_UNITS[unit] as number);
}

/** A lowercase DNS label close to `text`, at most `max` long ("My_Lab" -> "my-lab"). */
export function suggestLabel(text: string, max: number, fallback: string): string {
  const label = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, max)
    .replace(/[^a-z0-9]+$/, '');
  return label === '' ? fallback : label;
}

type Payload<T> = { value: T; issues: { push(issue: z.core.$ZodRawIssue): void } };

function report(ctx: Payload<unknown>, message: string, fix: string): void {
  ctx.issues.push({ code: 'custom', message, input: ctx.value, params: { fix } });
}

function labelField(what: 'name' | 'host name', max: number, fallback: string) {
  return z
    .string()
    .check((ctx) => {
      const v = ctx.value;
      if (v === '') {
        report(ctx, `${what} is empty`, `set it to a short DNS label, e.g. "${fallback}"`);
      } else if (!DNS_LABEL_RE.test(v)) {
        report(
          ctx,
          `${what} "${v}" is not a DNS label: use lowercase letters, digits and '-', starting and ending with a letter or digit`,
          `rename it, e.g. "${suggestLabel(v, max, fallback)}"`,
        );
      } else if (v.length > max) {
        report(
          ctx,
          `${what} "${v}" is ${v.length} characters long: at most ${max} are allowed`,
          `shorten it, e.g. "${suggestLabel(v, max, fallback)}"`,
        );
      }
    })
    .meta({ pattern: DNS_LABEL_PATTERN, minLength: 1, maxLength: max });
}

function ipv4Field(what: string, example: string) {
  return z
    .string()
    .check((ctx) => {
      if (parseIPv4(ctx.value) === undefined) {
        report(
          ctx,
          `${what} "${ctx.value}" is not an IPv4 address`,
          `write four numbers 0-255 separated by dots, e.g. ${example}`,
        );
      }
    })
    .meta({ pattern: IPV4_PATTERN, examples: [example] });
}

const subnetField = z
  .string()
  .check((ctx) => {
    if (parseCidr(ctx.value) === undefined) {
      report(
        ctx,
        `subnet "${ctx.value}" is not an IPv4 CIDR`,
        `write a network address and a prefix length, e.g. ${DEFAULT_SUBNET}`,
      );
    }
  })
  .meta({ pattern: CIDR_PATTERN, examples: [DEFAULT_SUBNET] });

function sizeField(what: string, min: string, example: string, why: string) {
  const minBytes = parseSize(min) as number;
  return z
    .string()
    .check((ctx) => {
      const bytes = parseSize(ctx.value);
      if (bytes === undefined) {
        report(
          ctx,
          `${what} "${ctx.value}" is not a size`,
          `write a whole number followed by Ki, Mi, Gi or Ti, e.g. ${example}`,
        );
      } else if (bytes < minBytes) {
        report(
          ctx,
          `${what} ${ctx.value} is too small: ${why}, so it needs at least ${min}`,
          `use ${min} or more, e.g. ${example}`,
        );
      }
    })
    .meta({ pattern: SIZE_PATTERN, examples: [example] });
}

interface NumberRule {
  integer: boolean;
  min: number;
  max?: number;
}

function numberField(what: string, rule: NumberRule, example: number) {
  return z
    .number()
    .check((ctx) => {
      const v = ctx.value;
      if (rule.integer && !Number.isInteger(v)) {
        report(ctx, `${what} ${v} is not a whole number`, `use a whole number, e.g. ${example}`);
      } else if (v < rule.min) {
        report(
          ctx,
          v < 0 ? `${what} ${v} is negative` : `${what} ${v} is below the minimum of ${rule.min}`,
          `use ${rule.min} or more, e.g. ${example}`,
        );
      } else if (rule.max !== undefined && v > rule.max) {
        report(ctx, `${what} ${v} is above the maximum of ${rule.max}`, `use ${rule.max} or less, e.g. ${example}`);
      }
    })
    .meta({
      ...(rule.integer ? { type: 'integer' } : {}),
      minimum: rule.min,
      ...(rule.max !== undefined ? { maximum: rule.max } : {}),
    });
}

/** Integer ≥ min, defaulting to the reference value. */
function intField<K extends keyof TimerSpec | keyof SnapshotScheduleSpec>(
  key: K,
  min: number,
  def: number,
  description: string,
  max?: number,
) {
  return numberField(key, { integer: true, min, ...(max !== undefined ? { max } : {}) }, def)
    .default(def)
    .meta({ description });
}

// ---------------------------------------------------------------------------------------------
// The schema
// ---------------------------------------------------------------------------------------------

const ROLES = ['lb', 'master', 'worker'] as const satisfies readonly HostRole[];
const PROVIDERS = ['netns', 'qemu', 'existing'] as const satisfies readonly ProviderName[];
const BOOTSTRAPS = ['fast', 'kubeadm'] as const satisfies readonly BootstrapMode[];
const APISERVER_ETCD = ['all', 'local'] as const satisfies readonly ApiserverEtcd[];

/** "user@host" or "user@host:port" (a jump host). */
export const JUMP_PATTERN = '^[a-z_][a-z0-9_.-]*@[A-Za-z0-9.-]+(:[0-9]{1,5})?$';
const JUMP_RE = new RegExp(JUMP_PATTERN);

function sshPortField() {
  return numberField('port', { integer: true, min: 1, max: 65535 }, 22);
}

const sshUserField = z
  .string()
  .check((ctx) => {
    if (!/^[a-z_][a-z0-9_.-]*$/.test(ctx.value)) {
      report(ctx, `user "${ctx.value}" is not a login name`, 'write the login name on the machines, e.g. root');
    }
  })
  .meta({ description: 'Login user on the machines (root, or a user with password-less sudo).' });

const privateKeyField = z
  .string()
  .check((ctx) => {
    if (!ctx.value.startsWith('/') && !ctx.value.startsWith('~/')) {
      report(
        ctx,
        `privateKey "${ctx.value}" is not an absolute path`,
        'write the full path of the private key on this machine, e.g. /root/.ssh/id_ed25519',
      );
    }
  })
  .meta({ description: 'Path of the private key (OpenSSH format) on this machine, e.g. /root/.ssh/id_ed25519.' });

const jumpField = z
  .string()
  .check((ctx) => {
    if (!JUMP_RE.test(ctx.value)) {
      report(ctx, `jump "${ctx.value}" is not user@host or user@host:port`, 'write it like admin@bastion.example:22');
    }
  })
  .meta({ pattern: JUMP_PATTERN, description: 'Jump host, user@host[:port], logged in to with the same key.' });

/** Provider existing: how this machine logs in to the machines. */
export const ExistingSchema = z
  .strictObject({
    user: sshUserField.default('root'),
    privateKey: privateKeyField,
    port: sshPortField().default(22).meta({ description: 'sshd port on the machines (default 22).' }),
    jump: jumpField.optional(),
  })
  .meta({
    description:
      'Provider existing: the machines are yours, reached over SSH with this user and key (optionally through a jump host); the lab authorises its own key for root.',
  });

/** Per host (provider existing): where its sshd is, when it is not the lab address and the lab's settings. */
export const HostSshSchema = z
  .strictObject({
    address: ipv4Field('ssh.address', '192.168.1.21')
      .optional()
      .meta({ description: 'Address of its sshd when it is not the lab address (a management network).' }),
    port: sshPortField().optional(),
    user: sshUserField.optional(),
    privateKey: privateKeyField.optional(),
    jump: jumpField.optional(),
  })
  .meta({ description: "Provider existing: this machine's SSH settings where they differ from `existing`." });

export const HostSchema = z
  .strictObject({
    name: labelField('host name', HOST_NAME_MAX, 'm1').meta({
      description: 'DNS label, unique in the lab: becomes the hostname.',
    }),
    role: z
      .enum(ROLES)
      .meta({ description: 'lb: HAProxy + keepalived; master: etcd + control plane; worker: runs pods.' }),
    address: ipv4Field('address', '10.213.0.21').meta({ description: 'IPv4 address inside the lab subnet.' }),
    ssh: HostSshSchema.optional(),
  })
  .meta({ description: 'One machine of the lab.' });

export const DisksSchema = z
  .strictObject({
    etcdData: sizeField(
      'etcdData',
      MIN_ETCD_DATA,
      DEFAULT_DISKS.etcdData,
      'etcd preallocates 64 MB write-ahead-log files',
    )
      .default(DEFAULT_DISKS.etcdData)
      .meta({ description: 'Size of the etcd data disk (disk A, /var/lib/etcd) on each master, e.g. 512Mi.' }),
    etcdSnapshots: sizeField(
      'etcdSnapshots',
      MIN_ETCD_SNAPSHOTS,
      DEFAULT_DISKS.etcdSnapshots,
      'the snapshot disk keeps several snapshots',
    )
      .default(DEFAULT_DISKS.etcdSnapshots)
      .meta({ description: 'Size of the snapshot disk (disk B, /var/lib/etcd-snapshots) on each master, e.g. 256Mi.' }),
    runtime: sizeField(
      'runtime',
      MIN_RUNTIME_DISK,
      DEFAULT_DISKS.runtime,
      'it holds every image and container of a node',
    )
      .default(DEFAULT_DISKS.runtime)
      .meta({
        description:
          "Size of the container runtime's disk (/var/lib/containerd) on every master and worker with the kubeadm bootstrap (sparse: only what is written uses space), e.g. 4Gi.",
      }),
  })
  .meta({ description: "The masters' two etcd disks, and the nodes' runtime disk (kubeadm bootstrap)." });

const T = DEFAULT_TIMERS;
export const TimersSchema = z
  .strictObject({
    vrrpAdvertInt: numberField('vrrpAdvertInt', { integer: false, min: 0.01, max: 40.95 }, T.vrrpAdvertInt)
      .default(T.vrrpAdvertInt)
      .meta({ description: 'keepalived VRRP advertisement interval, seconds (fractions use VRRPv3: 0.01 to 40.95).' }),
    haproxyCheckInterMs: intField(
      'haproxyCheckInterMs',
      1,
      T.haproxyCheckInterMs,
      'HAProxy health-check interval, ms.',
    ),
    haproxyCheckFall: intField(
      'haproxyCheckFall',
      1,
      T.haproxyCheckFall,
      'Failed HAProxy checks before an apiserver is marked down.',
    ),
    haproxyCheckRise: intField(
      'haproxyCheckRise',
      1,
      T.haproxyCheckRise,
      'Passed HAProxy checks before an apiserver is marked up again.',
    ),
    etcdHeartbeatMs: intField('etcdHeartbeatMs', 1, T.etcdHeartbeatMs, 'etcd raft heartbeat interval, ms.'),
    etcdElectionMs: intField(
      'etcdElectionMs',
      1,
      T.etcdElectionMs,
      'etcd raft election timeout, ms (at least 5 x heartbeat, at most 50000).',
      50000,
    ),
    leaseDurationS: intField(
      'leaseDurationS',
      1,
      T.leaseDurationS,
      'controller-manager / scheduler leader lease duration, s.',
    ),
    renewDeadlineS: intField(
      'renewDeadlineS',
      1,
      T.renewDeadlineS,
      'Leader lease renew deadline, s (less than leaseDurationS).',
    ),
    retryPeriodS: intField('retryPeriodS', 1, T.retryPeriodS, 'Leader election retry period, s.'),
    nodeStatusUpdateFrequencyS: intField(
      'nodeStatusUpdateFrequencyS',
      1,
      T.nodeStatusUpdateFrequencyS,
      'How often the kubelet reports its node (status, and the node lease renewal: lease = 4 x this), s. The fast bootstrap (kubemark) has it fixed at 10.',
    ),
    nodeMonitorGracePeriodS: intField(
      'nodeMonitorGracePeriodS',
      1,
      T.nodeMonitorGracePeriodS,
      'Silence after which a node is marked NotReady, s.',
    ),
    podEvictionTolerationS: intField(
      'podEvictionTolerationS',
      0,
      T.podEvictionTolerationS,
      'How long pods stay on a NotReady/unreachable node before eviction, s.',
    ),
  })
  .meta({ description: 'Failure-detection timers, shortened from the Kubernetes defaults so drills are quick.' });

export const SnapshotsSchema = z
  .strictObject({
    intervalS: intField(
      'intervalS',
      0,
      DEFAULT_SNAPSHOTS.intervalS,
      'Seconds between scheduled etcd snapshots; 0 disables the schedule.',
    ),
    retain: intField('retain', 1, DEFAULT_SNAPSHOTS.retain, 'How many good snapshots to keep per master.'),
  })
  .meta({ description: "Scheduled etcd snapshots onto each master's snapshot disk." });

/** The spec as written: every field optional, no cross-field defaults yet. */
export const LabSpecInputSchema = z
  .strictObject({
    apiVersion: z.literal('halab/v1').default('halab/v1').meta({ description: 'Spec format version.' }),
    kind: z.literal('Lab').default('Lab'),
    name: labelField('name', LAB_NAME_MAX, DEFAULT_LAB_NAME)
      .default(DEFAULT_LAB_NAME)
      .meta({ description: `DNS label, at most ${LAB_NAME_MAX} characters: every resource of the lab carries it.` }),
    provider: z.enum(PROVIDERS).default('netns').meta({
      description:
        'netns: network namespaces (fast, no VMs); qemu: virtual machines; existing: machines you already have, over SSH (see `existing`).',
    }),
    bootstrap: z.enum(BOOTSTRAPS).default('kubeadm').meta({
      description:
        'kubeadm (default): containerd and real kubelets, kubeadm init/join through the VIP; fast: the control plane as supervised processes and hollow kubelets.',
    }),
    apiserverEtcd: z.enum(APISERVER_ETCD).default('all').meta({
      description:
        'all: every kube-apiserver uses every etcd member (external etcd); local: each uses only the member on its own master (stacked etcd, no stall on a dead member).',
    }),
    subnet: subnetField.default(DEFAULT_SUBNET).meta({
      description:
        'Private IPv4 CIDR (/16 to /29), not in use on the machine; its first address (.1) is the gateway: this machine on the lab bridge.',
    }),
    vip: ipv4Field('vip', '10.213.0.10').optional().meta({
      description:
        'Floating API address held by keepalived: inside the subnet, not a host address. Default: .10 of the subnet.',
    }),
    kubernetesVersion: z
      .string()
      .check((ctx) => {
        if (!KUBERNETES_VERSION_RE.test(ctx.value)) {
          const bare = /^[0-9]+\.[0-9]+\.[0-9]+$/.test(ctx.value);
          report(
            ctx,
            `kubernetesVersion "${ctx.value}" is not a version like ${DEFAULT_KUBERNETES_VERSION}`,
            bare
              ? `write it with a leading v: v${ctx.value}`
              : `write v<major>.<minor>.<patch>, e.g. ${DEFAULT_KUBERNETES_VERSION}`,
          );
        }
      })
      .meta({ pattern: KUBERNETES_VERSION_PATTERN })
      .default(DEFAULT_KUBERNETES_VERSION)
      .meta({ description: 'Kubernetes release to run, e.g. v1.34.4.' }),
    hosts: z.array(HostSchema).optional().meta({
      description:
        'The machines. Default: lb1 .11, lb2 .12 (lb); m1 .21, m2 .22, m3 .23 (master); w1 .31, w2 .32 (worker) in the subnet.',
    }),
    disks: DisksSchema.prefault({}),
    timers: TimersSchema.prefault({}),
    snapshots: SnapshotsSchema.prefault({}),
    existing: ExistingSchema.optional(),
  })
  .meta({
    title: 'HA Lab spec',
    description:
      'One file describes a highly-available Kubernetes lab: load balancers with a floating VIP, etcd masters, workers.',
  });

/** Parses a spec and fills every default, including hosts and VIP placed in the given subnet. */
export const LabSpecSchema = LabSpecInputSchema.transform((s) => {
  const spec = {
    apiVersion: s.apiVersion,
    kind: s.kind,
    name: s.name,
    provider: s.provider,
    bootstrap: s.bootstrap,
    apiserverEtcd: s.apiserverEtcd,
    subnet: s.subnet,
    vip: s.vip ?? defaultVip(s.subnet),
    kubernetesVersion: s.kubernetesVersion,
    hosts: s.hosts ?? referenceHosts(s.subnet),
    disks: s.disks,
    timers: s.timers,
    snapshots: s.snapshots,
    ...(s.existing ? { existing: s.existing } : {}),
  };
  return spec;
});

/** What a user may write (every field optional). */
export type LabSpecInput = z.input<typeof LabSpecSchema>;
/** What the schema produces: must be the contract's LabSpec. */
export type LabSpecOutput = z.output<typeof LabSpecSchema>;

// Compile-time check: the schema's output and the contract's LabSpec are assignable both ways.
type Assignable<From, To> = [From] extends [To] ? true : false;
const _outputIsLabSpec: Assignable<LabSpecOutput, LabSpec> = true;
const _labSpecIsOutput: Assignable<LabSpec, LabSpecOutput> = true;
const _labSpecIsInput: Assignable<LabSpec, LabSpecInput> = true;
void _outputIsLabSpec;
void _labSpecIsOutput;
void _labSpecIsInput;

/** The reference lab with every default (name "halab" unless given). */
export function defaultSpec(name: string = DEFAULT_LAB_NAME): LabSpec {
  return LabSpecSchema.parse({ name });
}

// ---------------------------------------------------------------------------------------------
// Wizard helper
// ---------------------------------------------------------------------------------------------

export interface SpecFromCounts {
  name?: string;
  subnet?: string;
  vip?: string;
  lbs: number;
  masters: number;
  workers: number;
  provider?: ProviderName;
  bootstrap?: BootstrapMode;
  apiserverEtcd?: ApiserverEtcd;
  kubernetesVersion?: string;
  disks?: Partial<DiskSpec>;
  timers?: Partial<TimerSpec>;
  snapshots?: Partial<SnapshotScheduleSpec>;
}

/**
 * A full spec with lb1..lbN at .11+, m1..mN at .21+ and w1..wN at .31+ of the subnet, VIP .10
 * unless given. It does not validate: pass the result to validateSpec. When the subnet does not
 * parse, the hosts are laid out in the default subnet so validation reports only the subnet.
 * Throws RangeError for counts that are not whole numbers within COUNT_LIMITS (0 is allowed, so
 * the wizard can show the "no master" / "no lb" errors).
 */
export function specFromCounts(options: SpecFromCounts): LabSpec {
  const counts = { lb: options.lbs, master: options.masters, worker: options.workers };
  const limits = { lb: COUNT_LIMITS.lbs, master: COUNT_LIMITS.masters, worker: COUNT_LIMITS.workers };
  for (const role of ['lb', 'master', 'worker'] as const) {
    const n = counts[role];
    if (!Number.isInteger(n) || n < 0 || n > limits[role]) {
      throw new RangeError(`specFromCounts: ${role} count ${n} must be a whole number from 0 to ${limits[role]}`);
    }
  }
  const subnet = options.subnet ?? DEFAULT_SUBNET;
  const layoutSubnet = parseCidr(subnet) ?? (parseCidr(DEFAULT_SUBNET) as Cidr);
  return {
    apiVersion: 'halab/v1',
    kind: 'Lab',
    name: options.name ?? DEFAULT_LAB_NAME,
    provider: options.provider ?? 'netns',
    bootstrap: options.bootstrap ?? 'kubeadm',
    apiserverEtcd: options.apiserverEtcd ?? 'all',
    subnet,
    vip: options.vip ?? formatIPv4(addressAt(layoutSubnet, VIP_OFFSET)),
    kubernetesVersion: options.kubernetesVersion ?? DEFAULT_KUBERNETES_VERSION,
    hosts: layoutHosts(layoutSubnet, counts),
    disks: { ...DEFAULT_DISKS, ...definedOnly(options.disks) },
    timers: { ...DEFAULT_TIMERS, ...definedOnly(options.timers) },
    snapshots: { ...DEFAULT_SNAPSHOTS, ...definedOnly(options.snapshots) },
  };
}

/** The entries of `partial` whose value is not undefined (so they do not erase defaults). */
function definedOnly<T extends object>(partial: Partial<T> | undefined): Partial<T> {
  if (!partial) return {};
  return Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) as Partial<T>;
}
