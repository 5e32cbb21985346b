// The pod network of a kubeadm lab: one /24 of the pod range per node, numbered by the last octet
// of the node's address (m1 at 10.213.0.21 -> 10.244.21.0/24), so a node keeps its range when it
// is replaced by a host with the same address, and every lab host can route every range without
// asking the cluster. (The controller-manager does not allocate node ranges: no podSubnet in
// kubeadm's networking; kube-proxy is told the whole range as its clusterCIDR.)
import type { LabSpec } from '../../api/types.ts';
import { HalabError } from '../../errors.ts';
import { parseCidr, parseIPv4, formatIPv4, networkOf } from '../../spec/net.ts';
import { clusterNetworking } from '../../steps/pki/kubeadm-config.ts';

/** The pod range of one node ("10.244.21.0/24"). Errors: NO_HOST; BAD_SPEC when the pod range is not a /16. */
export function podCidr(spec: LabSpec, host: string): string {
  const h = spec.hosts.find((x) => x.name === host);
  if (!h) throw new HalabError('NO_HOST', `lab ${spec.name} has no host ${host}`);
  const pods = parseCidr(clusterNetworking(spec).podSubnet)!;
  if (pods.prefix !== 16)
    throw new HalabError('BAD_SPEC', `the pod range ${clusterNetworking(spec).podSubnet} is not a /16`);
  const last = (parseIPv4(h.address)! & 255) >>> 0;
  return `${formatIPv4(networkOf(pods) + last * 256)}/24`;
}
