// kubectl from this machine, through the VIP, with the lab's admin kubeconfig: how the engine,
// `halab status` and the drills talk to the API (from outside the cluster, so they keep
// observing while the control plane is down).
import { join } from 'node:path';
import type { LabState } from '../api/types.ts';
import { run } from '../exec/local.ts';
import type { ExecOptions, ExecResult } from '../exec/types.ts';
import { binaryPath } from '../artifacts/kubernetes.ts';
import { localPki } from '../steps/pki/paths.ts';

export function adminKubeconfig(dir: string): string {
  return join(localPki(dir).kubeconfigDir, 'admin.conf');
}

export function kubectlPath(state: LabState): string {
  return binaryPath('kubectl', state.spec.kubernetesVersion);
}

export interface KubectlOptions extends ExecOptions {
  /** kubectl's --request-timeout per API request (default 5 s: status polls must not hang; an apply of many objects on a loaded machine wants more). */
  requestTimeoutS?: number;
}

export async function kubectl(lab: { state: LabState; dir: string }, args: string[], opts: KubectlOptions = {}): Promise<ExecResult> {
  const { requestTimeoutS = 5, ...exec } = opts;
  return run(kubectlPath(lab.state), ['--kubeconfig', adminKubeconfig(lab.dir), `--request-timeout=${requestTimeoutS}s`, ...args], { timeoutMs: 20_000, ...exec });
}

export async function kubectlJson<T>(lab: { state: LabState; dir: string }, args: string[], opts: ExecOptions = {}): Promise<T> {
  const r = await kubectl(lab, [...args, '-o', 'json'], opts);
  return JSON.parse(r.stdout) as T;
}

export interface NodeInfo { name: string; ready: boolean; reason?: string }
export interface PodInfo { name: string; node?: string; phase: string }
export interface LeaseInfo { name: string; holder?: string; renewTime?: string }

export async function nodes(lab: { state: LabState; dir: string }): Promise<NodeInfo[]> {
  const list = await kubectlJson<{ items: { metadata: { name: string }; status?: { conditions?: { type: string; status: string; reason?: string }[] } }[] }>(lab, ['get', 'nodes']);
  return list.items.map((n) => {
    const c = n.status?.conditions?.find((x) => x.type === 'Ready');
    return { name: n.metadata.name, ready: c?.status === 'True', reason: c?.reason };
  });
}

export async function leases(lab: { state: LabState; dir: string }): Promise<LeaseInfo[]> {
  const out: LeaseInfo[] = [];
  for (const name of ['kube-controller-manager', 'kube-scheduler']) {
    try {
      const l = await kubectlJson<{ spec?: { holderIdentity?: string; renewTime?: string } }>(lab, ['-n', 'kube-system', 'get', 'lease', name]);
      out.push({ name, holder: l.spec?.holderIdentity, renewTime: l.spec?.renewTime });
    } catch {
      out.push({ name });
    }
  }
  return out;
}

/** "m2_5f1c..." -> "m2": lease holders are "<hostname>_<uuid>". */
export function holderHost(holder: string | undefined): string | undefined {
  return holder?.split('_')[0];
}
