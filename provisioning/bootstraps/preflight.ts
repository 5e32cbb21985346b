// What both bootstraps need on this machine: the Debian packages the lab's hosts run (netns
// hosts share this machine's /usr) and the Kubernetes binaries at the pinned version.
import type { DoctorCheck } from '../api/types.ts';
import { artifactDir, checkArtifacts, KUBERNETES_VERSION } from '../artifacts/kubernetes.ts';
import { run } from '../exec/local.ts';

export const DEBIAN_PACKAGES: { pkg: string; why: string }[] = [
  { pkg: 'etcd-server', why: 'etcd members on the masters' },
  { pkg: 'etcd-client', why: 'etcdctl: health, snapshots, restore' },
  { pkg: 'haproxy', why: 'the load balancers' },
  { pkg: 'keepalived', why: 'the floating VIP (VRRP)' },
  { pkg: 'openssh-server', why: 'sshd on every host' },
  { pkg: 's6', why: 'the service supervisor on every host' },
  { pkg: 'socat', why: 'HAProxy admin socket' },
  { pkg: 'curl', why: 'health checks and probes' },
];

async function dpkgInstalled(pkg: string): Promise<boolean> {
  const r = await run('dpkg-query', ['-W', '-f=${Status}', pkg], { allowFail: true }).catch(() => undefined);
  return !!r && r.exitCode === 0 && r.stdout.includes('install ok installed');
}

/** Debian packages and Kubernetes binaries, each with its fix. */
export async function commonPreflight(version = KUBERNETES_VERSION): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  for (const { pkg, why } of DEBIAN_PACKAGES) {
    const ok = await dpkgInstalled(pkg);
    checks.push({ id: `pkg:${pkg}`, title: `${pkg} (${why})`, ok, required: true, fix: `apt-get install -y ${pkg}` });
  }
  for (const a of checkArtifacts(version)) {
    checks.push({
      id: `k8s:${a.component}`,
      title: `${a.component} ${version}`,
      ok: a.ok,
      required: true,
      detail: a.ok ? a.path : (a.problem ?? `not in ${artifactDir(version)}`),
      fix: 'npm run setup  (or: npx tsx scripts/k8s/fetch.ts)',
    });
  }
  return checks;
}
