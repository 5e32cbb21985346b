// The role selectors: the one place that says which hosts of a spec are load balancers,
// masters and workers (in the spec's order, which is also the order of their numbers).
import type { HostRole, HostSpec, LabSpec } from '../api/types.ts';

type Hosts = Pick<LabSpec, 'hosts'>;

export const hostsOf = (spec: Hosts, role: HostRole): HostSpec[] => spec.hosts.filter((h) => h.role === role);
/** The load balancers (HAProxy + keepalived); the first is the VRRP MASTER. */
export const lbHosts = (spec: Hosts): HostSpec[] => hostsOf(spec, 'lb');
/** The masters: one etcd member and one control plane each. */
export const masterHosts = (spec: Hosts): HostSpec[] => hostsOf(spec, 'master');
/** The workers. */
export const workerHosts = (spec: Hosts): HostSpec[] => hostsOf(spec, 'worker');
/** The hosts that run Kubernetes (masters and workers): every host but the load balancers. */
export const clusterHosts = (spec: Hosts): HostSpec[] => spec.hosts.filter((h) => h.role !== 'lb');
