// validateSpec: every problem of a spec at once, each with a path, a message and a fix.
//
// Two layers. The zod schema (schema.ts) checks types, unknown keys and each field on its own.
// Then the rules below relate fields to each other and to the machine's networks; they read the
// raw input leniently (a field the schema rejected is skipped, not guessed), so one bad field
// never hides the problems of the others.

import type { z } from 'zod';
import type { HostRole, LabSpec, SpecIssue, TimerSpec } from '../api/types.ts';
import {
  broadcastOf,
  cidrContains,
  cidrsOverlap,
  formatCidr,
  formatIPv4,
  freeAddress,
  firstFreeCidr,
  hasHostBits,
  isPrivate,
  networkOf,
  parseCidr,
  parseIPv4,
  PRIVATE_RANGES,
  type Cidr,
} from './net.ts';
import { quorum } from './quorum.ts';
import {
  DEFAULT_SUBNET,
  DEFAULT_TIMERS,
  DisksSchema,
  HostSchema,
  LabSpecInputSchema,
  LabSpecSchema,
  ROLE_OFFSETS,
  ROLE_PREFIXES,
  SnapshotsSchema,
  TimersSchema,
  VIP_OFFSET,
  defaultVip,
  referenceHosts,
} from './schema.ts';

/** The addresses and routes already on the machine, each with where it comes from. */
export interface MachineNetworks {
  cidrs: { cidr: string; source: string }[];
}

export interface SpecValidation {
  /** The full spec, only when there is no error (warnings allowed). */
  spec?: LabSpec;
  /**
   * The spec with defaults whenever its shape and fields are valid, even if relations between
   * fields are not (addresses outside the subnet, overlaps...): enough for a plan preview that
   * shows the errors next to the hosts. Never build a lab from it.
   */
  draft?: LabSpec;
  issues: SpecIssue[];
}

export const MIN_PREFIX = 16;
export const MAX_PREFIX = 29;

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

/** ['hosts', 3, 'address'] -> "hosts[3].address". */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------------------------------------
// Schema issues -> SpecIssues
// ---------------------------------------------------------------------------------------------

/** The known fields of the mapping at `path` (for "unknown field" fixes). */
function knownFieldsAt(path: readonly PropertyKey[]): string[] {
  const [first, second] = path;
  if (path.length === 0) return Object.keys(LabSpecInputSchema.shape);
  if (first === 'hosts' && typeof second === 'number' && path.length === 2) return Object.keys(HostSchema.shape);
  if (path.length === 1 && first === 'disks') return Object.keys(DisksSchema.shape);
  if (path.length === 1 && first === 'timers') return Object.keys(TimersSchema.shape);
  if (path.length === 1 && first === 'snapshots') return Object.keys(SnapshotsSchema.shape);
  return [];
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j] as number;
      row[j] = Math.min(up + 1, (row[j - 1] as number) + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length] as number;
}

/** The known field a misspelt key most likely meant, if any. */
export function closestField(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const exact = known.find((k) => k.toLowerCase() === lower);
  if (exact) return exact;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.min(2, Math.floor(key.length / 3)) ? best : undefined;
}

function describeValue(v: unknown): string {
  if (v === null) return 'empty';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'string': {
      const s = v.length > 40 ? `${v.slice(0, 37)}...` : v;
      return `the string "${s}"`;
    }
    case 'number':
      return Number.isFinite(v) ? `the number ${v}` : `the non-finite number ${v}`;
    case 'boolean':
      return String(v);
    case 'object':
      return 'a mapping';
    default:
      return typeof v;
  }
}

const EXPECTED: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
};

const REFERENCE: unknown = { ...LabSpecSchema.parse({}), hosts: undefined };

/** An example value for the field at `path`, taken from the reference lab. */
function exampleAt(path: readonly PropertyKey[]): string | undefined {
  const [first, second, third] = path;
  if (first === 'hosts' && typeof second === 'number' && typeof third === 'string') {
    return ({ name: 'm1', role: 'master', address: '10.213.0.21' } as Record<string, string>)[third];
  }
  if (path.length === 1 && first === 'vip') return defaultVip();
  const v = valueAt(REFERENCE, path);
  return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
}

function lastName(path: readonly PropertyKey[]): string {
  const last = path[path.length - 1];
  if (typeof last === 'number') return formatPath(path.slice(-2));
  return String(last);
}

function schemaIssue(iss: z.core.$ZodIssue, raw: unknown): SpecIssue[] {
  const path = iss.path;
  const where = formatPath(path);
  const field = path.length > 0 ? lastName(path) : '';
  const value = valueAt(raw, path);
  const issue = (message: string, fix: string, at: string = where): SpecIssue => ({
    severity: 'error',
    path: at,
    message,
    fix,
  });

  if (iss.code === 'custom') {
    const fix = (iss.params as { fix?: unknown } | undefined)?.fix;
    return [issue(iss.message, typeof fix === 'string' ? fix : `correct ${where}`)];
  }
  if (iss.code === 'unrecognized_keys') {
    const known = knownFieldsAt(path);
    return iss.keys.map((key) => {
      const near = closestField(key, known);
      const fix = near ? `rename it to "${near}"` : `delete it; the fields allowed here are: ${known.join(', ')}`;
      return issue(`unknown field "${key}"`, fix, formatPath([...path, key]));
    });
  }
  if (path.length === 0) {
    return [
      issue(
        `the spec must be a mapping of fields (name, subnet, hosts, ...), not ${describeValue(value)}`,
        'write the spec as "field: value" lines, e.g. name: halab',
      ),
    ];
  }
  if (value === undefined) {
    const example = exampleAt(path);
    return [issue(`${field} is missing`, example ? `add ${field}: ${example}` : `add ${field}`)];
  }
  if (value === null) {
    if (typeof path[path.length - 1] === 'number') {
      return [issue(`${field} is empty`, 'fill in the entry or delete its empty "-" line')];
    }
    return [issue(`${field} has no value`, `write a value after "${field}:" or delete the line`)];
  }
  if (iss.code === 'invalid_type') {
    const expected = EXPECTED[iss.expected] ?? iss.expected;
    const message = `${field} must be ${expected}, not ${describeValue(value)}`;
    if (iss.expected === 'object') {
      const known = knownFieldsAt(path);
      return [issue(message, `write ${field} as a mapping of ${known.join(', ')}`)];
    }
    if (iss.expected === 'array') {
      return [issue(message, `write ${field} as a list of entries with name, role and address`)];
    }
    const example = exampleAt(path);
    return [issue(message, example ? `write ${expected}, e.g. ${field}: ${example}` : `write ${expected}`)];
  }
  if (iss.code === 'invalid_value') {
    const values = iss.values.map(String);
    if (values.length === 1) {
      return [
        issue(
          `${field} must be ${values[0]}, not ${describeValue(value)}`,
          `set ${field}: ${values[0]} or delete the line`,
        ),
      ];
    }
    const message =
      typeof value === 'string'
        ? `${field} "${value}" is not one of: ${values.join(', ')}`
        : `${field} must be one of: ${values.join(', ')}, not ${describeValue(value)}`;
    return [issue(message, `use one of: ${values.join(', ')}`)];
  }
  return [issue(`${field}: ${iss.message}`, `correct ${where}`)];
}

// ---------------------------------------------------------------------------------------------
// The lenient view: raw values that passed their own field check, defaults where absent
// ---------------------------------------------------------------------------------------------

interface ViewHost {
  index: number;
  name?: string;
  role?: HostRole;
  address?: number;
}

interface View {
  subnetText?: string;
  subnet?: Cidr;
  vipText?: string;
  vip?: number;
  /** undefined when hosts is not a list. */
  hosts?: ViewHost[];
  hostsDefaulted: boolean;
  timers: Partial<TimerSpec>;
}

function leniently(raw: Record<string, unknown>): View {
  const subnetText =
    raw.subnet === undefined ? DEFAULT_SUBNET : typeof raw.subnet === 'string' ? raw.subnet : undefined;
  const subnet = subnetText === undefined ? undefined : parseCidr(subnetText);

  let vipText: string | undefined;
  if (raw.vip === undefined) vipText = subnet ? defaultVip(subnetText) : undefined;
  else if (typeof raw.vip === 'string') vipText = raw.vip;
  const vip = vipText === undefined ? undefined : parseIPv4(vipText);

  const hostsDefaulted = raw.hosts === undefined;
  let hostList: unknown[] | undefined;
  if (hostsDefaulted) hostList = subnet ? referenceHosts(subnetText) : undefined;
  else if (Array.isArray(raw.hosts)) hostList = raw.hosts;
  const hosts = hostList?.map((h, index): ViewHost => {
    const host: ViewHost = { index };
    if (!isRecord(h)) return host;
    if (typeof h.name === 'string') host.name = h.name;
    const role = HostSchema.shape.role.safeParse(h.role);
    if (role.success) host.role = role.data;
    if (typeof h.address === 'string') {
      const address = parseIPv4(h.address);
      if (address !== undefined) host.address = address;
    }
    return host;
  });

  const timers: Partial<TimerSpec> = {};
  const rawTimers = raw.timers === undefined ? {} : raw.timers;
  if (isRecord(rawTimers)) {
    for (const key of Object.keys(DEFAULT_TIMERS) as (keyof TimerSpec)[]) {
      const parsed = TimersSchema.shape[key].safeParse(rawTimers[key]);
      if (parsed.success) timers[key] = parsed.data;
    }
  }

  return {
    ...(subnetText !== undefined ? { subnetText } : {}),
    ...(subnet ? { subnet } : {}),
    ...(vipText !== undefined ? { vipText } : {}),
    ...(vip !== undefined ? { vip } : {}),
    ...(hosts ? { hosts } : {}),
    hostsDefaulted,
    timers,
  };
}

// ---------------------------------------------------------------------------------------------
// Rules across fields
// ---------------------------------------------------------------------------------------------

/** Candidates for a free lab subnet: 10.213.0-255.0/24, then 192.168.0-255.0/24. */
function* subnetCandidates(): Generator<Cidr> {
  for (const base of [((10 << 24) | (213 << 16)) >>> 0, ((192 << 24) | (168 << 16)) >>> 0]) {
    for (let x = 0; x < 256; x++) yield { address: (base + (x << 8)) >>> 0, prefix: 24 };
  }
}

/** The machine's networks that can clash with a lab subnet (default routes never do). */
function machineCidrs(machine: MachineNetworks): { cidr: Cidr; source: string }[] {
  const out: { cidr: Cidr; source: string }[] = [];
  for (const entry of machine.cidrs) {
    const text = entry.cidr.includes('/') ? entry.cidr : `${entry.cidr}/32`;
    const cidr = parseCidr(text);
    if (cidr && cidr.prefix > 0) out.push({ cidr, source: entry.source });
  }
  return out;
}

/** A private /24 that overlaps nothing on the machine: 10.213.x.0/24 first. */
export function suggestFreeSubnet(machine: MachineNetworks): string | undefined {
  const free = firstFreeCidr(
    subnetCandidates(),
    machineCidrs(machine).map((m) => m.cidr),
  );
  return free ? formatCidr(free) : undefined;
}

function pickSubnetFix(suggestion: string | undefined): string {
  return suggestion
    ? `pick a free private range, e.g. ${suggestion}`
    : 'pick a private range that no address or route on this machine uses';
}

function checkSubnet(view: View, machine: MachineNetworks, out: SpecIssue[]): void {
  const { subnet, subnetText } = view;
  if (!subnet || subnetText === undefined) return;
  const err = (message: string, fix: string) => out.push({ severity: 'error', path: 'subnet', message, fix });
  const suggestion = suggestFreeSubnet(machine);
  const canonical = formatCidr(subnet);

  if (hasHostBits(subnet)) {
    err(
      `subnet ${subnetText} has host bits set: its network address is ${formatIPv4(networkOf(subnet))}`,
      `write it as ${canonical}`,
    );
  }
  if (!isPrivate(subnet)) {
    err(`subnet ${subnetText} is not a private range (${PRIVATE_RANGES.join(', ')})`, pickSubnetFix(suggestion));
  }
  if (subnet.prefix > MAX_PREFIX) {
    err(
      `subnet ${subnetText} is too small: the prefix must be /${MAX_PREFIX} or shorter`,
      suggestion ? `use a /24, e.g. ${suggestion}` : 'use a /24',
    );
  }
  if (subnet.prefix < MIN_PREFIX) {
    err(
      `subnet ${subnetText} is too large: the prefix must be /${MIN_PREFIX} or longer`,
      suggestion ? `use a /24, e.g. ${suggestion}` : 'use a /24',
    );
  }
  // One issue per clashing network: an address and its connected route are the same clash.
  const reported = new Set<string>();
  for (const m of machineCidrs(machine)) {
    const key = formatCidr(m.cidr);
    if (!cidrsOverlap(subnet, m.cidr) || reported.has(key)) continue;
    reported.add(key);
    err(`subnet ${subnetText} overlaps ${m.source} on this machine`, pickSubnetFix(suggestion));
  }

  // Default hosts placed in a subnet too small for them: one issue, not one per host the user
  // never wrote.
  if (view.hostsDefaulted && view.hosts) {
    const broadcast = broadcastOf(subnet);
    const misfit = view.hosts.some(
      (h) => h.address === undefined || !cidrContains(subnet, h.address) || h.address === broadcast,
    );
    if (misfit) {
      const offsets = view.hosts.map((h) => (h.address ?? 0) - networkOf(subnet));
      const span = `.${Math.min(...offsets)} to .${Math.max(...offsets)}`;
      err(
        `subnet ${subnetText} is too small for the default hosts at ${span}`,
        'use a /26 or larger subnet, or list the hosts yourself',
      );
    }
  }
}

/** Why `address` cannot be used in `subnet`, or undefined when it can. */
function addressProblem(address: number, subnet: Cidr, subnetText: string): string | undefined {
  if (!cidrContains(subnet, address)) return `is outside subnet ${subnetText}`;
  if (address === networkOf(subnet)) return `is the network address of subnet ${subnetText}`;
  if (address === broadcastOf(subnet)) return `is the broadcast address of subnet ${subnetText}`;
  if (address === networkOf(subnet) + 1)
    return `is the gateway of subnet ${subnetText} (this machine's address on the lab bridge)`;
  return undefined;
}

function hostLabel(view: View, host: ViewHost): string {
  const name = host.name ?? `hosts[${host.index}]`;
  return view.hostsDefaulted ? `the default host ${name}` : host.name ? `${name} (hosts[${host.index}])` : name;
}

function checkAddresses(view: View, out: SpecIssue[]): void {
  const { subnet, subnetText, hosts } = view;
  const used = new Set<number>();
  for (const h of hosts ?? []) if (h.address !== undefined) used.add(h.address);
  if (view.vip !== undefined) used.add(view.vip);
  const free = (from: number) => (subnet ? freeAddress(subnet, used, (networkOf(subnet) + from) >>> 0) : undefined);

  // The VIP.
  if (view.vip !== undefined && view.vipText !== undefined) {
    const f = free(VIP_OFFSET);
    const fix =
      subnet && f !== undefined
        ? `set vip to a free address inside ${subnetText}, e.g. ${formatIPv4(f)}`
        : 'set vip to a free address inside the subnet';
    const problem = subnet && subnetText !== undefined ? addressProblem(view.vip, subnet, subnetText) : undefined;
    if (problem) {
      out.push({ severity: 'error', path: 'vip', message: `VIP ${view.vipText} ${problem}`, fix });
    } else {
      const owner = hosts?.find((h) => h.address === view.vip);
      if (owner)
        out.push({
          severity: 'error',
          path: 'vip',
          message: `VIP ${view.vipText} is also the address of ${hostLabel(view, owner)}`,
          fix,
        });
    }
  }

  // Hosts the user wrote (the defaults are checked as a whole in checkSubnet).
  if (!hosts || view.hostsDefaulted) return;
  const byAddress = new Map<number, ViewHost>();
  const byName = new Map<string, ViewHost>();
  const names = new Set(hosts.map((h) => h.name).filter((n): n is string => n !== undefined));
  for (const h of hosts) {
    if (h.name !== undefined) {
      const first = byName.get(h.name);
      if (first) {
        const prefix = h.role ? ROLE_PREFIXES[h.role] : 'host';
        let k = 1;
        while (names.has(`${prefix}${k}`)) k++;
        out.push({
          severity: 'error',
          path: `hosts[${h.index}].name`,
          message: `host name "${h.name}" is also the name of hosts[${first.index}]`,
          fix: `give each host its own name, e.g. "${prefix}${k}"`,
        });
      } else {
        byName.set(h.name, h);
      }
    }
    if (h.address === undefined) continue;
    const text = formatIPv4(h.address);
    const f = free(h.role ? ROLE_OFFSETS[h.role] : 2);
    const suggestion = f !== undefined ? formatIPv4(f) : undefined;
    const problem = subnet && subnetText !== undefined ? addressProblem(h.address, subnet, subnetText) : undefined;
    if (problem) {
      out.push({
        severity: 'error',
        path: `hosts[${h.index}].address`,
        message: `address ${text} ${problem}`,
        fix: suggestion
          ? `use a free address inside ${subnetText}, e.g. ${suggestion}`
          : `use a free address inside ${subnetText}`,
      });
      continue;
    }
    const first = byAddress.get(h.address);
    if (first) {
      out.push({
        severity: 'error',
        path: `hosts[${h.index}].address`,
        message: `address ${text} is also the address of ${hostLabel(view, first)}`,
        fix: suggestion ? `give each host its own address, e.g. ${suggestion}` : 'give each host its own address',
      });
    } else {
      byAddress.set(h.address, h);
    }
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function checkRoles(view: View, out: SpecIssue[]): void {
  const { hosts } = view;
  // Defaults are the reference lab; roles that failed their own check make counts meaningless.
  if (!hosts || view.hostsDefaulted || hosts.some((h) => h.role === undefined)) return;
  const count = (role: HostRole) => hosts.filter((h) => h.role === role).length;
  const masters = count('master');
  const lbs = count('lb');
  const workers = count('worker');
  const add = (severity: SpecIssue['severity'], message: string, fix: string) =>
    out.push({ severity, path: 'hosts', message, fix });

  if (masters === 0)
    add(
      'error',
      'no host has role master: etcd and the Kubernetes API have nowhere to run',
      'add three hosts with role master, e.g. m1, m2 and m3',
    );
  if (lbs === 0)
    add(
      'error',
      'no host has role lb: nothing holds the VIP or balances the API',
      'add two hosts with role lb, e.g. lb1 and lb2',
    );
  if (masters > 0 && masters % 2 === 0) {
    const q = quorum(masters);
    add(
      'warning',
      `${masters} etcd members tolerate ${plural(q.tolerated, 'failure')}, the same as ${masters - 1}: the extra member adds load, not safety`,
      `use ${masters - 1} or ${masters + 1} masters`,
    );
  }
  if (masters === 1)
    add(
      'warning',
      'no control-plane HA: losing the master loses the API',
      'use three masters so the lab survives losing one',
    );
  if (masters === 2)
    add(
      'warning',
      'no control-plane HA: losing either master loses etcd quorum and the API',
      'use three masters so the lab survives losing one',
    );
  if (lbs === 1)
    add(
      'warning',
      'the load balancer is a single point of failure',
      'add a second host with role lb so keepalived can move the VIP',
    );
  if (workers === 0)
    add('warning', 'no workers: pods will have nowhere to run', 'add a host with role worker, e.g. w1');
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function checkTimers(t: Partial<TimerSpec>, out: SpecIssue[]): void {
  const { leaseDurationS: lease, renewDeadlineS: renew, retryPeriodS: retry } = t;
  const advert = t.vrrpAdvertInt;
  if (typeof advert === 'number' && advert >= 0.01 && Math.abs(Math.round(advert * 100) - advert * 100) > 1e-6) {
    out.push({
      severity: 'error',
      path: 'timers.vrrpAdvertInt',
      message: `vrrpAdvertInt ${advert} is not a whole number of centiseconds: VRRP advertises in steps of 0.01 s`,
      fix: `round it, e.g. ${Math.max(0.01, Math.round(advert * 100) / 100)}`,
    });
  }
  if (lease !== undefined && renew !== undefined && renew >= lease) {
    out.push({
      severity: 'error',
      path: 'timers.renewDeadlineS',
      message: `renewDeadlineS ${renew} is not less than leaseDurationS ${lease}: leader election will not start`,
      fix: `make renewDeadlineS smaller than leaseDurationS (the defaults are ${DEFAULT_TIMERS.renewDeadlineS} and ${DEFAULT_TIMERS.leaseDurationS})`,
    });
  }
  if (renew !== undefined && retry !== undefined && renew <= 1.2 * retry) {
    out.push({
      severity: 'error',
      path: 'timers.retryPeriodS',
      message: `retryPeriodS ${retry} is too long for renewDeadlineS ${renew}: the deadline must exceed 1.2 × retryPeriodS (${round(1.2 * retry)}) or leader election will not start`,
      fix: `make retryPeriodS smaller than renewDeadlineS / 1.2 (the defaults are ${DEFAULT_TIMERS.retryPeriodS} and ${DEFAULT_TIMERS.renewDeadlineS})`,
    });
  }
  const { etcdHeartbeatMs: hb, etcdElectionMs: el } = t;
  if (hb !== undefined && el !== undefined && el < 5 * hb) {
    out.push({
      severity: 'error',
      path: 'timers.etcdElectionMs',
      message: `etcdElectionMs ${el} is less than 5 × etcdHeartbeatMs (${5 * hb}): etcd refuses to start`,
      fix: `set etcdElectionMs to at least ${5 * hb}; 10 × etcdHeartbeatMs (${10 * hb}) is usual`,
    });
  }
  const { nodeStatusUpdateFrequencyS: freq, nodeMonitorGracePeriodS: grace } = t;
  if (freq !== undefined && grace !== undefined && grace < 2 * freq) {
    out.push({
      severity: 'warning',
      path: 'timers.nodeMonitorGracePeriodS',
      message: `nodeMonitorGracePeriodS ${grace} is less than 2 × nodeStatusUpdateFrequencyS (${2 * freq}): one late status update marks a healthy node NotReady`,
      fix: `set nodeMonitorGracePeriodS to at least 2 × nodeStatusUpdateFrequencyS (${2 * freq}); Kubernetes' own defaults give 4 × (${4 * freq})`,
    });
  }
}

/** Provider existing: its login block is required with it and refused without it; the fast bootstrap only. */
function checkExisting(raw: Record<string, unknown>, out: SpecIssue[]): void {
  const existing = raw.provider === 'existing';
  if (existing && raw.existing === undefined) {
    out.push({
      severity: 'error',
      path: 'existing',
      message: 'provider existing needs to know how to log in to the machines: `existing` is missing',
      fix: 'add `existing: { user: root, privateKey: /root/.ssh/id_ed25519 }` (port and jump are optional)',
    });
  }
  if (!existing && raw.existing !== undefined) {
    out.push({
      severity: 'error',
      path: 'existing',
      message: `\`existing\` is only read by provider existing, and this spec's provider is ${String(raw.provider ?? 'netns')}`,
      fix: 'set `provider: existing`, or remove the `existing` block',
    });
  }
  if (existing && (raw.bootstrap ?? 'kubeadm') === 'kubeadm') {
    out.push({
      severity: 'error',
      path: 'bootstrap',
      message:
        "provider existing runs the fast bootstrap only: the kubeadm bootstrap's nodes need the runtime disk with every image preloaded, which HA Lab makes only for its own hosts (netns, qemu)",
      fix: 'set `bootstrap: fast`',
    });
  }
  const hosts = Array.isArray(raw.hosts) ? (raw.hosts as unknown[]) : [];
  hosts.forEach((h, i) => {
    if (!existing && isRecord(h) && h.ssh !== undefined) {
      out.push({
        severity: 'error',
        path: `hosts[${i}].ssh`,
        message: `hosts[${i}].ssh is only read by provider existing`,
        fix: 'remove it, or set `provider: existing`',
      });
    }
  });
  if (existing && raw.hosts === undefined) {
    out.push({
      severity: 'warning',
      path: 'hosts',
      message:
        'provider existing with the default hosts: the machines must have the addresses .11, .12, .21–.23, .31, .32 of the subnet',
      fix: 'list your machines under `hosts` with their addresses',
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Ordering and entry point
// ---------------------------------------------------------------------------------------------

const FIELD_ORDER = Object.keys(LabSpecInputSchema.shape);

/** Errors first, then warnings; within each, the order of the fields in the spec. */
export function sortIssues(issues: readonly SpecIssue[]): SpecIssue[] {
  const key = (i: SpecIssue) => {
    const top = /^[^.[]*/.exec(i.path)?.[0] ?? '';
    const topIndex = i.path === '' ? -2 : FIELD_ORDER.indexOf(top); // unknown top-level keys: -1
    const host = /^hosts\[(\d+)\]/.exec(i.path);
    return [i.severity === 'error' ? 0 : 1, topIndex, host ? Number(host[1]) : -1];
  };
  return issues
    .map((issue, n) => ({ issue, n, k: key(issue) }))
    .sort((a, b) => {
      for (let i = 0; i < a.k.length; i++) {
        const d = (a.k[i] as number) - (b.k[i] as number);
        if (d !== 0) return d;
      }
      return a.n - b.n;
    })
    .map((x) => x.issue);
}

export function hasErrors(issues: readonly SpecIssue[]): boolean {
  return issues.some((i) => i.severity === 'error');
}

/**
 * Validates a spec (already parsed from YAML or JSON; null/undefined mean an empty spec, which
 * is the reference lab). Reports every problem at once. `machine` is the machine's networks,
 * minus this lab's own bridge when re-validating a lab that already exists.
 */
export function validateSpec(input: unknown, machine: MachineNetworks): SpecValidation {
  const raw = input === undefined || input === null ? {} : input;
  const issues: SpecIssue[] = [];
  const parsed = LabSpecSchema.safeParse(raw);
  if (!parsed.success) for (const iss of parsed.error.issues) issues.push(...schemaIssue(iss, raw));

  if (isRecord(raw)) {
    const view = leniently(raw);
    // existing machines sit in a network this machine may already route to: no overlap check
    checkSubnet(view, raw.provider === 'existing' ? { ...machine, cidrs: [] } : machine, issues);
    checkExisting(raw, issues);
    checkAddresses(view, issues);
    checkRoles(view, issues);
    checkTimers(view.timers, issues);
  }

  const sorted = sortIssues(issues);
  const result: SpecValidation = { issues: sorted };
  if (parsed.success) {
    result.draft = parsed.data;
    if (!hasErrors(sorted)) result.spec = parsed.data;
  }
  return result;
}
