// What the kubeadm bootstrap runs besides the Kubernetes binaries, at pinned versions, each built
// from the Go module proxy into the cache (go-build.ts) the way Kubernetes is:
//   containerd 2.x (containerd, its runc shim, ctr): Kubernetes 1.34 asks for containerd >= 2.0
//     (automatic cgroup-driver detection; 1.35 is the last release that supports 1.x), and
//     Debian 12's 1.6.20 is past its end of life. runc comes from Debian (the shim execs it).
//   the CNI plugins (bridge, host-local, loopback, portmap): the pod network needs no internet.
//   crictl: what a person types on a node to see its containers (cri-tools, same minor as Kubernetes).
//   CoreDNS at the version kubeadm deploys, and crane (go-containerregistry): the images (images.ts).
//   agnhost (the e2e test server: netexec, serve-hostname, DNS tools) from the Kubernetes module.
import { HalabError } from '../errors.ts';
import { run } from '../exec/local.ts';
import { ensureCached, versionDir, type CacheOptions, type Env, type EnsureResult } from './cache.ts';
import { binaryName, buildGoModule, ensureGoBinaries, goModDir, type GoArtifact } from './go-build.ts';
import { kubernetesGoBuild } from './kubernetes-build.ts';
import { checkBinaries, type BinaryCheck } from './manifest.ts';
import { KUBERNETES_VERSION } from './version.ts';

const stamp = (pairs: Record<string, string>) =>
  `-s -w ${Object.entries(pairs)
    .map(([k, v]) => `-X ${k}=${v}`)
    .join(' ')}`;

export const CONTAINERD_VERSION = 'v2.2.9';
export const CNI_PLUGINS_VERSION = 'v1.9.1';
export const CRICTL_VERSION = 'v1.34.0';
export const CRANE_VERSION = 'v0.22.1';
/** The CoreDNS kubeadm v1.34 deploys (`kubeadm config images list`; images.ts checks it). */
export const COREDNS_VERSION = 'v1.12.1';

/** The Go-built runtime artifacts, by cache name. */
export const RUNTIME_ARTIFACTS = {
  containerd: {
    name: 'containerd',
    title: `containerd ${CONTAINERD_VERSION}`,
    module: 'github.com/containerd/containerd/v2',
    version: CONTAINERD_VERSION,
    packages: ['containerd', 'containerd-shim-runc-v2', 'ctr'].map(
      (c) => `github.com/containerd/containerd/v2/cmd/${c}`,
    ),
    ldflags: ({ commit }) =>
      stamp({
        'github.com/containerd/containerd/v2/version.Version': CONTAINERD_VERSION,
        'github.com/containerd/containerd/v2/version.Revision': commit ?? 'unknown',
        'github.com/containerd/containerd/v2/version.Package': 'github.com/containerd/containerd/v2',
      }),
    codePrefix: 'CONTAINERD',
  },
  cni: {
    name: 'cni-plugins',
    title: `CNI plugins ${CNI_PLUGINS_VERSION}`,
    module: 'github.com/containernetworking/plugins',
    version: CNI_PLUGINS_VERSION,
    packages: ['main/bridge', 'ipam/host-local', 'main/loopback', 'meta/portmap'].map(
      (p) => `github.com/containernetworking/plugins/plugins/${p}`,
    ),
    ldflags: () =>
      stamp({ 'github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion': CNI_PLUGINS_VERSION }),
    codePrefix: 'CNI',
  },
  crictl: {
    name: 'crictl',
    title: `crictl ${CRICTL_VERSION}`,
    module: 'sigs.k8s.io/cri-tools',
    version: CRICTL_VERSION,
    packages: ['sigs.k8s.io/cri-tools/cmd/crictl'],
    ldflags: () => stamp({ 'sigs.k8s.io/cri-tools/pkg/version.Version': CRICTL_VERSION }),
    codePrefix: 'CRICTL',
  },
  crane: {
    name: 'crane',
    title: `crane ${CRANE_VERSION}`,
    module: 'github.com/google/go-containerregistry',
    version: CRANE_VERSION,
    packages: ['github.com/google/go-containerregistry/cmd/crane'],
    codePrefix: 'CRANE',
  },
  coredns: {
    name: 'coredns',
    title: `CoreDNS ${COREDNS_VERSION}`,
    module: 'github.com/coredns/coredns',
    version: COREDNS_VERSION,
    packages: ['github.com/coredns/coredns'],
    ldflags: () => stamp({ 'github.com/coredns/coredns/coremain.GitCommit': COREDNS_VERSION }),
    codePrefix: 'COREDNS',
  },
} satisfies Record<string, GoArtifact>;

export type RuntimeArtifact = keyof typeof RUNTIME_ARTIFACTS | 'agnhost';
export const RUNTIME_ARTIFACT_NAMES: RuntimeArtifact[] = [
  ...(Object.keys(RUNTIME_ARTIFACTS) as RuntimeArtifact[]),
  'agnhost',
];

const AGNHOST_PACKAGE = 'k8s.io/kubernetes/test/images/agnhost';

function spec(a: RuntimeArtifact, k8sVersion: string) {
  if (a === 'agnhost')
    return { name: 'agnhost', version: k8sVersion, binaries: ['agnhost'], title: `agnhost (Kubernetes ${k8sVersion})` };
  const g = RUNTIME_ARTIFACTS[a];
  return { name: g.name, version: g.version, binaries: g.packages.map(binaryName), title: g.title };
}

/** Directory holding the binaries of one runtime artifact (whether or not they are there). */
export function runtimeBinDir(a: RuntimeArtifact, k8sVersion = KUBERNETES_VERSION, env: Env = process.env): string {
  return `${versionDir(spec(a, k8sVersion), env)}/bin`;
}

/** Cheap checks (sizes and mtimes against each manifest) of every runtime artifact. */
export function checkRuntimeArtifacts(
  k8sVersion = KUBERNETES_VERSION,
  env: Env = process.env,
): (BinaryCheck<string> & { artifact: RuntimeArtifact; title: string })[] {
  return RUNTIME_ARTIFACT_NAMES.flatMap((a) => {
    const s = spec(a, k8sVersion);
    return checkBinaries(versionDir(s, env), s.version, s.binaries).map((c) => ({ ...c, artifact: a, title: s.title }));
  });
}

/**
 * Build (or find in the cache) one runtime artifact. agnhost is built from k8s.io/kubernetes at
 * `k8sVersion` with the Kubernetes build's helper module (its staging replaces and version stamps).
 *
 * Errors: those of ensureGoBinaries / buildGoModule (GO_*, <PREFIX>_VERSION_UNAVAILABLE,
 * <PREFIX>_MODULE_DOWNLOAD_FAILED, <PREFIX>_BUILD_FAILED, CANCELLED).
 */
export async function ensureRuntimeArtifact(
  a: RuntimeArtifact,
  o: CacheOptions & { k8sVersion?: string } = {},
): Promise<EnsureResult> {
  const k8sVersion = o.k8sVersion ?? KUBERNETES_VERSION;
  if (a !== 'agnhost') return ensureGoBinaries(RUNTIME_ARTIFACTS[a], o);
  const env = o.env ?? process.env;
  const build = {
    ...kubernetesGoBuild(k8sVersion, goModDir('kubernetes', k8sVersion, env)),
    title: spec('agnhost', k8sVersion).title,
    packages: [AGNHOST_PACKAGE],
  };
  return ensureCached(
    spec('agnhost', k8sVersion),
    (binDir) =>
      buildGoModule(build, binDir, {
        env,
        log: o.onLog ?? (() => {}),
        signal: o.signal,
        runner: run,
        toolchain: 'upstream',
      }),
    o,
  );
}

/** Every runtime artifact, one after the other (each compile uses both cores). */
export async function ensureRuntimeArtifacts(o: CacheOptions & { k8sVersion?: string } = {}): Promise<EnsureResult[]> {
  const out: EnsureResult[] = [];
  for (const a of RUNTIME_ARTIFACT_NAMES) {
    if (o.signal?.aborted) throw new HalabError('CANCELLED', 'building the runtime artifacts was cancelled');
    out.push(await ensureRuntimeArtifact(a, o));
  }
  return out;
}
