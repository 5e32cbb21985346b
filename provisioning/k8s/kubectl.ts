// kubectl from this machine, through the VIP, with the lab's admin kubeconfig: how the engine,
// `halab status` and the drills talk to the API (from outside the cluster, so they keep
// observing while the control plane is down).
import { join } from 'node:path';
import type { LabState } from '../api/types.ts';
import { run } from '../exec/local.ts';
import type { ExecOptions, ExecResult } from '../exec/types.ts';
import { binaryPath } from '../artifacts/kubernetes.ts';
import { localPki } from '../steps/pki/paths.ts';
import pRetry from 'p-retry';
import { sleep } from '../util/poll.ts';

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

export async function kubectl(
  lab: { state: LabState; dir: string },
  args: string[],
  opts: KubectlOptions = {},
): Promise<ExecResult> {
  const { requestTimeoutS = 5, ...exec } = opts;
  return run(
    kubectlPath(lab.state),
    ['--kubeconfig', adminKubeconfig(lab.dir), `--request-timeout=${requestTimeoutS}s`, ...args],
    // the process outlives its requests: a slow request fails with kubectl's own message
    { timeoutMs: Math.max(20_000, (requestTimeoutS + 10) * 1000), ...exec },
  );
}

/**
 * Whether the object `args` names (e.g. `['-n', 'kube-system', 'get', 'deployment', 'coredns']`)
 * exists: false only on the API's NotFound. Any other failure (an API slow to answer after a
 * start, a timeout) is asked again for up to `timeoutMs` (default 60 s), then also answers false,
 * so a step's `done` check never skips work on a guess, and never fails on a slow moment.
 */
export async function objectExists(
  lab: { state: LabState; dir: string },
  args: string[],
  timeoutMs = 60_000,
  signal?: AbortSignal,
): Promise<boolean> {
  const t0 = Date.now();
  for (;;) {
    const r = await kubectl(lab, args, { allowFail: true, requestTimeoutS: 10 }).catch(() => undefined);
    if (r?.exitCode === 0) return true;
    if (r && /NotFound|not found/.test(r.stderr)) return false;
    if (Date.now() - t0 > timeoutMs) return false;
    await sleep(1000, signal);
  }
}

export async function kubectlJson<T>(
  lab: { state: LabState; dir: string },
  args: string[],
  opts: KubectlOptions = {},
): Promise<T> {
  const r = await kubectl(lab, [...args, '-o', 'json'], opts);
  return JSON.parse(r.stdout) as T;
}

export interface NodeInfo {
  name: string;
  ready: boolean;
  reason?: string;
}
export interface PodInfo {
  name: string;
  node?: string;
  phase: string;
}
export interface LeaseInfo {
  name: string;
  holder?: string;
  renewTime?: string;
  /** spec.leaseDurationSeconds: the holder owns it until renewTime + this. */
  durationS?: number;
}

/**
 * Is a lease held right now (pure)? Held = it names a holder that renewed it within its duration
 * (a holder that stopped, froze or died keeps its name on the lease until someone takes it over).
 * Returns the seconds since it expired otherwise (0 when no holder or times are recorded).
 */
export function leaseExpiry(l: LeaseInfo, nowMs: number = Date.now()): { held: boolean; expiredS?: number } {
  if (!l.holder) return { held: false };
  const renewed = l.renewTime ? Date.parse(l.renewTime) : NaN;
  if (Number.isNaN(renewed) || !l.durationS) return { held: true };
  const left = renewed + l.durationS * 1000 - nowMs;
  return left >= 0 ? { held: true } : { held: false, expiredS: Math.round(-left / 1000) };
}

/**
 * Every Node with its Ready condition, through the VIP. `requestTimeoutS` (default 5 s) bounds the
 * request; throws when the API does not answer within it.
 */
export async function nodes(lab: { state: LabState; dir: string }, requestTimeoutS = 5): Promise<NodeInfo[]> {
  const list = await kubectlJson<{
    items: {
      metadata: { name: string };
      status?: { conditions?: { type: string; status: string; reason?: string }[] };
    }[];
  }>(lab, ['get', 'nodes'], { requestTimeoutS });
  return list.items.map((n) => {
    const c = n.status?.conditions?.find((x) => x.type === 'Ready');
    return { name: n.metadata.name, ready: c?.status === 'True', reason: c?.reason };
  });
}

export async function leases(lab: { state: LabState; dir: string }): Promise<LeaseInfo[]> {
  const out: LeaseInfo[] = [];
  for (const name of ['kube-controller-manager', 'kube-scheduler']) {
    try {
      const l = await kubectlJson<{
        spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number };
      }>(lab, ['-n', 'kube-system', 'get', 'lease', name]);
      out.push({
        name,
        holder: l.spec?.holderIdentity,
        renewTime: l.spec?.renewTime,
        durationS: l.spec?.leaseDurationSeconds,
      });
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

/**
 * `kubectl apply -f -` from this machine through the VIP, without client-side validation (which
 * downloads the OpenAPI schema first: too slow for kubectl's 5 s request timeout on a loaded
 * machine). Apply is idempotent, so a failed call is tried again (p-retry: `attempts` calls in all,
 * 1 s then 2 s, 4 s, ... apart); rejects with the last call's error.
 */
export async function applyManifest(
  lab: { state: LabState; dir: string },
  manifest: string,
  attempts = 4,
): Promise<void> {
  await pRetry(
    () =>
      kubectl(lab, ['apply', '--validate=false', '-f', '-'], {
        input: manifest,
        timeoutMs: 60_000,
        requestTimeoutS: 20,
      }),
    { retries: attempts - 1, minTimeout: 1000, factor: 2, randomize: false },
  );
}
