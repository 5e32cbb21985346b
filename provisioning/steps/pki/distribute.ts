// Copy the PKI to the hosts over SFTP (what `kubeadm join --control-plane --certificate-key`
// would fetch from the kubeadm-certs Secret), with kubeadm's permissions: keys and kubeconfigs
// 0600, certificates and public keys 0644. What is already there with the same sha256 and mode
// is left alone, so a second run uploads nothing.

import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LabSpec } from '../../api/types.ts';
import { forEachLimit, type StepTools } from '../../engine/runner.ts';
import { HalabError } from '../../errors.ts';
import { shq } from '../../exec/types.ts';
import type { LabContext } from '../../providers/types.ts';
import { CONTROL_PLANE_KUBECONFIGS } from './generate.ts';
import { masterHosts, workerHosts } from './kubeadm-config.ts';
import { HOST_ETCD_PKI_DIR, HOST_KUBECONFIG_DIR, HOST_PKI_DIR, LB_CA_PATH, localPki, type LocalPki } from './paths.ts';

export interface HostFile {
  host: string;
  /** Path on the host. */
  path: string;
  /** Path on the machine. */
  local: string;
  mode: number;
}

const CERT = 0o644;
const KEY = 0o600;

/**
 * Which local file goes where, per host (pure). Masters: the cluster CA (with its key, which the
 * controller-manager signs CSRs with), apiserver, kubelet-client, front-proxy CA (cert only: the
 * apiserver verifies request-header clients with it) and client, sa key pair, the apiserver's
 * etcd client, the etcd CA cert, their own etcd server/peer pair, the healthcheck client (etcdctl),
 * and the control-plane kubeconfigs. LBs: the cluster CA. Workers: the cluster CA and their
 * kubelet.conf. CA keys other than the cluster CA's stay on the machine.
 */
export function distributionPlan(spec: LabSpec, pki: LocalPki): HostFile[] {
  const c = pki.clusterDir;
  const plan: HostFile[] = [];
  for (const m of masterHosts(spec)) {
    const add = (path: string, local: string, mode: number) => plan.push({ host: m.name, path, local, mode });
    add(`${HOST_PKI_DIR}/ca.crt`, join(c, 'ca.crt'), CERT);
    add(`${HOST_PKI_DIR}/ca.key`, join(c, 'ca.key'), KEY);
    for (const b of ['apiserver', 'apiserver-kubelet-client', 'front-proxy-client', 'apiserver-etcd-client']) {
      add(`${HOST_PKI_DIR}/${b}.crt`, join(c, `${b}.crt`), CERT);
      add(`${HOST_PKI_DIR}/${b}.key`, join(c, `${b}.key`), KEY);
    }
    add(`${HOST_PKI_DIR}/front-proxy-ca.crt`, join(c, 'front-proxy-ca.crt'), CERT);
    add(`${HOST_PKI_DIR}/sa.key`, join(c, 'sa.key'), KEY);
    add(`${HOST_PKI_DIR}/sa.pub`, join(c, 'sa.pub'), CERT);
    add(`${HOST_ETCD_PKI_DIR}/ca.crt`, join(c, 'etcd', 'ca.crt'), CERT);
    add(`${HOST_ETCD_PKI_DIR}/healthcheck-client.crt`, join(c, 'etcd', 'healthcheck-client.crt'), CERT);
    add(`${HOST_ETCD_PKI_DIR}/healthcheck-client.key`, join(c, 'etcd', 'healthcheck-client.key'), KEY);
    for (const kind of ['server', 'peer']) {
      add(`${HOST_ETCD_PKI_DIR}/${kind}.crt`, join(pki.memberDir(m.name), 'etcd', `${kind}.crt`), CERT);
      add(`${HOST_ETCD_PKI_DIR}/${kind}.key`, join(pki.memberDir(m.name), 'etcd', `${kind}.key`), KEY);
    }
    for (const k of CONTROL_PLANE_KUBECONFIGS) add(`${HOST_KUBECONFIG_DIR}/${k}.conf`, join(pki.kubeconfigDir, `${k}.conf`), KEY);
  }
  for (const lb of spec.hosts.filter((h) => h.role === 'lb')) {
    plan.push({ host: lb.name, path: LB_CA_PATH, local: join(c, 'ca.crt'), mode: CERT });
  }
  for (const w of workerHosts(spec)) {
    plan.push({ host: w.name, path: `${HOST_PKI_DIR}/ca.crt`, local: join(c, 'ca.crt'), mode: CERT });
    plan.push({ host: w.name, path: `${HOST_KUBECONFIG_DIR}/kubelet.conf`, local: join(pki.nodeDir(w.name), 'kubelet.conf'), mode: KEY });
  }
  return plan;
}

/** Shell that prints "MODE SHA256 PATH" (or "missing - PATH") for each path. */
export function checksumScript(paths: string[]): string {
  return [
    `for f in ${paths.map(shq).join(' ')}; do`,
    `  if [ -f "$f" ]; then echo "$(stat -c %a "$f") $(sha256sum < "$f" | cut -c1-64) $f"; else echo "missing - $f"; fi`,
    `done`,
  ].join('\n');
}

export interface RemoteFileState { mode: number; sha256: string }

export function parseChecksums(text: string): Map<string, RemoteFileState | undefined> {
  const out = new Map<string, RemoteFileState | undefined>();
  for (const line of text.split('\n')) {
    const m = /^(\S+) (\S+) (\/\S+)$/.exec(line.trim());
    if (!m) continue;
    const [, mode, sum, path] = m as unknown as [string, string, string, string];
    out.set(path, mode === 'missing' || !/^[0-9a-f]{64}$/.test(sum) ? undefined : { mode: parseInt(mode, 8), sha256: sum });
  }
  return out;
}

/** The files of one host whose content or mode differ from what is wanted. */
export function staleFiles(files: HostFile[], remote: Map<string, RemoteFileState | undefined>, localSha: Map<string, string>): HostFile[] {
  return files.filter((f) => {
    const r = remote.get(f.path);
    return !r || r.sha256 !== localSha.get(f.local) || r.mode !== f.mode;
  });
}

function groupByHost(plan: HostFile[]): Map<string, HostFile[]> {
  const by = new Map<string, HostFile[]>();
  for (const f of plan) by.set(f.host, [...(by.get(f.host) ?? []), f]);
  return by;
}

async function localSums(plan: HostFile[]): Promise<Map<string, string>> {
  const sums = new Map<string, string>();
  for (const local of new Set(plan.map((f) => f.local))) {
    let buf: Buffer;
    try {
      buf = await fs.readFile(local);
    } catch {
      throw new HalabError('PKI_MISSING', `${local} does not exist`, { fix: 'the PKI generation step has to run first (halab up)' });
    }
    sums.set(local, createHash('sha256').update(buf).digest('hex'));
  }
  return sums;
}

async function staleOnHost(ctx: LabContext, host: string, files: HostFile[], sums: Map<string, string>): Promise<HostFile[]> {
  const r = await ctx.remote(host).exec(checksumScript(files.map((f) => f.path)), { timeoutMs: 30_000 });
  return staleFiles(files, parseChecksums(r.stdout), sums);
}

/** done(): every host holds every file with the local content and the wanted mode. */
export async function pkiDistributed(ctx: LabContext): Promise<boolean> {
  const plan = distributionPlan(ctx.state.spec, localPki(ctx.dir));
  let sums: Map<string, string>;
  try {
    sums = await localSums(plan);
  } catch {
    return false;
  }
  for (const [host, files] of groupByHost(plan)) {
    if ((await staleOnHost(ctx, host, files, sums)).length) return false;
  }
  return true;
}

export async function distributePki(ctx: LabContext, t: Pick<StepTools, 'log' | 'progress'>): Promise<void> {
  const plan = distributionPlan(ctx.state.spec, localPki(ctx.dir));
  const sums = await localSums(plan);
  const byHost = [...groupByHost(plan)];
  let n = 0;
  await forEachLimit(byHost, 4, async ([host, files]) => {
    const stale = await staleOnHost(ctx, host, files, sums);
    if (stale.length) {
      const remote = ctx.remote(host);
      const dirs = [...new Set(stale.map((f) => dirname(f.path)))].sort();
      await remote.exec(`mkdir -p ${dirs.map(shq).join(' ')}`, { timeoutMs: 30_000 });
      for (const f of stale) await remote.upload(f.path, await fs.readFile(f.local), f.mode);
      t.log(`${stale.length} file(s): ${stale.map((f) => f.path).join(' ')}`, { host });
    }
    t.progress(++n, byHost.length, host);
  });
}
