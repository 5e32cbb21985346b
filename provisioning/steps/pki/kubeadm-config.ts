// kubeadm configuration rendered from the lab spec (pure: no I/O).
//
// Three shapes, all kubeadm.k8s.io/v1beta4 (the current API since kubeadm 1.31; 1.34 still reads it):
//   - the cluster config: ClusterConfiguration with EXTERNAL etcd (etcd runs as its own s6 service
//     on each master, not as a kubeadm static pod) + the InitConfiguration of one master. Used for
//     the cluster CA, apiserver, front-proxy, sa and the kubeconfigs, and by later control-plane steps.
//   - one etcd-cert config per master: the same cluster with LOCAL etcd. kubeadm skips every etcd
//     certificate phase when etcd is external ("External etcd mode: Skipping ..."), so the etcd
//     PKI is made the way kubeadm's own "HA etcd cluster with kubeadm" guide does it: a config per
//     etcd host whose InitConfiguration carries that host's name and address, which kubeadm
//     writes into the etcd server/peer certificate (CN, SANs).
//   - one node config per kubelet identity (worker or hollow node): `kubeconfig kubelet` takes
//     the node name from nodeRegistration.name.

import { stringify } from 'yaml';
import type { HostSpec, LabSpec } from '../../api/types.ts';
import { HalabError } from '../../errors.ts';
import { cidrsOverlap, formatIPv4, networkOf, parseCidr, type Cidr } from '../../spec/net.ts';
import { APISERVER_ETCD_CLIENT, ETCD_TLS, HOST_PKI_DIR } from './paths.ts';
import { masterHosts } from '../../spec/roles.ts';

export const KUBEADM_API = 'kubeadm.k8s.io/v1beta4';
export const API_PORT = 6443;
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
/** etcd data dir on disk A (a subdirectory: the mount root has lost+found, and etcd wants an empty dir of mode 0700). */
export const ETCD_DATA_DIR = '/var/lib/etcd/data';
/** Not used by anything (no CRI is running when certs are made), but set so kubeadm does not probe for one. */
export const CRI_SOCKET = 'unix:///run/containerd/containerd.sock';
export const DNS_DOMAIN = 'cluster.local';

/**
 * Candidates, first free one wins. 10.96.0.0/16 sits inside kubeadm's default 10.96.0.0/12 (same
 * `kubernetes` Service address 10.96.0.1), 10.244.0.0/16 is the usual pod range; the others only
 * when the lab subnet overlaps those.
 */
export const SERVICE_SUBNET_CANDIDATES = ['10.96.0.0/16', '172.30.0.0/16', '192.168.240.0/20'] as const;
/** Always a /16: the kubeadm bootstrap gives each node the /24 numbered by its address's last octet. */
export const POD_SUBNET_CANDIDATES = ['10.244.0.0/16', '172.20.0.0/16', '192.168.0.0/16'] as const;

export interface ClusterNetworking {
  serviceSubnet: string;
  podSubnet: string;
  dnsDomain: string;
  /** The `kubernetes` Service's address (first of serviceSubnet): in the apiserver cert. */
  apiServiceIP: string;
}

function mustCidr(text: string, what: string): Cidr {
  const c = parseCidr(text);
  if (!c) throw new HalabError('BAD_SPEC', `${what} ${text} is not an IPv4 CIDR`);
  return c;
}

/** Service and pod ranges that overlap neither the lab subnet nor each other. */
export function clusterNetworking(spec: Pick<LabSpec, 'subnet'>): ClusterNetworking {
  const lab = mustCidr(spec.subnet, 'lab subnet');
  const pick = (cands: readonly string[], taken: Cidr[], what: string): Cidr => {
    for (const c of cands) {
      const cidr = mustCidr(c, what);
      if (!taken.some((t) => cidrsOverlap(cidr, t))) return cidr;
    }
    throw new HalabError('BAD_SPEC', `no ${what} candidate is free next to the lab subnet ${spec.subnet}`, {
      fix: `use a lab subnet outside ${cands.join(', ')}`,
    });
  };
  const svc = pick(SERVICE_SUBNET_CANDIDATES, [lab], 'service subnet');
  const pod = pick(POD_SUBNET_CANDIDATES, [lab, svc], 'pod subnet');
  const fmt = (c: Cidr) => `${formatIPv4(networkOf(c))}/${c.prefix}`;
  return {
    serviceSubnet: fmt(svc),
    podSubnet: fmt(pod),
    dnsDomain: DNS_DOMAIN,
    apiServiceIP: formatIPv4(networkOf(svc) + 1),
  };
}

function master(spec: LabSpec, name: string): HostSpec {
  const m = masterHosts(spec).find((h) => h.name === name);
  if (!m) throw new HalabError('NO_HOST', `${name} is not a master of lab ${spec.name}`);
  return m;
}

/** The address every client uses for the API: the VIP through the load balancers. */
export function controlPlaneEndpoint(spec: Pick<LabSpec, 'vip'>): string {
  return `${spec.vip}:${API_PORT}`;
}

export function etcdClientURL(address: string): string {
  return `https://${address}:${ETCD_CLIENT_PORT}`;
}

export function etcdPeerURL(address: string): string {
  return `https://${address}:${ETCD_PEER_PORT}`;
}

/**
 * Extra names on the apiserver certificate. kubeadm adds kubernetes, kubernetes.default[.svc[.
 * cluster.local]], the node name, the first service IP, the advertise address and the
 * controlPlaneEndpoint host by itself; these make ONE certificate valid on every master (and for
 * local checks against 127.0.0.1).
 */
export function apiServerCertSANs(spec: LabSpec): string[] {
  const ms = masterHosts(spec);
  return [spec.vip, ...ms.map((m) => m.address), ...ms.map((m) => m.name), '127.0.0.1', 'localhost'];
}

export interface RenderOptions {
  /**
   * kubeadm's certificatesDir: a local directory when generating on the machine, HOST_PKI_DIR in
   * a config meant for a host.
   */
  certificatesDir: string;
}

/**
 * The etcd client URLs the kube-apiserver on `masterName` uses: every member (apiserverEtcd all,
 * the default) or only its own (local, as kubeadm's stacked etcd). A kube-apiserver that knows
 * every member spreads its requests over all of them (gRPC round robin), so when a master loses
 * power the others' requests that were sent to its member stall until the connection times out
 * (10 s); one that knows only its own member dies with it and nothing else notices.
 */
export function apiserverEtcdEndpoints(spec: LabSpec, masterName?: string): string[] {
  const masters = masterHosts(spec);
  const own = masters.find((m) => m.name === masterName);
  if (spec.apiserverEtcd === 'local' && own) return [etcdClientURL(own.address)];
  return masters.map((m) => etcdClientURL(m.address));
}

/**
 * The ClusterConfiguration the control plane runs with: external etcd, everything through the VIP.
 * `masterName`: the master whose kube-apiserver it configures (its etcd endpoints may differ).
 */
export function clusterConfiguration(spec: LabSpec, o: RenderOptions, masterName?: string): Record<string, unknown> {
  const net = clusterNetworking(spec);
  return {
    apiVersion: KUBEADM_API,
    kind: 'ClusterConfiguration',
    clusterName: spec.name,
    kubernetesVersion: spec.kubernetesVersion,
    controlPlaneEndpoint: controlPlaneEndpoint(spec),
    certificatesDir: o.certificatesDir,
    encryptionAlgorithm: 'RSA-2048',
    networking: { dnsDomain: net.dnsDomain, serviceSubnet: net.serviceSubnet, podSubnet: net.podSubnet },
    etcd: {
      external: {
        endpoints: apiserverEtcdEndpoints(spec, masterName),
        // paths on the masters (where the apiserver runs), whatever certificatesDir is
        caFile: ETCD_TLS.ca,
        certFile: APISERVER_ETCD_CLIENT.cert,
        keyFile: APISERVER_ETCD_CLIENT.key,
      },
    },
    apiServer: { certSANs: apiServerCertSANs(spec) },
  };
}

/** The etcd-cert variant: local etcd, so that kubeadm's etcd certificate phases run. */
export function etcdCertClusterConfiguration(spec: LabSpec, o: RenderOptions): Record<string, unknown> {
  const base = clusterConfiguration(spec, o);
  return {
    ...base,
    etcd: {
      local: {
        dataDir: ETCD_DATA_DIR,
        // kubeadm adds the node name, its advertise address, localhost, 127.0.0.1 and ::1 itself
        serverCertSANs: [],
        peerCertSANs: [],
      },
    },
  };
}

/** One node's InitConfiguration: its name (cert CN / SANs) and the address it advertises. */
export function initConfiguration(node: { name: string; address: string }): Record<string, unknown> {
  return {
    apiVersion: KUBEADM_API,
    kind: 'InitConfiguration',
    localAPIEndpoint: { advertiseAddress: node.address, bindPort: API_PORT },
    nodeRegistration: { name: node.name, criSocket: CRI_SOCKET, imagePullPolicy: 'IfNotPresent', taints: [] },
  };
}

function docs(...objs: Record<string, unknown>[]): string {
  return objs.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}

/**
 * The kubeadm config of one master: its InitConfiguration (advertise address = its own address)
 * and the cluster's ClusterConfiguration. With `certificatesDir: HOST_PKI_DIR` this is the file a
 * control-plane step runs `kubeadm init phase control-plane ... --config` with on that master.
 */
export function renderClusterConfig(
  spec: LabSpec,
  masterName: string,
  o: RenderOptions = { certificatesDir: HOST_PKI_DIR },
): string {
  return docs(initConfiguration(master(spec, masterName)), clusterConfiguration(spec, o, masterName));
}

/** The config for `kubeadm init phase certs etcd-*` on behalf of one etcd member. */
export function renderEtcdCertConfig(spec: LabSpec, masterName: string, o: RenderOptions): string {
  return docs(initConfiguration(master(spec, masterName)), etcdCertClusterConfiguration(spec, o));
}

/**
 * The config for `kubeadm init phase kubeconfig kubelet` of one node name (a worker or a hollow
 * node). The advertise address only has to be valid: kubelet.conf points at controlPlaneEndpoint.
 */
export function renderNodeConfig(spec: LabSpec, nodeName: string, o: RenderOptions): string {
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(nodeName) || nodeName.length > 253) {
    throw new HalabError('BAD_NODE_NAME', `"${nodeName}" is not a valid node name`, {
      fix: 'use a DNS subdomain: lowercase letters, digits, "-" and "."',
    });
  }
  const host = spec.hosts.find((h) => h.name === nodeName);
  const address = host?.address ?? masterHosts(spec)[0]?.address ?? spec.vip;
  return docs(initConfiguration({ name: nodeName, address }), clusterConfiguration(spec, o));
}
