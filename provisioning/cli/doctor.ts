import { access } from 'node:fs/promises';
import type { DoctorCheck } from '../api/types.ts';
import { run } from '../exec/local.ts';
import { getProvider } from '../providers/index.ts';
import { checkArtifacts, KUBERNETES_VERSION, artifactDir } from '../artifacts/kubernetes.ts';

/** Debian packages the lab's hosts run (they share this machine's /usr). */
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

export async function runDoctor(): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [...(await getProvider('netns').preflight())];
  for (const { pkg, why } of DEBIAN_PACKAGES) {
    const ok = await dpkgInstalled(pkg);
    checks.push({ id: `pkg:${pkg}`, title: `${pkg} (${why})`, ok, required: true, fix: `apt-get install -y ${pkg}` });
  }
  for (const a of checkArtifacts(KUBERNETES_VERSION)) {
    checks.push({
      id: `k8s:${a.component}`, title: `${a.component} ${KUBERNETES_VERSION}`, ok: a.ok, required: true,
      detail: a.ok ? a.path : a.problem ?? `not in ${artifactDir(KUBERNETES_VERSION)}`,
      fix: 'npm run setup  (or: npx tsx scripts/k8s/fetch.ts)',
    });
  }
  const kvm = await access('/dev/kvm').then(() => true, () => false);
  checks.push({ id: 'kvm', title: '/dev/kvm (only for the qemu provider: fast VMs)', ok: kvm, required: false,
    detail: kvm ? 'present' : 'absent: VMs would run under TCG emulation', fix: 'enable virtualization (KVM) in the BIOS/hypervisor' });
  return checks;
}

export function formatDoctor(checks: DoctorCheck[]): string {
  const lines: string[] = [];
  for (const c of checks) {
    const mark = c.ok ? '✔' : c.required ? '✖' : '·';
    lines.push(`${mark} ${c.title}${c.detail && !c.ok ? ` — ${c.detail}` : ''}`);
    if (!c.ok && c.fix) lines.push(`    fix: ${c.fix}`);
  }
  const missing = checks.filter((c) => c.required && !c.ok).length;
  lines.push('', missing ? `${missing} required item${missing === 1 ? '' : 's'} missing` : 'all prerequisites are present');
  return `${lines.join('\n')}\n`;
}
