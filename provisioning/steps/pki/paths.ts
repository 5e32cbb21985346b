// Where the lab's PKI lives: on the machine (generated) and on the hosts (distributed).
// Host paths follow kubeadm's layout (/etc/kubernetes/pki, /etc/kubernetes/*.conf) so that a
// later `kubeadm init phase control-plane`/`kubeadm join`-style step finds everything where
// kubeadm itself would have put it.

import { join } from 'node:path';

/** kubeadm's certificatesDir on every master (and the CA on workers). */
export const HOST_PKI_DIR = '/etc/kubernetes/pki';
export const HOST_ETCD_PKI_DIR = `${HOST_PKI_DIR}/etcd`;
export const HOST_KUBECONFIG_DIR = '/etc/kubernetes';
/** The cluster CA on the load balancers (HAProxy verifies the apiservers against it). */
export const LB_CA_PATH = '/etc/halab/pki/ca.crt';

/** etcd TLS files on a master (kubeadm names). */
export const ETCD_TLS = {
  ca: `${HOST_ETCD_PKI_DIR}/ca.crt`,
  serverCert: `${HOST_ETCD_PKI_DIR}/server.crt`,
  serverKey: `${HOST_ETCD_PKI_DIR}/server.key`,
  peerCert: `${HOST_ETCD_PKI_DIR}/peer.crt`,
  peerKey: `${HOST_ETCD_PKI_DIR}/peer.key`,
  /** The client cert etcdctl uses on masters (kubeadm's probe identity, CN kube-etcd-healthcheck-client). */
  clientCert: `${HOST_ETCD_PKI_DIR}/healthcheck-client.crt`,
  clientKey: `${HOST_ETCD_PKI_DIR}/healthcheck-client.key`,
} as const;

/** The apiserver's etcd client identity (referenced by ClusterConfiguration.etcd.external). */
export const APISERVER_ETCD_CLIENT = {
  cert: `${HOST_PKI_DIR}/apiserver-etcd-client.crt`,
  key: `${HOST_PKI_DIR}/apiserver-etcd-client.key`,
} as const;

/** The machine-side layout under <labdir>/pki. */
export interface LocalPki {
  root: string;
  /** kubeadm configs used for generation (certificatesDir = a local directory). */
  configDir: string;
  /** certificatesDir of the cluster-wide run: CAs, apiserver, front-proxy, sa, etcd CA + etcd clients. */
  clusterDir: string;
  /** certificatesDir of one master's etcd-server/etcd-peer run (etcd/ca.crt copied in). */
  memberDir(master: string): string;
  /** admin.conf, super-admin.conf, controller-manager.conf, scheduler.conf. */
  kubeconfigDir: string;
  /** kubelet.conf of one node (worker or hollow node). */
  nodeDir(node: string): string;
}

export function localPki(labDir: string): LocalPki {
  const root = join(labDir, 'pki');
  return {
    root,
    configDir: join(root, 'config'),
    clusterDir: join(root, 'cluster'),
    memberDir: (m) => join(root, 'members', m),
    kubeconfigDir: join(root, 'kubeconfig'),
    nodeDir: (n) => join(root, 'nodes', n),
  };
}
