// kubeadm's configuration files for a lab (pure): `kubeadm init --config` on the first master
// (InitConfiguration + ClusterConfiguration + KubeletConfiguration + KubeProxyConfiguration),
// `kubeadm join --config` on every other node (JoinConfiguration), one kubelet patch per node,
// and the lab's CoreDNS Corefile.
import { stringify } from 'yaml';
import type { LabSpec } from '../../api/types.ts';
import { HalabError } from '../../errors.ts';
import { masterHosts } from '../../spec/roles.ts';
import { FLAG_DIFFERENCES } from '../../steps/control-plane/flags.ts';
import {
  API_PORT,
  KUBEADM_API,
  apiServerCertSANs,
  clusterNetworking,
  controlPlaneEndpoint,
  etcdClientURL,
} from '../../steps/pki/kubeadm-config.ts';
import { APISERVER_ETCD_CLIENT, ETCD_TLS, HOST_PKI_DIR } from '../../steps/pki/paths.ts';
import { CONTAINERD_SOCKET, cgroupRoot } from './node-files.ts';

export const KUBEADM_DIR = '/etc/halab/kubeadm';
export const INIT_CONFIG = `${KUBEADM_DIR}/init.yaml`;
export const JOIN_CONFIG = `${KUBEADM_DIR}/join.yaml`;
export const PATCHES_DIR = `${KUBEADM_DIR}/patches`;
/** The label kubeadm's workers get (kubelet --node-labels): drills place their pods with it. */
export const WORKER_LABEL = 'halab.dev/worker';
/** How long a bootstrap token made by HA Lab lives (kubeadm's default is 24 h too). */
export const TOKEN_TTL = '24h0m0s';

/**
 * kubeadm's preflight checks a lab host fails on purpose, each with the reason:
 *   ExternalEtcdVersion: the lab's etcd is Debian 12's 3.4.23; kubeadm 1.34 asks for at least
 *   3.5, and kube-apiserver 1.34 works with 3.4 (the etcd v3 API).
 */
export const IGNORED_PREFLIGHT = ['ExternalEtcdVersion'];

/** What a node needs to join: the token, the key of the uploaded certificates, the CA's pin. */
export interface JoinSecrets {
  /** "abcdef.0123456789abcdef" */
  token: string;
  /** 64 hex characters (kubeadm certs certificate-key). */
  certificateKey: string;
  /** "sha256:<hex of the CA's public key>" (kubeadm's --discovery-token-ca-cert-hash). */
  caCertHash: string;
}

const arg = (name: string, value: string | number) => ({ name, value: String(value) });

function docs(...objs: Record<string, unknown>[]): string {
  return objs.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}

/**
 * The ClusterConfiguration (cluster-wide: kubeadm stores it in the kubeadm-config ConfigMap and
 * every join reads it from there). External etcd with TLS (every member), the VIP as the
 * control-plane endpoint, the lab's timers as extra arguments (FLAG_DIFFERENCES says why each).
 */
export function clusterConfig(spec: LabSpec): Record<string, unknown> {
  if (spec.apiserverEtcd !== 'all') {
    throw new HalabError('BAD_SPEC', 'the kubeadm bootstrap supports apiserverEtcd: all only', {
      fix: "kubeadm's external-etcd endpoints are cluster-wide; use apiserverEtcd: all",
    });
  }
  const t = spec.timers;
  const net = clusterNetworking(spec);
  const leader = [
    arg('leader-elect-lease-duration', `${t.leaseDurationS}s`),
    arg('leader-elect-renew-deadline', `${t.renewDeadlineS}s`),
    arg('leader-elect-retry-period', `${t.retryPeriodS}s`),
  ];
  return {
    apiVersion: KUBEADM_API,
    kind: 'ClusterConfiguration',
    clusterName: spec.name,
    kubernetesVersion: spec.kubernetesVersion,
    controlPlaneEndpoint: controlPlaneEndpoint(spec),
    certificatesDir: HOST_PKI_DIR,
    // Every kubelet talks to the VIP (the article's picture). kubeadm 1.33+ points a master's
    // kubelet.conf at its own apiserver instead (feature gate ControlPlaneKubeletLocalMode, beta,
    // on by default); off, kubeadm writes the control-plane endpoint there as it did before 1.31.
    featureGates: { ControlPlaneKubeletLocalMode: false },
    imageRepository: 'registry.k8s.io',
    encryptionAlgorithm: 'RSA-2048',
    // no podSubnet: the controller-manager allocates no node ranges (network.ts gives them)
    networking: { dnsDomain: net.dnsDomain, serviceSubnet: net.serviceSubnet },
    etcd: {
      external: {
        endpoints: masterHosts(spec).map((m) => etcdClientURL(m.address)),
        caFile: ETCD_TLS.ca,
        certFile: APISERVER_ETCD_CLIENT.cert,
        keyFile: APISERVER_ETCD_CLIENT.key,
      },
    },
    apiServer: {
      certSANs: apiServerCertSANs(spec),
      extraArgs: [
        arg('default-not-ready-toleration-seconds', t.podEvictionTolerationS),
        arg('default-unreachable-toleration-seconds', t.podEvictionTolerationS),
      ],
    },
    controllerManager: {
      extraArgs: [
        arg('node-monitor-grace-period', `${t.nodeMonitorGracePeriodS}s`),
        arg('node-monitor-period', '2s'),
        ...leader,
      ],
    },
    scheduler: { extraArgs: leader },
  };
}

/**
 * The kubelets' configuration (cluster-wide, in the kubelet-config ConfigMap; each node's cgroup
 * root comes from its patch). Several kubelets share this machine's kernel: cgroupfs with a
 * cgroup root per host; the global kernel settings are only checked (protectKernelDefaults);
 * this machine's disk usage and swap are not theirs to act on; pods get no resolver of this
 * machine (resolvConf ""), so no DNS query leaves the lab. The node lease is renewed every
 * nodeStatusUpdateFrequencyS (a lease lasts 4 × that: the kubelet renews at a quarter).
 */
export function kubeletConfig(spec: LabSpec): Record<string, unknown> {
  const f = spec.timers.nodeStatusUpdateFrequencyS;
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    cgroupDriver: 'cgroupfs',
    // every node's patch sets its own; a node without one fails loudly instead of sharing
    cgroupRoot: `/halab/${spec.name}/unpatched`,
    protectKernelDefaults: true,
    // a negative score needs CAP_SYS_RESOURCE, which the machine's root may lack (see containerdConfig)
    oomScoreAdj: 0,
    failSwapOn: false,
    resolvConf: '',
    imageGCHighThresholdPercent: 100,
    evictionHard: { 'nodefs.available': '0%', 'nodefs.inodesFree': '0%', 'imagefs.available': '0%' },
    nodeStatusUpdateFrequency: `${f}s`,
    nodeLeaseDurationSeconds: 4 * f,
  };
}

/**
 * kube-proxy in iptables mode (iptables works inside a lab host's network namespace). It leaves
 * the global conntrack table size alone (maxPerCore 0: a network namespace cannot set it).
 */
export function kubeProxyConfig(spec: LabSpec): Record<string, unknown> {
  return {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode: 'iptables',
    clusterCIDR: clusterNetworking(spec).podSubnet,
    conntrack: { maxPerCore: 0, min: 0 },
    iptables: { minSyncPeriod: '1s' },
  };
}

function nodeRegistration(spec: LabSpec, host: string): Record<string, unknown> {
  const h = spec.hosts.find((x) => x.name === host);
  if (!h || h.role === 'lb') throw new HalabError('NO_HOST', `${host} is not a node of lab ${spec.name}`);
  const extra = [arg('node-ip', h.address)];
  if (h.role === 'worker') extra.push(arg('node-labels', `${WORKER_LABEL}=true`));
  return {
    name: host,
    criSocket: CONTAINERD_SOCKET,
    imagePullPolicy: 'IfNotPresent',
    kubeletExtraArgs: extra,
    ignorePreflightErrors: IGNORED_PREFLIGHT,
  };
}

/** `kubeadm init --config` on the first master: its registration, the token and certificate key, and the cluster. */
export function renderInit(spec: LabSpec, s: JoinSecrets): string {
  const first = masterHosts(spec)[0]!;
  return docs(
    {
      apiVersion: KUBEADM_API,
      kind: 'InitConfiguration',
      bootstrapTokens: [
        {
          token: s.token,
          ttl: TOKEN_TTL,
          usages: ['signing', 'authentication'],
          groups: ['system:bootstrappers:kubeadm:default-node-token'],
        },
      ],
      certificateKey: s.certificateKey,
      localAPIEndpoint: { advertiseAddress: first.address, bindPort: API_PORT },
      nodeRegistration: nodeRegistration(spec, first.name),
      // CoreDNS comes once its Corefile is the lab's and kube-proxy runs (steps.ts)
      skipPhases: ['addon/coredns'],
      patches: { directory: PATCHES_DIR },
    },
    clusterConfig(spec),
    kubeletConfig(spec),
    kubeProxyConfig(spec),
  );
}

/** `kubeadm join --config` on `host`: through the VIP, a control-plane join for a master. */
export function renderJoin(spec: LabSpec, host: string, s: JoinSecrets): string {
  const h = spec.hosts.find((x) => x.name === host)!;
  return docs({
    apiVersion: KUBEADM_API,
    kind: 'JoinConfiguration',
    discovery: {
      bootstrapToken: { apiServerEndpoint: controlPlaneEndpoint(spec), token: s.token, caCertHashes: [s.caCertHash] },
    },
    ...(h?.role === 'master'
      ? {
          controlPlane: {
            localAPIEndpoint: { advertiseAddress: h.address, bindPort: API_PORT },
            certificateKey: s.certificateKey,
          },
        }
      : {}),
    nodeRegistration: nodeRegistration(spec, host),
    patches: { directory: PATCHES_DIR },
  });
}

/** kubeadm's patch for one node's kubelet: its own cgroup root. */
export function kubeletPatch(spec: LabSpec, host: string): { path: string; content: string } {
  return {
    path: `${PATCHES_DIR}/kubeletconfiguration+merge.yaml`,
    content: stringify({ cgroupRoot: cgroupRoot(spec.name, host) }),
  };
}

/**
 * kubeadm's CoreDNS ConfigMap with one change: no `forward . /etc/resolv.conf` (and so no `loop`
 * check): names outside the cluster get NXDOMAIN from CoreDNS itself, so no query leaves the lab.
 * Created before `kubeadm init phase addon coredns`, which keeps a Corefile that is not its own.
 */
export function corednsConfigMap(spec: LabSpec): string {
  const d = clusterNetworking(spec).dnsDomain;
  const corefile = [
    `${d}:53 in-addr.arpa:53 ip6.arpa:53 {`,
    '    errors',
    '    health {',
    '       lameduck 5s',
    '    }',
    '    ready',
    `    kubernetes ${d} in-addr.arpa ip6.arpa {`,
    '       pods insecure',
    '       fallthrough in-addr.arpa ip6.arpa',
    '       ttl 30',
    '    }',
    '    prometheus :9153',
    '    cache 30 {',
    `       disable success ${d}`,
    `       disable denial ${d}`,
    '    }',
    '    reload',
    '    loadbalance',
    '}',
    '.:53 {',
    '    errors',
    '    template ANY ANY {',
    '       rcode NXDOMAIN',
    '    }',
    '}',
    '',
  ].join('\n');
  return stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'coredns', namespace: 'kube-system' },
    data: { Corefile: corefile },
  });
}

/** Where HA Lab's flags differ from kubeadm's defaults on this bootstrap (documented once). */
export const KUBEADM_FLAG_DIFFERENCES = FLAG_DIFFERENCES.filter((d) => !/argv\[0\]|--kubeconfig/.test(d.flag));
