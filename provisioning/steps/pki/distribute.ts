// Copy the PKI to the hosts over SFTP (what `kubeadm join --control-plane --certificate-key`
// would fetch from the kubeadm-certs Secret), with kubeadm's permissions: keys and kubeconfigs
// 0600, certificates and public keys 0644. What is already there with the same sha256 and mode
// is left alone, so a second run uploads nothing.

import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { LabSpec } from '../../api/types.ts';
import { forEachLimit, type StepTools } from '../../engine/runner.ts';
import { HalabError } from '../../errors.ts';
import { staleOnHost, syncFiles } from '../../hosts/files.ts';
import type { FileSpec } from '../../hosts/services.ts';
import type { LabContext } from '../../providers/types.ts';
import { CONTROL_PLANE_KUBECONFIGS } from './generate.ts';
import { HOST_ETCD_PKI_DIR, HOST_KUBECONFIG_DIR, HOST_PKI_DIR, LB_CA_PATH, localPki, type LocalPki } from './paths.ts';
import { lbHosts, masterHosts, workerHosts } from '../../spec/roles.ts';

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
 * Which local file goes where, per host (pure). The fast bootstrap's masters: the cluster CA (with its key, which the
 * controller-manager signs CSRs with), apiserver, kubelet-client, front-proxy CA (cert only: the
 * apiserver verifies request-header clients with it) and client, sa key pair, the apiserver's
 * etcd client, the etcd CA cert, their own etcd server/peer pair, the healthcheck client (etcdctl),
 * and the control-plane kubeconfigs. LBs: the cluster CA. Workers: the cluster CA and their
 * kubelet.conf. CA keys other than the cluster CA's stay on the machine.
 */
export function distributionPlan(spec: LabSpec, pki: LocalPki): HostFile[] {
  return spec.bootstrap === 'kubeadm' ? kubeadmDistributionPlan(spec, pki) : fastDistributionPlan(spec, pki);
}

/**
 * The kubeadm bootstrap's share (pure): only what must exist before kubeadm runs. Every master:
 * its etcd member pair, the etcd CA cert, the healthcheck client (etcdctl) and the apiserver's
 * etcd client (external etcd). The first master (where `kubeadm init` runs): the cluster, front-
 * proxy and service-account key pairs, which kubeadm then uses ("using the existing CA") to make
 * every other certificate and kubeconfig itself, and uploads (--upload-certs) for the other
 * masters' `join --control-plane`; so the cluster keeps the CA this machine's admin kubeconfig
 * and the LBs' health checks trust. LBs: the cluster CA. Workers: nothing (`kubeadm join`).
 */
export function kubeadmDistributionPlan(spec: LabSpec, pki: LocalPki): HostFile[] {
  const c = pki.clusterDir;
  const plan: HostFile[] = [];
  masterHosts(spec).forEach((m, i) => {
    const add = (path: string, local: string, mode: number) => plan.push({ host: m.name, path, local, mode });
    if (i === 0) {
      for (const ca of ['ca', 'front-proxy-ca']) {
        add(`${HOST_PKI_DIR}/${ca}.crt`, join(c, `${ca}.crt`), CERT);
        add(`${HOST_PKI_DIR}/${ca}.key`, join(c, `${ca}.key`), KEY);
      }
      add(`${HOST_PKI_DIR}/sa.key`, join(c, 'sa.key'), KEY);
      add(`${HOST_PKI_DIR}/sa.pub`, join(c, 'sa.pub'), CERT);
    }
    add(`${HOST_PKI_DIR}/apiserver-etcd-client.crt`, join(c, 'apiserver-etcd-client.crt'), CERT);
    add(`${HOST_PKI_DIR}/apiserver-etcd-client.key`, join(c, 'apiserver-etcd-client.key'), KEY);
    add(`${HOST_ETCD_PKI_DIR}/ca.crt`, join(c, 'etcd', 'ca.crt'), CERT);
    add(`${HOST_ETCD_PKI_DIR}/healthcheck-client.crt`, join(c, 'etcd', 'healthcheck-client.crt'), CERT);
    add(`${HOST_ETCD_PKI_DIR}/healthcheck-client.key`, join(c, 'etcd', 'healthcheck-client.key'), KEY);
    for (const kind of ['server', 'peer']) {
      add(`${HOST_ETCD_PKI_DIR}/${kind}.crt`, join(pki.memberDir(m.name), 'etcd', `${kind}.crt`), CERT);
      add(`${HOST_ETCD_PKI_DIR}/${kind}.key`, join(pki.memberDir(m.name), 'etcd', `${kind}.key`), KEY);
    }
  });
  for (const lb of lbHosts(spec)) plan.push({ host: lb.name, path: LB_CA_PATH, local: join(c, 'ca.crt'), mode: CERT });
  return plan;
}

function fastDistributionPlan(spec: LabSpec, pki: LocalPki): HostFile[] {
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
    for (const k of CONTROL_PLANE_KUBECONFIGS)
      add(`${HOST_KUBECONFIG_DIR}/${k}.conf`, join(pki.kubeconfigDir, `${k}.conf`), KEY);
  }
  for (const lb of lbHosts(spec)) {
    plan.push({ host: lb.name, path: LB_CA_PATH, local: join(c, 'ca.crt'), mode: CERT });
  }
  for (const w of workerHosts(spec)) {
    plan.push({ host: w.name, path: `${HOST_PKI_DIR}/ca.crt`, local: join(c, 'ca.crt'), mode: CERT });
    plan.push({
      host: w.name,
      path: `${HOST_KUBECONFIG_DIR}/kubelet.conf`,
      local: join(pki.nodeDir(w.name), 'kubelet.conf'),
      mode: KEY,
    });
  }
  return plan;
}

function groupByHost(plan: HostFile[]): Map<string, HostFile[]> {
  const by = new Map<string, HostFile[]>();
  for (const f of plan) by.set(f.host, [...(by.get(f.host) ?? []), f]);
  return by;
}

/** A host's files with their local content (FileSpec for hosts/files.ts). */
async function withContent(files: HostFile[]): Promise<FileSpec[]> {
  return Promise.all(
    files.map(async (f) => {
      let content: Buffer;
      try {
        content = await fs.readFile(f.local);
      } catch {
        throw new HalabError('PKI_MISSING', `${f.local} does not exist`, {
          fix: 'the PKI generation step has to run first (halab up)',
        });
      }
      return { path: f.path, content, mode: f.mode };
    }),
  );
}

/** done(): every host holds every file with the local content and the wanted mode. */
export async function pkiDistributed(ctx: LabContext): Promise<boolean> {
  const plan = distributionPlan(ctx.state.spec, localPki(ctx.dir));
  for (const [host, files] of groupByHost(plan)) {
    const specs = await withContent(files).catch(() => undefined);
    if (!specs || (await staleOnHost(ctx.remote(host), specs)).length) return false;
  }
  return true;
}

/** Copy what differs to every host, four hosts at a time; a second run uploads nothing. */
export async function distributePki(ctx: LabContext, t: Pick<StepTools, 'log' | 'progress'>): Promise<void> {
  const plan = distributionPlan(ctx.state.spec, localPki(ctx.dir));
  const byHost = [...groupByHost(plan)];
  let n = 0;
  await forEachLimit(byHost, 4, async ([host, files]) => {
    const written = await syncFiles(ctx.remote(host), await withContent(files));
    if (written.length) t.log(`${written.length} file(s): ${written.join(' ')}`, { host });
    t.progress(++n, byHost.length, host);
  });
}
