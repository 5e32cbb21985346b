// The create-lab wizard's model: the form as typed (strings, as inputs give them), the checks
// that need no machine (instant, per keystroke), the WizardInput sent to checkSpec for the
// checks that do (subnet in use, quorum advice, timer relations), and which issue belongs to
// which field. Pure functions; the component wires them to inputs and to LabApi.checkSpec.
import type { SpecCheck, WizardInput } from '../../../../provisioning/api/lab-api.ts';
import type { SpecIssue, TimerSpec } from '../../../../provisioning/api/types.ts';

export type TimerKey = keyof TimerSpec;

export interface WizardForm {
  name: string;
  subnet: string;
  lbs: string;
  masters: string;
  workers: string;
  /** Which etcd members each kube-apiserver uses. */
  apiserverEtcd: 'all' | 'local';
  bootstrap: 'kubeadm' | 'fast';
  /** Timers the user changed (empty string = the default). */
  timers: Partial<Record<TimerKey, string>>;
  snapshotIntervalS: string;
  snapshotRetain: string;
}

export const COUNT_LIMITS = { lbs: 10, masters: 10, workers: 200 } as const;

/** The timers the wizard offers, with their defaults (the engine's DEFAULT_TIMERS) and units. */
export const TIMER_FIELDS: { key: TimerKey; label: string; unit: string; def: number }[] = [
  { key: 'vrrpAdvertInt', label: 'VRRP advertisement interval', unit: 's', def: 0.2 },
  { key: 'haproxyCheckInterMs', label: 'HAProxy check interval', unit: 'ms', def: 500 },
  { key: 'haproxyCheckFall', label: 'HAProxy failed checks to mark down', unit: '', def: 2 },
  { key: 'haproxyCheckRise', label: 'HAProxy passed checks to mark up', unit: '', def: 2 },
  { key: 'etcdHeartbeatMs', label: 'etcd heartbeat', unit: 'ms', def: 100 },
  { key: 'etcdElectionMs', label: 'etcd election timeout', unit: 'ms', def: 1000 },
  { key: 'leaseDurationS', label: 'Leader lease duration', unit: 's', def: 8 },
  { key: 'renewDeadlineS', label: 'Leader renew deadline', unit: 's', def: 6 },
  { key: 'retryPeriodS', label: 'Leader retry period', unit: 's', def: 2 },
  { key: 'nodeStatusUpdateFrequencyS', label: 'Node status update frequency', unit: 's', def: 10 },
  { key: 'nodeMonitorGracePeriodS', label: 'Node monitor grace period', unit: 's', def: 20 },
  { key: 'podEvictionTolerationS', label: 'Pod eviction toleration', unit: 's', def: 10 },
];

export function defaultForm(name = 'halab', subnet = '10.213.0.0/24'): WizardForm {
  return {
    name,
    subnet,
    lbs: '2',
    masters: '3',
    workers: '2',
    apiserverEtcd: 'all',
    bootstrap: 'kubeadm',
    timers: {},
    snapshotIntervalS: '60',
    snapshotRetain: '5',
  };
}

const LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

function intIn(text: string, min: number, max: number): number | undefined {
  if (!/^\s*\d+\s*$/.test(text)) return undefined;
  const n = Number(text);
  return n >= min && n <= max ? n : undefined;
}

function num(text: string): number | undefined {
  if (!/^\s*\d+(\.\d+)?\s*$/.test(text)) return undefined;
  return Number(text);
}

const err = (path: string, message: string, fix: string): SpecIssue => ({ severity: 'error', path, message, fix });

/** What can be said without asking the machine: shapes, ranges, numbers. */
export function localIssues(f: WizardForm): SpecIssue[] {
  const out: SpecIssue[] = [];
  if (!f.name) out.push(err('name', 'the lab needs a name', 'e.g. lab1'));
  else if (f.name.length > 20) out.push(err('name', `"${f.name}" is longer than 20 characters`, 'use a shorter name'));
  else if (!LABEL.test(f.name))
    out.push(err('name', `"${f.name}" is not a DNS label`, 'lower-case letters, digits and inner hyphens, e.g. lab-1'));
  const m = CIDR.exec(f.subnet.trim());
  if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32) {
    out.push(err('subnet', `"${f.subnet}" is not an IPv4 network`, 'write it as address/prefix, e.g. 10.213.7.0/24'));
  }
  for (const [k, label] of [
    ['lbs', 'load balancers'],
    ['masters', 'masters'],
    ['workers', 'workers'],
  ] as const) {
    if (intIn(f[k], 0, COUNT_LIMITS[k]) === undefined)
      out.push(
        err(
          k,
          `${label}: "${f[k]}" is not a whole number from 0 to ${COUNT_LIMITS[k]}`,
          `choose 0 to ${COUNT_LIMITS[k]}`,
        ),
      );
  }
  for (const t of TIMER_FIELDS) {
    const v = f.timers[t.key];
    if (v !== undefined && v !== '' && num(v) === undefined)
      out.push(err(`timers.${t.key}`, `${t.label}: "${v}" is not a number`, `e.g. ${t.def}`));
  }
  if (num(f.snapshotIntervalS) === undefined)
    out.push(
      err(
        'snapshots.intervalS',
        `snapshot interval "${f.snapshotIntervalS}" is not a number of seconds`,
        '0 turns the schedule off; e.g. 60',
      ),
    );
  if (num(f.snapshotRetain) === undefined)
    out.push(err('snapshots.retain', `"${f.snapshotRetain}" snapshots to keep is not a number`, 'e.g. 5'));
  return out;
}

/** The call's input, or undefined while the form has local errors that make it meaningless. */
export function toWizardInput(f: WizardForm): WizardInput | undefined {
  const local = localIssues(f);
  if (local.some((i) => /^(lbs|masters|workers|timers\.|snapshots\.)/.test(i.path))) return undefined;
  const timers: Partial<TimerSpec> = {};
  for (const t of TIMER_FIELDS) {
    const v = f.timers[t.key];
    if (v !== undefined && v !== '') timers[t.key] = Number(v);
  }
  return {
    name: f.name.trim(),
    subnet: f.subnet.trim(),
    lbs: Number(f.lbs),
    masters: Number(f.masters),
    workers: Number(f.workers),
    apiserverEtcd: f.apiserverEtcd,
    bootstrap: f.bootstrap,
    timers,
    snapshots: { intervalS: Number(f.snapshotIntervalS), retain: Number(f.snapshotRetain) },
  };
}

/** The form field an issue belongs to ("" = the lab as a whole). */
export function fieldOf(path: string): string {
  if (
    path === 'name' ||
    path === 'subnet' ||
    path === 'vip' ||
    path === 'lbs' ||
    path === 'masters' ||
    path === 'workers'
  )
    return path === 'vip' ? 'subnet' : path;
  if (path.startsWith('timers.') || path.startsWith('snapshots.')) return path;
  if (path.startsWith('hosts')) return 'hosts';
  return '';
}

/** Local issues first; server issues for a field that has a local error are left out (stale). */
export function mergeIssues(local: SpecIssue[], server: SpecIssue[] | undefined): SpecIssue[] {
  const localFields = new Set(local.map((i) => fieldOf(i.path)));
  const seen = new Set<string>();
  const out: SpecIssue[] = [];
  for (const i of [...local, ...(server ?? []).filter((i) => !localFields.has(fieldOf(i.path)))]) {
    const k = `${i.severity}|${i.path}|${i.message}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push(i);
    }
  }
  return out;
}

export function issuesFor(issues: SpecIssue[], field: string): SpecIssue[] {
  return issues.filter((i) => fieldOf(i.path) === field);
}

/** Create is allowed when the server accepted exactly this input and nothing local is wrong. */
export function canCreate(
  local: SpecIssue[],
  check: SpecCheck | undefined,
  checkedFor: string | undefined,
  input: WizardInput | undefined,
): boolean {
  if (!input || local.some((i) => i.severity === 'error') || !check?.spec) return false;
  return checkedFor === JSON.stringify(input);
}

/** The row of the quorum table for `members` (undefined for 0). */
export function quorumRow(table: { members: number; majority: number; tolerated: number }[], members: number) {
  return table.find((r) => r.members === members);
}
