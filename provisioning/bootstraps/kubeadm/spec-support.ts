// Which spec field the kubeadm bootstrap honours, and where it takes effect in the running lab
// (every field takes effect, or the plan refuses it with the reason); a unit test checks that
// every field of the spec has an entry here.
import type { LabSpec, SpecIssue } from '../../api/types.ts';

export const KUBEADM_SPEC_FIELDS: Readonly<Record<string, string>> = {
  apiVersion: 'the spec format: checked by the schema',
  kind: 'the spec format: checked by the schema',
  name: 'every resource of the lab: namespaces, bridge, VRRP router id, clusterName, cgroups, kubeconfig context',
  provider: 'the hosts (the engine; the plan refuses a provider not available in this version)',
  bootstrap: 'this bootstrap',
  apiserverEtcd:
    'ClusterConfiguration etcd.external.endpoints (cluster-wide in kubeadm: only `all`; `local` is refused)',
  subnet:
    "the lab bridge, every host's address, the certificates' SANs, each node's pod range (its address's last octet)",
  vip: "keepalived's virtual_ipaddress, HAProxy's frontend, controlPlaneEndpoint (every kubelet, kube-proxy and kubeadm join)",
  kubernetesVersion:
    'the binaries and the images every node runs (cached per version; the plan says whether they exist)',
  hosts: "the hosts, their roles, HAProxy's backends, etcd's members, the nodes kubeadm makes",
  'disks.etcdData': "disk A's size on each master, and etcd's --quota-backend-bytes",
  'disks.etcdSnapshots': "disk B's size on each master",
  'disks.runtime': "the runtime disk's size on every master and worker (containerd's root)",
  'timers.vrrpAdvertInt': "keepalived's advert_int (and VRRP version 2 or 3)",
  'timers.haproxyCheckInterMs': "HAProxy's default-server inter and timeout check",
  'timers.haproxyCheckFall': "HAProxy's default-server fall",
  'timers.haproxyCheckRise': "HAProxy's default-server rise",
  'timers.etcdHeartbeatMs': "etcd's --heartbeat-interval",
  'timers.etcdElectionMs': "etcd's --election-timeout",
  'timers.leaseDurationS': 'ClusterConfiguration controllerManager and scheduler extraArgs leader-elect-lease-duration',
  'timers.renewDeadlineS': 'ClusterConfiguration controllerManager and scheduler extraArgs leader-elect-renew-deadline',
  'timers.retryPeriodS': 'ClusterConfiguration controllerManager and scheduler extraArgs leader-elect-retry-period',
  'timers.nodeStatusUpdateFrequencyS':
    'KubeletConfiguration nodeStatusUpdateFrequency, and nodeLeaseDurationSeconds = 4 × it (the kubelet renews its lease at a quarter)',
  'timers.nodeMonitorGracePeriodS': 'ClusterConfiguration controllerManager extraArgs node-monitor-grace-period',
  'timers.podEvictionTolerationS':
    'ClusterConfiguration apiServer extraArgs default-not-ready-toleration-seconds and default-unreachable-toleration-seconds',
  'snapshots.intervalS': 'the etcd-snapshot service on each master (INTERVAL; 0 removes it)',
  'snapshots.retain': 'the etcd-snapshot service on each master (RETAIN)',
  existing:
    'provider existing only, which runs the fast bootstrap: with kubeadm the spec is refused (the nodes need the runtime disk with its preloaded images)',
};

/** The spec values the kubeadm bootstrap cannot honour (pure). */
export function kubeadmSpecIssues(spec: LabSpec): SpecIssue[] {
  const out: SpecIssue[] = [];
  if (spec.apiserverEtcd !== 'all') {
    out.push({
      severity: 'error',
      path: 'apiserverEtcd',
      message:
        "apiserverEtcd local cannot be done with bootstrap kubeadm: kubeadm's external-etcd endpoints are one cluster-wide setting, read by every joining master",
      fix: 'use apiserverEtcd: all with bootstrap kubeadm, or bootstrap: fast for the stacked (local) topology',
    });
  }
  return out;
}
