// How Kubernetes is built from the Go module proxy (pure: unit-tested): the helper module requires
// k8s.io/kubernetes at the pinned version and replaces every staging module (required there at
// v0.0.0 and replaced by ./staging/src/<module>) by its own v0.MINOR.PATCH release; the version
// variables are stamped the way release builds stamp them.
import { HalabError } from '../errors.ts';
import type { GoModuleBuild } from './go-build.ts';
import { isLocalPath, parseGoMod, renderHelperModule } from './gomod.ts';
import { parseVersion, stagingVersion } from './version.ts';

export const K8S_COMPONENTS = [
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubectl',
  'kubeadm',
  'kubelet',
  'kubemark',
  'kube-proxy',
] as const;
export type K8sComponent = (typeof K8S_COMPONENTS)[number];

export const KUBERNETES_MODULE = 'k8s.io/kubernetes';

/** Go package of each component inside k8s.io/kubernetes. */
export const K8S_PACKAGES: Record<K8sComponent, string> = Object.fromEntries(
  K8S_COMPONENTS.map((c) => [c, `${KUBERNETES_MODULE}/cmd/${c}`]),
) as Record<K8sComponent, string>;

/** Packages whose version variables `kubectl version` / `--version` print. */
export const VERSION_PACKAGES = ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'] as const;

/**
 * Modules k8s.io/kubernetes develops in its staging/ tree: required at v0.0.0 and replaced by
 * a local ./staging/src/<module> directory. Read from its go.mod, never hard-coded; sorted.
 *
 * Errors: HalabError K8S_UNSUPPORTED_REPLACE for a local replace outside staging/ (no module
 * release provides it).
 */
export function stagingModules(kubernetesGoMod: string): string[] {
  const mod = parseGoMod(kubernetesGoMod);
  const set = new Set<string>();
  for (const r of mod.require) if (r.version === 'v0.0.0') set.add(r.path);
  for (const r of mod.replace) {
    if (!isLocalPath(r.to)) continue;
    const rel = r.to.replace(/^\.\//, '');
    if (!rel.startsWith('staging/')) {
      throw new HalabError(
        'K8S_UNSUPPORTED_REPLACE',
        `k8s.io/kubernetes replaces ${r.from} by the local directory ${r.to}, which no module release provides`,
        { fix: 'pin another Kubernetes version, or build this one from a git checkout' },
      );
    }
    set.add(r.from);
  }
  return [...set].sort();
}

/** go.mod of the helper module that builds Kubernetes `version` from the module proxy. */
export function renderHelperGoMod(kubernetesGoMod: string, version: string): string {
  const staging = stagingModules(kubernetesGoMod);
  const sv = stagingVersion(version);
  return renderHelperModule({
    helperModule: 'halab.local/kubernetes-build',
    module: KUBERNETES_MODULE,
    version,
    moduleGoMod: kubernetesGoMod,
    replace: staging.map((path) => ({ path, version: sv })),
    replaceComment: `The ${staging.length} staging modules k8s.io/kubernetes requires at v0.0.0, at their ${sv} release.`,
  });
}

export interface StampInput {
  version: string;
  /**
   * Commit of the release when the module proxy reports it (Origin.Hash). Unknown -> stamped
   * empty: the source default is the unexpanded git placeholder "$Format:%H$".
   */
  gitCommit?: string;
  /** RFC 3339 UTC, second precision (Kubernetes' own format). */
  buildDate: string;
  /** Version packages present in the build (defaults to both). */
  packages?: readonly string[];
  /** Strip symbol tables and DWARF, as release builds do. */
  strip?: boolean;
}

/**
 * The `-ldflags` value: what hack/lib/version.sh stamps into release builds.
 *
 * Errors: as parseVersion; HalabError INTERNAL for a stamp with whitespace or a quote.
 */
export function versionLdflags(s: StampInput): string {
  const v = parseVersion(s.version);
  const vars: [string, string][] = [
    ['gitVersion', s.version],
    ['gitMajor', String(v.major)],
    ['gitMinor', String(v.minor)],
  ];
  vars.push(['gitCommit', s.gitCommit ?? ''], ['gitTreeState', 'clean'], ['buildDate', s.buildDate]);
  const flags: string[] = s.strip === false ? [] : ['-s', '-w'];
  for (const pkg of s.packages ?? VERSION_PACKAGES) {
    for (const [k, val] of vars) {
      if (/\s|'/.test(val)) throw new HalabError('INTERNAL', `version stamp ${k}=${val} contains whitespace`);
      flags.push('-X', `${pkg}.${k}=${val}`);
    }
  }
  return flags.join(' ');
}

/** 2026-02-10T12:53:36.123Z -> 2026-02-10T12:53:36Z */
export function k8sDate(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

/** What buildGoModule needs to build every component of Kubernetes `version`, with its helper module in `modDir`. */
export function kubernetesGoBuild(version: string, modDir: string): GoModuleBuild {
  return {
    title: `Kubernetes ${version}`,
    module: KUBERNETES_MODULE,
    version,
    packages: K8S_COMPONENTS.map((c) => K8S_PACKAGES[c]),
    modDir,
    helperModule: 'halab.local/kubernetes-build',
    helperGoMod: (goMod) => renderHelperGoMod(goMod, version),
    ldflags: ({ deps, commit, published }) =>
      versionLdflags({
        version,
        gitCommit: commit,
        buildDate: k8sDate(published ?? new Date()),
        packages: VERSION_PACKAGES.filter((p) => deps.includes(p)),
      }),
    codePrefix: 'K8S',
  };
}
