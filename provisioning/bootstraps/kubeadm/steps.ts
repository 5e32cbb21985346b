// The kubeadm procedure on the lab's hosts, as idempotent steps (each `done` looks at the hosts):
//   kubeadm:artifacts   containerd, the CNI plugins, crictl and the images on this machine (cached)
//   kubeadm:share       those binaries and images shown to every master and worker
//   kubeadm:node-hosts  every master and worker made a node host: boot task, containerd on its
//                       own disk, the images imported, the CNI config, the kubelet service
//   kubeadm:routes      every lab host routes every node's pod range
//   kubeadm:init        `kubeadm init --upload-certs` on the first master, through the VIP
//   kubeadm:coredns     the lab's Corefile, then kubeadm's CoreDNS addon
//   kubeadm:join        `kubeadm join --control-plane` on the other masters, `kubeadm join` on the workers
//   kubeadm:nodes-ready every node Ready, kube-proxy everywhere, CoreDNS answering
import { readFileSync } from 'node:fs';
import pRetry, { AbortError } from 'p-retry';
import { join } from 'node:path';
import { imagesDir, checkImages, ensureImages, IMAGE_INDEX, type ImageRef } from '../../artifacts/images.ts';
import { KUBERNETES_VERSION } from '../../artifacts/version.ts';
import { checkRuntimeArtifacts, ensureRuntimeArtifacts, runtimeBinDir } from '../../artifacts/runtime.ts';
import { checkRuntimeSeed, ensureRuntimeSeed } from '../../artifacts/runtime-disk.ts';
import { artifactDir } from '../../artifacts/kubernetes.ts';
import type { LabContext } from '../../engine/context.ts';
import { forEachLimit, type Step, type StepTools } from '../../engine/runner.ts';
import { HalabError } from '../../errors.ts';
import { shq } from '../../exec/types.ts';
import { run } from '../../exec/local.ts';
import { staleOnHost, syncFiles } from '../../hosts/files.ts';
import type { FileSpec } from '../../hosts/services.ts';
import { kubectl, kubectlJson, nodes, objectExists } from '../../k8s/kubectl.ts';
import { clusterHosts, masterHosts } from '../../spec/roles.ts';
import { poll } from '../../util/poll.ts';
import { INIT_CONFIG, JOIN_CONFIG, corednsConfigMap, kubeletPatch, renderInit, renderJoin } from './config.ts';
import {
  CNI_CONFLIST,
  CONTAINERD_CONFIG,
  CRICTL,
  CRICTL_CONFIG,
  CTR,
  HOST_BINS,
  NODE_PATH,
  REGISTRY_HOSTS,
  cgroupMounts,
  cniConflist,
  containerdConfig,
  containerdService,
  crictlConfig,
  kubeletService,
  nodeBootTask,
  registryHosts,
  routesBootTask,
} from './node-files.ts';
import { podCidr } from './network.ts';
import { ensureSecrets, refreshJoinSecrets } from './secrets.ts';

const NODE_TASK = '50-kube-node';
const ROUTES_TASK = '60-pod-routes';
/** Written by the node boot task's run at preparation (in /run: gone at the next boot, when the boot runs it). */
const PREPARED = '/run/halab/kube-node-prepared';

const version = (lab: LabContext) => lab.state.spec.kubernetesVersion ?? KUBERNETES_VERSION;
const first = (lab: LabContext) => masterHosts(lab.state.spec)[0]!.name;
// env -i: kubeadm copies *_PROXY variables of its environment into the static pods and kube-proxy
const onNode = (cmd: string) => `env -i HOME=/root PATH=${shq(NODE_PATH)} ${cmd}`;

/** The images' references, from the cache's index. */
export function imageRefs(lab: LabContext): ImageRef[] {
  return JSON.parse(readFileSync(join(imagesDir(version(lab)), IMAGE_INDEX), 'utf8')) as ImageRef[];
}

const shares = (lab: LabContext): [string, string][] => [
  [`${artifactDir(version(lab))}/bin`, HOST_BINS.kubernetes],
  [runtimeBinDir('containerd', version(lab)), HOST_BINS.containerd],
  [runtimeBinDir('cni', version(lab)), HOST_BINS.cni],
  [runtimeBinDir('crictl', version(lab)), HOST_BINS.crictl],
  [imagesDir(version(lab)), HOST_BINS.images],
];

export const runtimeArtifacts: Step<LabContext> = {
  id: 'kubeadm:artifacts',
  title: "containerd, the CNI plugins, crictl and the cluster's images on this machine (built once, then cached)",
  done: async (lab) =>
    [...checkRuntimeArtifacts(version(lab)), ...checkImages(version(lab)), ...checkRuntimeSeed(version(lab))].every(
      (c) => c.ok,
    ),
  run: async (lab, t) => {
    t.log('building what is not cached yet (from the Go module proxy; the first time takes minutes)', {
      level: 'warn',
    });
    const onLog = (l: string) => t.log(l, { level: 'debug' });
    await ensureRuntimeArtifacts({ onLog, signal: t.signal, k8sVersion: version(lab) });
    await ensureImages({ onLog, signal: t.signal, version: version(lab) });
    await ensureRuntimeSeed({ onLog, signal: t.signal, version: version(lab) });
  },
};

/**
 * inotify limits of this machine, which every kubelet, containerd and kube-proxy of every lab
 * share (they all run as root in the same user namespace): Debian's 128 instances run out with
 * one lab, and kube-proxy then fails with "too many open files" (kind documents the same).
 * Only raised, never lowered; the set-up also persists them (/etc/sysctl.d).
 */
export const INOTIFY_LIMITS = { 'fs.inotify.max_user_instances': 8192, 'fs.inotify.max_user_watches': 524288 };

async function inotifyLow(): Promise<[string, number, number][]> {
  const low: [string, number, number][] = [];
  for (const [k, want] of Object.entries(INOTIFY_LIMITS)) {
    const have = Number(readFileSync(`/proc/sys/${k.replace(/\./g, '/')}`, 'utf8').trim());
    if (have < want) low.push([k, have, want]);
  }
  return low;
}

export const machineLimits: Step<LabContext> = {
  id: 'kubeadm:inotify',
  title: "This machine's inotify limits, shared by every kubelet, containerd and kube-proxy (raised if too low)",
  done: async () => (await inotifyLow()).length === 0,
  run: async (_lab, t) => {
    for (const [k, have, want] of await inotifyLow()) {
      t.log(`${k} ${have} -> ${want} on this machine (only raised; the set-up keeps it in /etc/sysctl.d)`, {
        level: 'warn',
      });
      await run('sysctl', ['-qw', `${k}=${want}`]);
    }
  },
};

export const shareRuntime: Step<LabContext> = {
  id: 'kubeadm:share',
  title: 'Show the Kubernetes binaries, containerd, the CNI plugins, crictl and the images to every master and worker',
  done: async (lab) => {
    const test = shares(lab)
      .map(([, p]) => `mountpoint -q ${p}`)
      .join(' && ');
    for (const h of clusterHosts(lab.state.spec)) {
      if ((await lab.remote(h.name).exec(test, { allowFail: true })).exitCode !== 0) return false;
    }
    return true;
  },
  run: async (lab) => {
    for (const h of clusterHosts(lab.state.spec)) {
      for (const [local, onHost] of shares(lab)) await lab.provider.shareDirectory(lab, h.name, local, onHost);
    }
  },
};

/** The files of one node host before kubeadm: containerd's config and registry rule, crictl's, the CNI config, the kubelet patch. */
function nodeFiles(lab: LabContext, host: string): { containerd: FileSpec[]; other: FileSpec[] } {
  const spec = lab.state.spec;
  const pause = imageRefs(lab).find((i) => i.kind === 'pause')!.ref;
  const patch = kubeletPatch(spec, host);
  return {
    containerd: [
      { path: CONTAINERD_CONFIG, content: containerdConfig({ lab: spec.name, host, pauseImage: pause }), mode: 0o644 },
      { path: REGISTRY_HOSTS, content: registryHosts(), mode: 0o644 },
    ],
    other: [
      { path: CRICTL_CONFIG, content: crictlConfig(), mode: 0o644 },
      { path: CNI_CONFLIST, content: cniConflist(spec, host), mode: 0o644 },
      { path: patch.path, content: patch.content, mode: 0o644 },
    ],
  };
}

function bootTask(lab: LabContext, host: string): string {
  return nodeBootTask({
    lab: lab.state.name,
    host,
    cgroupMounts: cgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8')),
  });
}

async function missingImages(lab: LabContext, host: string): Promise<ImageRef[]> {
  const r = await lab.remote(host).exec(`${CTR} -n k8s.io images ls -q`, { allowFail: true, timeoutMs: 30_000 });
  if (r.exitCode !== 0) return imageRefs(lab);
  const have = new Set(r.stdout.split('\n').map((l) => l.trim()));
  return imageRefs(lab).filter((i) => !have.has(i.ref));
}

async function nodeHostReady(lab: LabContext, host: string): Promise<boolean> {
  const services = lab.services(host);
  const f = nodeFiles(lab, host);
  const r = await lab.remote(host).exec(`test -f ${PREPARED}`, { allowFail: true });
  if (r.exitCode !== 0) return false;
  if ((await staleOnHost(lab.remote(host), [...f.containerd, ...f.other])).length) return false;
  for (const [def, inputs] of [
    [containerdService(), f.containerd],
    [kubeletService(), []],
  ] as const) {
    const c = await services.check(def, [...inputs]);
    if (c.state !== 'current' || !c.up) return false;
  }
  return (await missingImages(lab, host)).length === 0;
}

async function prepareNodeHost(lab: LabContext, host: string, t: StepTools): Promise<void> {
  const remote = lab.remote(host);
  const services = lab.services(host);
  const log = (m: string) => t.log(m, { host });
  const changed = await services.ensureBootTask(NODE_TASK, bootTask(lab, host));
  if (changed || (await remote.exec(`test -f ${PREPARED}`, { allowFail: true })).exitCode !== 0) {
    log('cgroups, kernel settings and mounts for containers (the boot task, run now)');
    await remote.exec(`BOOT=0 /etc/halab/boot.d/${NODE_TASK} && touch ${PREPARED}`, { timeoutMs: 60_000 });
  }
  const f = nodeFiles(lab, host);
  await syncFiles(remote, f.other);
  const what = await services.ensure(containerdService(), f.containerd);
  if (what !== 'unchanged') log(`containerd ${what}`);
  // its CRI service, not just its API: a CRI plugin that failed to load (e.g. out of inotify
  // instances) leaves `ctr version` answering and kubeadm finding no runtime
  await poll({
    what: `containerd's CRI service on ${host} answering`,
    check: async () =>
      (await remote.exec(`${CRICTL} info >/dev/null`, { allowFail: true, timeoutMs: 10_000 })).exitCode === 0,
    timeoutMs: 30_000,
    intervalMs: 100,
    signal: t.signal,
    fix: `see containerd's log: halab ssh ${host} -- tail -30 ${services.logPath('containerd')}`,
  });
  const missing = await missingImages(lab, host);
  if (missing.length) {
    const cmd = missing
      .map((i) => `${CTR} -n k8s.io images import --platform linux/amd64 ${HOST_BINS.images}/${i.file} >/dev/null`)
      .join(' && ');
    t.log(`importing ${missing.length} images into containerd (${missing.map((i) => i.kind).join(', ')})`, { host });
    await remote.exec(cmd, { timeoutMs: 300_000 });
  }
  const k = await services.ensure(kubeletService());
  if (k !== 'unchanged') log(`kubelet ${k} (it starts once kubeadm has written its configuration)`);
}

export const nodeHosts: Step<LabContext> = {
  id: 'kubeadm:node-hosts',
  title:
    'Make every master and worker a node: cgroups and kernel settings, containerd on its own disk with the images, the kubelet',
  done: async (lab) => {
    for (const h of clusterHosts(lab.state.spec)) if (!(await nodeHostReady(lab, h.name))) return false;
    return true;
  },
  run: async (lab, t) => {
    const hosts = clusterHosts(lab.state.spec);
    let n = 0;
    await forEachLimit(hosts, 3, async (h) => {
      await prepareNodeHost(lab, h.name, t);
      t.progress(++n, hosts.length, h.name);
    });
  },
};

export const podRoutes: Step<LabContext> = {
  id: 'kubeadm:routes',
  title: "Route every node's pod range on every lab host (no NAT: pods, nodes and the VIP reach each other directly)",
  done: async (lab) => {
    const spec = lab.state.spec;
    for (const h of spec.hosts) {
      const want = clusterHosts(spec).filter((x) => x.name !== h.name);
      const r = await lab.remote(h.name).exec('ip -4 route show', { allowFail: true });
      if (!want.every((x) => r.stdout.includes(`${podCidr(spec, x.name)} via ${x.address} `))) return false;
    }
    return true;
  },
  run: async (lab, t) => {
    await forEachLimit(lab.state.spec.hosts, 4, async (h) => {
      await lab.services(h.name).ensureBootTask(ROUTES_TASK, routesBootTask(lab.state.spec, h.name));
      await lab.remote(h.name).exec(`/etc/halab/boot.d/${ROUTES_TASK}`);
      t.log('pod ranges of the other nodes routed', { host: h.name });
    });
  },
};

/** Has kubeadm set this node up (its kubelet has a kubeconfig of its own)? */
async function joined(lab: LabContext, host: string): Promise<boolean> {
  return (await lab.remote(host).exec('test -f /etc/kubernetes/kubelet.conf', { allowFail: true })).exitCode === 0;
}

async function kubeadm(lab: LabContext, host: string, args: string, t: StepTools, timeoutMs = 600_000) {
  t.log(`kubeadm ${args}`, { host });
  return lab.remote(host).exec(onNode(`kubeadm ${args}`), {
    timeoutMs,
    signal: t.signal,
    allowFail: true,
    onLine: (l) => t.log(l, { host, level: 'debug' }),
  });
}

/** kubeadm's error when a phase fails before any file is written on the node. */
const PREFLIGHT_FAILED = /error execution phase preflight/;

function kubeadmFailed(
  host: string,
  what: string,
  r: { exitCode: number; stdout: string; stderr: string },
  lab: LabContext,
) {
  return new HalabError('KUBEADM_FAILED', `kubeadm ${what} on ${host} failed (exit ${r.exitCode})`, {
    details: `${r.stderr}\n${r.stdout}`.trim().split('\n').slice(-25).join('\n'),
    fix: `see the kubelet's log: halab ssh ${host} -- tail -50 ${lab.services(host).logPath('kubelet')}`,
  });
}

/**
 * `kubeadm join --config JOIN_CONFIG` on host `h` (the config already uploaded). A join that fails
 * in its preflight phase (the API slow to answer through the VIP on a loaded machine) has written
 * nothing on the node, so it is tried again: 3 calls at most, `retryDelayMs` apart (p-retry). Any
 * other failure, or the third, rejects with KUBEADM_FAILED (kubeadm's last lines, the kubelet log).
 */
export async function joinNode(lab: LabContext, h: string, t: StepTools, retryDelayMs = 5000): Promise<void> {
  await pRetry(
    async () => {
      const r = await kubeadm(lab, h, `join --config ${JOIN_CONFIG}`, t);
      if (r.exitCode === 0) return;
      const err = kubeadmFailed(h, 'join', r, lab);
      throw PREFLIGHT_FAILED.test(r.stderr) ? err : new AbortError(err); // AbortError: no retry
    },
    {
      retries: 2,
      minTimeout: retryDelayMs,
      factor: 1,
      signal: t.signal,
      onFailedAttempt: (err) => {
        if (err.retriesLeft > 0)
          t.log(`kubeadm join failed in its preflight phase: trying again (${err.attemptNumber + 1}/3)`, {
            host: h,
            level: 'warn',
          });
      },
    },
  );
}

export const kubeadmInit: Step<LabContext> = {
  id: 'kubeadm:init',
  title:
    'kubeadm init on the first master: control plane through the VIP, external etcd, certificates uploaded for the other masters',
  done: async (lab) => joined(lab, first(lab)),
  run: async (lab, t) => {
    const m = first(lab);
    const secrets = await ensureSecrets(lab);
    await lab.remote(m).exec(`mkdir -p ${INIT_CONFIG.replace(/\/[^/]+$/, '')}`);
    await lab.remote(m).upload(INIT_CONFIG, renderInit(lab.state.spec, secrets), 0o600);
    const r = await kubeadm(lab, m, `init --config ${INIT_CONFIG} --upload-certs`, t);
    if (r.exitCode !== 0) throw kubeadmFailed(m, 'init', r, lab);
  },
};

async function kubeProxyRulesOn(lab: LabContext, host: string): Promise<boolean> {
  const r = await lab
    .remote(host)
    .exec(`iptables -t nat -S KUBE-SERVICES 2>/dev/null | grep -q 'default/kubernetes:https'`, { allowFail: true });
  return r.exitCode === 0;
}

export const corednsAddon: Step<LabContext> = {
  id: 'kubeadm:coredns',
  title: "CoreDNS: the lab's Corefile (cluster names only: no query leaves the lab), then kubeadm's addon",
  done: async (lab, t) => objectExists(lab, ['-n', 'kube-system', 'get', 'deployment', 'coredns'], 60_000, t.signal),
  run: async (lab, t) => {
    const m = first(lab);
    await poll({
      what: "the lab's CoreDNS ConfigMap applied",
      check: async () =>
        (
          await kubectl(lab, ['apply', '-f', '-'], {
            input: corednsConfigMap(lab.state.spec),
            requestTimeoutS: 20,
            allowFail: true,
          })
        ).exitCode === 0,
      timeoutMs: 120_000,
      intervalMs: 2000,
      signal: t.signal,
    });
    // a CoreDNS that starts before kube-proxy's rules exist on its node sends its first SYN to the
    // kubernetes Service address un-NATed; that conntrack entry sticks and its API watch times out
    await poll({
      what: `kube-proxy's rules for the kubernetes Service on ${m}`,
      check: () => kubeProxyRulesOn(lab, m),
      timeoutMs: 120_000,
      intervalMs: 250,
      signal: t.signal,
    });
    const r = await kubeadm(lab, m, `init phase addon coredns --config ${INIT_CONFIG}`, t, 120_000);
    if (r.exitCode !== 0) throw kubeadmFailed(m, 'init phase addon coredns', r, lab);
  },
};

export const kubeadmJoin: Step<LabContext> = {
  id: 'kubeadm:join',
  title:
    'kubeadm join through the VIP: --control-plane (with the uploaded certificates) on the other masters, the workers as nodes',
  done: async (lab) => {
    for (const h of clusterHosts(lab.state.spec)) if (!(await joined(lab, h.name))) return false;
    return true;
  },
  run: async (lab, t) => {
    const spec = lab.state.spec;
    const todo: string[] = [];
    for (const h of clusterHosts(spec)) if (!(await joined(lab, h.name))) todo.push(h.name);
    if (!todo.length) return;
    const secrets = await refreshJoinSecrets(lab, {
      controlPlane: todo.some((h) => spec.hosts.find((x) => x.name === h)?.role === 'master'),
      log: (m) => t.log(m),
    });
    let n = 0;
    // in parallel: with external etcd a control-plane join adds no etcd member, so joins do not race
    await forEachLimit(todo, todo.length, async (h) => {
      await lab.remote(h).exec(`mkdir -p ${JOIN_CONFIG.replace(/\/[^/]+$/, '')}`);
      await lab.remote(h).upload(JOIN_CONFIG, renderJoin(spec, h, secrets), 0o600);
      await joinNode(lab, h, t);
      t.progress(++n, todo.length, `${h} joined`);
    });
  },
};

interface DaemonSetStatus {
  status: { desiredNumberScheduled?: number; numberReady?: number };
}
interface DeploymentStatus {
  status: { replicas?: number; readyReplicas?: number };
}

async function clusterReady(lab: LabContext): Promise<string> {
  const want = clusterHosts(lab.state.spec).map((h) => h.name);
  const ns = await nodes(lab);
  const notReady = want.filter((w) => !ns.find((n) => n.name === w)?.ready);
  if (notReady.length) return `not Ready: ${notReady.join(', ')}`;
  const kp = await kubectlJson<DaemonSetStatus>(lab, ['-n', 'kube-system', 'get', 'daemonset', 'kube-proxy']);
  if ((kp.status.numberReady ?? 0) < want.length)
    return `kube-proxy ready on ${kp.status.numberReady ?? 0}/${want.length}`;
  const dns = await kubectlJson<DeploymentStatus>(lab, ['-n', 'kube-system', 'get', 'deployment', 'coredns']);
  if ((dns.status.readyReplicas ?? 0) < (dns.status.replicas ?? 1)) {
    return `CoreDNS ready ${dns.status.readyReplicas ?? 0}/${dns.status.replicas ?? '?'}`;
  }
  return 'ok';
}

export const nodesReady: Step<LabContext> = {
  id: 'kubeadm:nodes-ready',
  title: 'Wait for every node Ready, kube-proxy on every node and CoreDNS ready',
  done: async (lab) => (await clusterReady(lab).catch(() => 'unknown')) === 'ok',
  run: async (lab, t) => {
    let last = '';
    await poll({
      what: 'every node Ready with kube-proxy and CoreDNS',
      check: async () => {
        last = await clusterReady(lab);
        return last === 'ok';
      },
      timeoutMs: 300_000,
      intervalMs: 500,
      signal: t.signal,
      detail: () => last,
      fix: 'see `kubectl get nodes` and `kubectl -n kube-system get pods -o wide`; a node that is not Ready: its kubelet log (halab ssh <node> -- tail -50 /var/log/halab/kubelet/current)',
    });
  },
};
