// The kubeadm bootstrap: containerd and a real kubelet on every master and worker, `kubeadm
// init` through the VIP with --upload-certs on the first master, `kubeadm join --control-plane`
// on the others, `kubeadm join` on the workers; real pods on a bridge network, Services through
// kube-proxy, CoreDNS; every image built on this machine (no registry). etcd stays the external
// 3-member cluster on the masters' disk A; HAProxy + keepalived stay in front of the apiservers.
//   node-files.ts  containerd, CNI, crictl, the services and boot tasks of a node host
//   config.ts      kubeadm's configuration files
//   secrets.ts     the join token, the certificate key, the CA pin
//   network.ts     the pod ranges
//   steps.ts       the procedure
//   components.ts  stop / start / kill (static pods by their manifests)
//   pinned.ts      the external-lb drill's pinned kubelet
//   cgroups.ts     what `down` removes from this machine's kernel
import { readFileSync } from 'node:fs';
import type { DoctorCheck, LabSpec, LabState } from '../../api/types.ts';
import { checkImages } from '../../artifacts/images.ts';
import { checkRuntimeArtifacts } from '../../artifacts/runtime.ts';
import { checkRuntimeSeed, runtimeSeedPath } from '../../artifacts/runtime-disk.ts';
import { KUBERNETES_VERSION } from '../../artifacts/version.ts';
import type { LabContext } from '../../engine/context.ts';
import type { Step } from '../../engine/runner.ts';
import { run } from '../../exec/local.ts';
import { snapshotSchedule } from '../../snapshots/index.ts';
import { clusterHosts } from '../../spec/roles.ts';
import { apiBack, controlPlaneReady, kubernetesArtifacts, leaderLeases } from '../../steps/control-plane/index.ts';
import { etcdHealthy, etcdMembers } from '../../steps/etcd/index.ts';
import { lbSteps } from '../../steps/lb/index.ts';
import { distributePkiStep, generatePkiStep } from '../../steps/pki/index.ts';
import { commonPreflight } from '../preflight.ts';
import type { Bootstrap, BootstrapOptions } from '../types.ts';
import { cgroupLeftovers, releaseCgroups } from './cgroups.ts';
import { kubeadmComponents } from './components.ts';
import { WORKER_LABEL } from './config.ts';
import { kubeadmPinnedKubelets } from './pinned.ts';
import { kubeadmSpecIssues } from './spec-support.ts';
import {
  corednsAddon,
  kubeadmInit,
  INOTIFY_LIMITS,
  kubeadmJoin,
  machineLimits,
  nodeHosts,
  nodesReady,
  podRoutes,
  runtimeArtifacts,
  shareRuntime,
} from './steps.ts';

/** Debian packages a kubeadm node uses from this machine's /usr, and the image build needs. */
const PACKAGES: { pkg: string; why: string }[] = [
  { pkg: 'runc', why: "containerd's runtime on every node" },
  { pkg: 'iptables', why: 'kube-proxy and the CNI plugins in every node' },
  { pkg: 'conntrack', why: 'clearing a rebooted node' },
  { pkg: 'gcc', why: 'building the pause image' },
  { pkg: 'libc6-dev', why: 'building the pause image (static libc)' },
];

async function kubeadmPreflight(spec?: LabSpec): Promise<DoctorCheck[]> {
  const v = spec?.kubernetesVersion ?? KUBERNETES_VERSION;
  const checks = await commonPreflight(v);
  for (const { pkg, why } of PACKAGES) {
    const r = await run('dpkg-query', ['-W', '-f=${Status}', pkg], { allowFail: true }).catch(() => undefined);
    const ok = !!r && r.exitCode === 0 && r.stdout.includes('install ok installed');
    checks.push({ id: `pkg:${pkg}`, title: `${pkg} (${why})`, ok, required: true, fix: `apt-get install -y ${pkg}` });
  }
  const rt = checkRuntimeArtifacts(v);
  for (const a of [...new Set(rt.map((c) => c.artifact))]) {
    const bad = rt.filter((c) => c.artifact === a && !c.ok);
    checks.push({
      id: `runtime:${a}`,
      title: rt.find((c) => c.artifact === a)!.title,
      ok: bad.length === 0,
      required: true,
      detail: bad.map((c) => `${c.component}: ${c.problem}`).join('; ') || undefined,
      fix: 'npm run setup  (builds it from the Go module proxy into the cache)',
    });
  }
  for (const [k, want] of Object.entries(INOTIFY_LIMITS)) {
    const have = Number(readFileSync(`/proc/sys/${k.replace(/\./g, '/')}`, 'utf8').trim());
    checks.push({
      id: `sysctl:${k}`,
      title: `${k} at least ${want} (every kubelet, containerd and kube-proxy of every lab shares it)`,
      ok: have >= want,
      required: true,
      detail: `${have}`,
      fix: `sysctl -w ${k}=${want}`,
    });
  }
  const cgroupV1 = readFileSync('/proc/self/mountinfo', 'utf8').includes(' - cgroup cgroup ');
  checks.push({
    id: 'kernel:cgroup-v1',
    title: 'cgroup v1 hierarchies (the kubelets use cgroupfs with a cgroup root per host; measured on v1)',
    ok: cgroupV1,
    required: false,
    detail: cgroupV1 ? undefined : 'only cgroup v2: not tried here',
  });
  const capBnd = /^CapBnd:\s+([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  const sysResource = capBnd !== undefined && (BigInt(`0x${capBnd}`) & (1n << 24n)) !== 0n;
  checks.push({
    id: 'kernel:cap-sys-resource',
    title: 'CAP_SYS_RESOURCE in the bounding set (without it, containers keep oom_score_adj 0: restrict_oom_score_adj)',
    ok: sysResource,
    required: false,
  });
  const im = [...checkImages(v), ...checkRuntimeSeed(v)].filter((c) => !c.ok);
  checks.push({
    id: 'images',
    title: `the cluster's images for Kubernetes ${v} (built locally, no registry)`,
    ok: im.length === 0,
    required: true,
    detail: im.map((c) => `${c.component}: ${c.problem}`).join('; ') || undefined,
    fix: 'npm run setup  (builds them with crane from the cached binaries)',
  });
  return checks;
}

export const kubeadmBootstrap: Bootstrap = {
  name: 'kubeadm',
  title: 'kubeadm: containerd and real kubelets on every node, `kubeadm init` / `join` through the VIP',
  preflight: kubeadmPreflight,
  specIssues: kubeadmSpecIssues,
  steps(spec: LabSpec, o: BootstrapOptions = {}): Step<LabContext>[] {
    const lb = lbSteps(spec, o.lb);
    return [
      kubernetesArtifacts,
      runtimeArtifacts,
      generatePkiStep,
      distributePkiStep,
      etcdMembers,
      etcdHealthy,
      ...(lb ? [lb.configs, lb.haproxy, lb.keepalived, lb.ready] : []),
      machineLimits,
      shareRuntime,
      nodeHosts,
      podRoutes,
      apiBack,
      kubeadmInit,
      corednsAddon,
      kubeadmJoin,
      controlPlaneReady,
      nodesReady,
      snapshotSchedule,
      leaderLeases,
    ];
  },
  hasControlPlane: (state: LabState) => state.completedSteps.includes(kubeadmInit.id),
  components: kubeadmComponents,
  realPods: true,
  nodeNames: (spec) => clusterHosts(spec).map((h) => h.name),
  workerSelector: () => ({ [WORKER_LABEL]: 'true' }),
  // the kubelet renews its node lease every nodeLeaseDurationSeconds / 4 = nodeStatusUpdateFrequency (config.ts)
  nodeLeaseRenewS: (spec) => spec.timers.nodeStatusUpdateFrequencyS,
  pinnedKubelets: kubeadmPinnedKubelets,
  diskSeed: (spec, disk) => (disk === 'runtime' ? runtimeSeedPath(spec.kubernetesVersion) : undefined),
  release: releaseCgroups,
  leftovers: cgroupLeftovers,
};
