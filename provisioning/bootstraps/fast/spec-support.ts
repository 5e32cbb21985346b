// Which spec field the fast bootstrap honours, and where it takes effect in the running lab (the
// audit of issue 11, case 5: every field takes effect, or the plan refuses it with the reason).
// A unit test checks that every field of the spec has an entry here, so a new field cannot be
// accepted and silently ignored.
import type { LabSpec, SpecIssue } from '../../api/types.ts';
import { DEFAULT_DISKS } from '../../spec/schema.ts';
import { HOLLOW_LEASE_DURATION_S, HOLLOW_NODE_STATUS_S } from './hollow.ts';

/** For each spec field (dotted path, timers one by one): where the fast bootstrap applies it. */
export const FAST_SPEC_FIELDS: Readonly<Record<string, string>> = {
  apiVersion: 'the spec format: checked by the schema',
  kind: 'the spec format: checked by the schema',
  name: 'every resource of the lab: namespaces, bridge, VRRP router id, cluster name, kubeconfig',
  provider: 'the hosts (the engine; the plan refuses a provider not available in this version)',
  bootstrap: 'this bootstrap',
  apiserverEtcd: "each kube-apiserver's --etcd-servers (kubeadm ClusterConfiguration etcd.external.endpoints)",
  subnet: "the lab bridge, every host's address, the certificates' SANs",
  vip: "keepalived's virtual_ipaddress, HAProxy's frontend, controlPlaneEndpoint, every kubeconfig",
  kubernetesVersion: 'the binaries every host runs (cached per version; the plan says whether they exist)',
  hosts: "the hosts, their roles, HAProxy's backends, etcd's members, the hollow nodes",
  'disks.etcdData': "disk A's size on each master, and etcd's --quota-backend-bytes",
  'disks.etcdSnapshots': "disk B's size on each master",
  'disks.runtime': 'not used: the fast bootstrap runs no container runtime (a value other than the default is refused)',
  'timers.vrrpAdvertInt': "keepalived's advert_int (and VRRP version 2 or 3)",
  'timers.haproxyCheckInterMs': "HAProxy's default-server inter and timeout check",
  'timers.haproxyCheckFall': "HAProxy's default-server fall",
  'timers.haproxyCheckRise': "HAProxy's default-server rise",
  'timers.etcdHeartbeatMs': "etcd's --heartbeat-interval",
  'timers.etcdElectionMs': "etcd's --election-timeout",
  'timers.leaseDurationS': 'kube-controller-manager and kube-scheduler --leader-elect-lease-duration',
  'timers.renewDeadlineS': 'kube-controller-manager and kube-scheduler --leader-elect-renew-deadline',
  'timers.retryPeriodS': 'kube-controller-manager and kube-scheduler --leader-elect-retry-period',
  'timers.nodeStatusUpdateFrequencyS': `fixed by kubemark: status every ${HOLLOW_NODE_STATUS_S} s, node lease ${HOLLOW_LEASE_DURATION_S} s renewed every ${HOLLOW_LEASE_DURATION_S / 4} s; any other value is refused`,
  'timers.nodeMonitorGracePeriodS': 'kube-controller-manager --node-monitor-grace-period',
  'timers.podEvictionTolerationS':
    'kube-apiserver --default-not-ready-toleration-seconds and --default-unreachable-toleration-seconds',
  'snapshots.intervalS': 'the etcd-snapshot service on each master (INTERVAL; 0 removes it)',
  'snapshots.retain': 'the etcd-snapshot service on each master (RETAIN)',
  existing:
    'provider existing only: how this machine logs in to the machines (user, key, port, jump host); the provider reads it, not the bootstrap',
};

/**
 * The spec fields the fast bootstrap cannot honour (pure). Its workers are kubemark's hollow
 * kubelets, which have no flag or config file for their node-status and node-lease timers: they
 * report every 10 s with a 40 s lease, whatever the spec says.
 */
export function fastSpecIssues(spec: LabSpec): SpecIssue[] {
  // a bootstrap that reuses this object (kubeadm, while it is being built) answers for itself
  if (spec.bootstrap !== 'fast') return [];
  const out: SpecIssue[] = [];
  if (spec.disks.runtime !== DEFAULT_DISKS.runtime) {
    out.push({
      severity: 'error',
      path: 'disks.runtime',
      message: `disks.runtime ${spec.disks.runtime} would do nothing with bootstrap fast: it has no container runtime (its kubelets are hollow)`,
      fix: 'remove disks.runtime, or use bootstrap: kubeadm',
    });
  }
  const f = spec.timers.nodeStatusUpdateFrequencyS;
  if (f !== HOLLOW_NODE_STATUS_S) {
    out.push({
      severity: 'error',
      path: 'timers.nodeStatusUpdateFrequencyS',
      message: `nodeStatusUpdateFrequencyS ${f} would do nothing with bootstrap fast: its hollow kubelets (kubemark) report their node every ${HOLLOW_NODE_STATUS_S} s and renew a ${HOLLOW_LEASE_DURATION_S} s node lease every ${HOLLOW_LEASE_DURATION_S / 4} s, and kubemark has no setting to change that`,
      fix: `set timers.nodeStatusUpdateFrequencyS: ${HOLLOW_NODE_STATUS_S} (with nodeMonitorGracePeriodS of at least ${2 * HOLLOW_NODE_STATUS_S}), or use bootstrap: kubeadm, whose real kubelets take it`,
    });
  }
  return out;
}
