// Generate the lab's PKI on the machine with kubeadm's own phases, into <labdir>/pki.
//
// How this differs from a real `kubeadm init` / `kubeadm join --control-plane`, and why:
//   - kubeadm generates certificates ON each master (init on the first, join on the others,
//     which fetch the shared CA keys from the `kubeadm-certs` Secret that `--upload-certs`
//     wrote). Here every certificate is generated once on the machine and copied to the hosts
//     over SFTP: the same end state as --upload-certs (every master holds the same CAs), without
//     needing a running cluster to pass the keys through, and the machine keeps the CA keys
//     (resume after a crash, drills that replace a host, per-node kubelet identities).
//   - ONE apiserver certificate serves every master: its SANs list the VIP, every master address
//     and name (kubeadm would make one per master on join, each with that master's address).
//   - etcd is external to kubeadm (an s6 service per master, not a static pod), so kubeadm skips
//     its etcd phases; they are run with a second, local-etcd config per master, as kubeadm's
//     "Set up a High Availability etcd cluster with kubeadm" guide does. The etcd CA key never
//     leaves the machine (kubeadm's external-etcd mode assumes the same: the etcd CA is not its).
//   - every kubeconfig points at https://VIP:6443. kubeadm 1.34 writes controller-manager.conf,
//     scheduler.conf and (`init phase kubeconfig kubelet`, control-plane local mode) kubelet.conf
//     with the node's own advertise address (checked: https://<advertiseAddress>:6443); the lab's
//     rule is that every client goes through the load balancer, so the server line is rewritten
//     after kubeadm wrote the file (the embedded CA and client certificate do not depend on it).
//     admin.conf and super-admin.conf already use controlPlaneEndpoint = VIP:6443.
//   - kubelet.conf is a long-lived client certificate per node name (kubeadm's
//     `kubeconfig kubelet` phase), not the bootstrap-token + CSR flow of `kubeadm join`.
//   - admin.conf's identity is the group kubeadm:cluster-admins (kubeadm >= 1.29), which only has
//     rights once the ClusterRoleBinding kubeadm:cluster-admins exists; `kubeadm init` creates it
//     with super-admin.conf (group system:masters). A bootstrap that does not run `kubeadm init`
//     must create it too (see createAdminBindingCommand).

import { X509Certificate, createHash, createPublicKey } from 'node:crypto';
import { promises as fs, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import type { LabSpec } from '../../api/types.ts';
import { binaryPath } from '../../artifacts/kubernetes.ts';
import { forEachLimit, type StepTools } from '../../engine/runner.ts';
import { HalabError } from '../../errors.ts';
import { run } from '../../exec/local.ts';
import { controlPlaneEndpoint, renderClusterConfig, renderEtcdCertConfig, renderNodeConfig } from './kubeadm-config.ts';
import { localPki, type LocalPki } from './paths.ts';
import { masterHosts, workerHosts } from '../../spec/roles.ts';

export type KubeconfigName = 'admin' | 'super-admin' | 'controller-manager' | 'scheduler';
export const CONTROL_PLANE_KUBECONFIGS: KubeconfigName[] = ['admin', 'super-admin', 'controller-manager', 'scheduler'];

/** One kubeadm invocation and the files it must leave behind. */
export interface PkiTask {
  id: string;
  /** kubeadm arguments after the binary (without --config). */
  args: string[];
  /** Which rendered config it runs with (a file under configDir). */
  config: string;
  /** Absolute paths it produces; the task is skipped when all exist. */
  outputs: string[];
  /** A certificate authority: never regenerated once its certificate exists. */
  ca?: boolean;
  /** etcd member phases need the etcd CA copied into their certificatesDir first. */
  member?: string;
  /** kubeconfig phases: generated into a temp dir, then checked/rewritten and moved into place. */
  kubeconfig?: { name: string; dir: string };
}

const pair = (dir: string, base: string) => [join(dir, `${base}.crt`), join(dir, `${base}.key`)];

/** Config file names under configDir. */
export const configFile = {
  cluster: 'cluster.yaml',
  etcdCa: 'etcd-ca.yaml',
  member: (m: string) => `etcd-${m}.yaml`,
  node: (n: string) => `node-${n}.yaml`,
};

/** Every generation config, rendered (file name under configDir -> content). */
export function renderGenerationConfigs(
  spec: LabSpec,
  pki: LocalPki,
  nodes: string[] = workerHosts(spec).map((w) => w.name),
): Map<string, string> {
  const ms = masterHosts(spec);
  const first = ms[0];
  if (!first) throw new HalabError('BAD_SPEC', `lab ${spec.name} has no master`);
  const out = new Map<string, string>();
  out.set(configFile.cluster, renderClusterConfig(spec, first.name, { certificatesDir: pki.clusterDir }));
  out.set(configFile.etcdCa, renderEtcdCertConfig(spec, first.name, { certificatesDir: pki.clusterDir }));
  for (const m of ms)
    out.set(configFile.member(m.name), renderEtcdCertConfig(spec, m.name, { certificatesDir: pki.memberDir(m.name) }));
  for (const n of nodes) out.set(configFile.node(n), renderNodeConfig(spec, n, { certificatesDir: pki.clusterDir }));
  return out;
}

/** The ordered kubeadm runs that make the whole PKI (pure). */
export function pkiTasks(
  spec: LabSpec,
  pki: LocalPki,
  nodes: string[] = workerHosts(spec).map((w) => w.name),
): PkiTask[] {
  const c = pki.clusterDir;
  const e = join(c, 'etcd');
  const certs = (phase: string, config: string, outputs: string[], extra: Partial<PkiTask> = {}): PkiTask => ({
    id: `certs ${phase}${extra.member ? ` (${extra.member})` : ''}`,
    args: ['init', 'phase', 'certs', phase],
    config,
    outputs,
    ...extra,
  });
  const tasks: PkiTask[] = [
    certs('ca', configFile.cluster, pair(c, 'ca'), { ca: true }),
    certs('apiserver', configFile.cluster, pair(c, 'apiserver')),
    certs('apiserver-kubelet-client', configFile.cluster, pair(c, 'apiserver-kubelet-client')),
    certs('front-proxy-ca', configFile.cluster, pair(c, 'front-proxy-ca'), { ca: true }),
    certs('front-proxy-client', configFile.cluster, pair(c, 'front-proxy-client')),
    certs('sa', configFile.cluster, [join(c, 'sa.key'), join(c, 'sa.pub')], { ca: true }),
    certs('etcd-ca', configFile.etcdCa, pair(e, 'ca'), { ca: true }),
    certs('etcd-healthcheck-client', configFile.etcdCa, pair(e, 'healthcheck-client')),
    certs('apiserver-etcd-client', configFile.etcdCa, pair(c, 'apiserver-etcd-client')),
  ];
  for (const m of masterHosts(spec)) {
    const d = join(pki.memberDir(m.name), 'etcd');
    tasks.push(certs('etcd-server', configFile.member(m.name), pair(d, 'server'), { member: m.name }));
    tasks.push(certs('etcd-peer', configFile.member(m.name), pair(d, 'peer'), { member: m.name }));
  }
  for (const k of CONTROL_PLANE_KUBECONFIGS) {
    tasks.push({
      id: `kubeconfig ${k}`,
      args: ['init', 'phase', 'kubeconfig', k],
      config: configFile.cluster,
      outputs: [join(pki.kubeconfigDir, `${k}.conf`)],
      kubeconfig: { name: `${k}.conf`, dir: pki.kubeconfigDir },
    });
  }
  for (const n of nodes) tasks.push(kubeletTask(pki, n));
  return tasks;
}

/** kubeadm runs at a time once the CAs exist. */
export const PKI_PARALLEL = 2;

/**
 * The tasks that may run side by side (pure): one batch per etcd member (its runs share the
 * member's directory and temporary CA copy), one batch for every other task. Order is kept.
 */
export function pkiBatches(tasks: PkiTask[]): PkiTask[][] {
  const byMember = new Map<string, PkiTask[]>();
  const out: PkiTask[][] = [];
  for (const task of tasks) {
    if (!task.member) {
      out.push([task]);
      continue;
    }
    let batch = byMember.get(task.member);
    if (!batch) {
      batch = [];
      byMember.set(task.member, batch);
      out.push(batch);
    }
    batch.push(task);
  }
  return out;
}

function kubeletTask(pki: LocalPki, node: string): PkiTask {
  return {
    id: `kubeconfig kubelet (${node})`,
    args: ['init', 'phase', 'kubeconfig', 'kubelet'],
    config: configFile.node(node),
    outputs: [join(pki.nodeDir(node), 'kubelet.conf')],
    kubeconfig: { name: 'kubelet.conf', dir: pki.nodeDir(node) },
  };
}

/**
 * Point a kubeconfig's (single) cluster at `server`. Returns the new text; only the server
 * field changes (the embedded CA and client certificate are independent of the address).
 */
export function setKubeconfigServer(text: string, server: string): string {
  const doc = parseDocument(text);
  const clusters = doc.get('clusters', true) as { items?: unknown[] } | undefined;
  const n = clusters?.items?.length ?? 0;
  if (n !== 1) throw new HalabError('PKI_KUBECONFIG', `expected one cluster in the kubeconfig, found ${n}`);
  // edit the one line, keeping kubeadm's formatting; then check the result says what we meant
  const lines = text.split('\n');
  const idx = lines.map((l, i) => (/^\s+server:\s*\S+\s*$/.test(l) ? i : -1)).filter((i) => i >= 0);
  if (idx.length !== 1)
    throw new HalabError('PKI_KUBECONFIG', `expected one server line in the kubeconfig, found ${idx.length}`);
  const i = idx[0] as number;
  lines[i] = (lines[i] as string).replace(/server:\s*\S+/, `server: ${server}`);
  const out = lines.join('\n');
  if (kubeconfigServer(out) !== server)
    throw new HalabError('PKI_KUBECONFIG', 'could not rewrite the kubeconfig server');
  return out;
}

export function kubeconfigServer(text: string): string | undefined {
  const v = parseDocument(text).getIn(['clusters', 0, 'cluster', 'server']);
  return typeof v === 'string' ? v : undefined;
}

export function kubeadmPath(spec: LabSpec): string {
  return binaryPath('kubeadm', spec.kubernetesVersion);
}

async function exists(p: string) {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}

async function writeIfChanged(path: string, content: string, mode: number) {
  const cur = await fs.readFile(path, 'utf8').catch(() => undefined);
  if (cur === content) return;
  const tmp = `${path}.tmp-${process.pid}`;
  await fs.writeFile(tmp, content, { mode });
  await fs.rename(tmp, path);
}

export interface GenerateOptions {
  /** kubeadm binary (default: the cached build of spec.kubernetesVersion). */
  kubeadm?: string;
  /** Node names that get a kubelet.conf (default: the spec's workers). */
  nodes?: string[];
  /** Check chains and names after generating (default true; tests with a stub kubeadm turn it off). */
  check?: boolean;
}

/** True when every file of the PKI exists locally (generation has nothing left to do). */
export async function pkiGenerated(spec: LabSpec, labDir: string, o: GenerateOptions = {}): Promise<boolean> {
  const pki = localPki(labDir);
  for (const t of pkiTasks(spec, pki, o.nodes)) for (const f of t.outputs) if (!(await exists(f))) return false;
  return true;
}

/**
 * Run every missing kubeadm phase (idempotent). An existing CA is never regenerated: a CA whose
 * certificate exists but whose key is gone is an error (everything signed by it would be
 * orphaned); a key without its certificate is from a crash before anything could be signed, and is
 * replaced. Half-written leaf pairs are regenerated.
 */
export async function generatePki(
  spec: LabSpec,
  labDir: string,
  t: Pick<StepTools, 'log' | 'progress'>,
  o: GenerateOptions = {},
): Promise<void> {
  const kubeadm = o.kubeadm ?? kubeadmPath(spec);
  if (!existsSync(kubeadm)) {
    throw new HalabError('KUBEADM_MISSING', `kubeadm ${spec.kubernetesVersion} is not at ${kubeadm}`, {
      fix: 'get the Kubernetes binaries first (halab fetches or builds them into the cache)',
    });
  }
  const pki = localPki(labDir);
  for (const d of [pki.root, pki.configDir, pki.clusterDir, pki.kubeconfigDir])
    await fs.mkdir(d, { recursive: true, mode: 0o700 });
  await fs.chmod(pki.root, 0o700);
  for (const [name, content] of renderGenerationConfigs(spec, pki, o.nodes)) {
    await writeIfChanged(join(pki.configDir, name), content, 0o600);
  }
  const tasks = pkiTasks(spec, pki, o.nodes);
  let n = 0;
  const ensure = async (task: PkiTask) => {
    t.progress(n++, tasks.length, task.id);
    const present = await Promise.all(task.outputs.map(exists));
    if (present.every(Boolean)) return;
    if (task.ca && present.some(Boolean) && task.id === 'certs sa') {
      const [key, pub] = task.outputs as [string, string];
      if (await exists(key)) {
        // never replace a signing key: derive the missing public half from it
        t.log('sa.pub is missing: deriving it from sa.key', { level: 'warn' });
        const pem = createPublicKey(await fs.readFile(key)).export({ type: 'spki', format: 'pem' });
        await fs.writeFile(pub, pem, { mode: 0o600 });
        return;
      }
      await fs.rm(pub, { force: true });
    } else if (task.ca && present.some(Boolean)) {
      const [cert, key] = task.outputs as [string, string];
      if (!(await exists(cert))) {
        // a CA key without its certificate: the run died before anything could be signed with it
        t.log(`removing the incomplete ${task.id} left by an interrupted run`, { level: 'warn' });
        await fs.rm(key, { force: true });
      } else {
        throw new HalabError('PKI_CA_KEY_LOST', `${cert} exists but its key ${key} is missing`, {
          fix: `restore the key, or remove ${pki.root} to make a new PKI (every host then needs the new certificates)`,
        });
      }
    } else if (present.some(Boolean)) {
      for (const f of task.outputs) await fs.rm(f, { force: true });
    }
    await runTask(kubeadm, spec, pki, task, t);
  };
  // the CAs first (independent of each other), then everything they sign, two kubeadm runs at a
  // time (key generation is CPU-bound: one per core). A member's two runs share its temporary
  // copy of the etcd CA, so they stay together, in order.
  await forEachLimit(
    tasks.filter((x) => x.ca),
    PKI_PARALLEL,
    ensure,
  );
  await forEachLimit(pkiBatches(tasks.filter((x) => !x.ca)), PKI_PARALLEL, async (batch) => {
    for (const task of batch) await ensure(task);
  });
  t.progress(tasks.length, tasks.length);
  const problems = o.check === false ? [] : await checkPki(spec, labDir, o.nodes);
  if (problems.length) {
    throw new HalabError('PKI_INVALID', 'the generated PKI is inconsistent', {
      details: problems.join('\n'),
      fix: `inspect ${pki.root}`,
    });
  }
}

async function runTask(kubeadm: string, spec: LabSpec, pki: LocalPki, task: PkiTask, t: Pick<StepTools, 'log'>) {
  const config = join(pki.configDir, task.config);
  t.log(`kubeadm ${task.args.join(' ')} --config ${task.config}`);
  if (task.member) {
    // the member's certificatesDir gets the etcd CA for the duration of the run only
    const d = join(pki.memberDir(task.member), 'etcd');
    await fs.mkdir(d, { recursive: true, mode: 0o700 });
    await fs.copyFile(join(pki.clusterDir, 'etcd', 'ca.crt'), join(d, 'ca.crt'));
    await fs.copyFile(join(pki.clusterDir, 'etcd', 'ca.key'), join(d, 'ca.key'));
    await fs.chmod(join(d, 'ca.key'), 0o600);
    try {
      await run(kubeadm, [...task.args, '--config', config], { timeoutMs: 120_000 });
    } finally {
      await fs.rm(join(d, 'ca.key'), { force: true });
    }
    return;
  }
  if (task.kubeconfig) {
    const { name, dir } = task.kubeconfig;
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = await fs.mkdtemp(join(dir, '.tmp-'));
    try {
      await run(kubeadm, [...task.args, '--config', config, '--kubeconfig-dir', tmp], { timeoutMs: 120_000 });
      const text = await fs.readFile(join(tmp, name), 'utf8');
      const want = `https://${controlPlaneEndpoint(spec)}`;
      const out = kubeconfigServer(text) === want ? text : setKubeconfigServer(text, want);
      if (out !== text)
        t.log(`${name}: server ${kubeconfigServer(text)} -> ${want} (everything goes through the load balancer)`);
      await fs.writeFile(join(tmp, name), out, { mode: 0o600 });
      await fs.rename(join(tmp, name), join(dir, name));
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
    return;
  }
  await run(kubeadm, [...task.args, '--config', config], { timeoutMs: 120_000 });
}

// ---------------------------------------------------------------------------------------------
// Consistency check of the local PKI (chains, names): cheap, run after generation and by tests
// ---------------------------------------------------------------------------------------------

async function cert(path: string): Promise<X509Certificate> {
  return new X509Certificate(await fs.readFile(path));
}

function kubeconfigCert(text: string): { ca?: X509Certificate; client?: X509Certificate; server?: string } {
  const doc = parseDocument(text);
  const b64 = (p: (string | number)[]) => {
    const v = doc.getIn(p);
    return typeof v === 'string' ? new X509Certificate(Buffer.from(v, 'base64')) : undefined;
  };
  return {
    ca: b64(['clusters', 0, 'cluster', 'certificate-authority-data']),
    client: b64(['users', 0, 'user', 'client-certificate-data']),
    server: kubeconfigServer(text),
  };
}

/** Problems with the local PKI: signatures, member names/addresses, kubeconfig servers. Empty = fine. */
export async function checkPki(
  spec: LabSpec,
  labDir: string,
  nodes: string[] = workerHosts(spec).map((w) => w.name),
): Promise<string[]> {
  const pki = localPki(labDir);
  const c = pki.clusterDir;
  const problems: string[] = [];
  const signed = async (leaf: string, ca: string) => {
    try {
      const l = await cert(leaf);
      if (!l.verify((await cert(ca)).publicKey)) problems.push(`${leaf} is not signed by ${ca}`);
      return l;
    } catch (err) {
      problems.push(`${leaf}: ${(err as Error).message}`);
      return undefined;
    }
  };
  for (const leaf of ['apiserver', 'apiserver-kubelet-client']) await signed(join(c, `${leaf}.crt`), join(c, 'ca.crt'));
  await signed(join(c, 'front-proxy-client.crt'), join(c, 'front-proxy-ca.crt'));
  await signed(join(c, 'etcd', 'healthcheck-client.crt'), join(c, 'etcd', 'ca.crt'));
  await signed(join(c, 'apiserver-etcd-client.crt'), join(c, 'etcd', 'ca.crt'));
  const api = await cert(join(c, 'apiserver.crt')).catch(() => undefined);
  for (const m of masterHosts(spec)) {
    if (api && !api.checkIP(m.address)) problems.push(`apiserver.crt does not cover ${m.address}`);
    for (const kind of ['server', 'peer']) {
      const l = await signed(join(pki.memberDir(m.name), 'etcd', `${kind}.crt`), join(c, 'etcd', 'ca.crt'));
      if (l && !l.checkIP(m.address))
        problems.push(`etcd ${kind} certificate of ${m.name} does not cover ${m.address}`);
      if (l && !l.checkHost(m.name)) problems.push(`etcd ${kind} certificate of ${m.name} does not name ${m.name}`);
    }
  }
  if (api && !api.checkIP(spec.vip)) problems.push(`apiserver.crt does not cover the VIP ${spec.vip}`);
  const caPem = await fs.readFile(join(c, 'ca.crt'), 'utf8').catch(() => '');
  const files = [
    ...CONTROL_PLANE_KUBECONFIGS.map((k) => join(pki.kubeconfigDir, `${k}.conf`)),
    ...nodes.map((n) => join(pki.nodeDir(n), 'kubelet.conf')),
  ];
  for (const f of files) {
    try {
      const k = kubeconfigCert(await fs.readFile(f, 'utf8'));
      if (k.server !== `https://${controlPlaneEndpoint(spec)}`)
        problems.push(`${f}: server is ${k.server}, not https://${controlPlaneEndpoint(spec)}`);
      if (!k.ca || sha(k.ca.raw) !== sha(new X509Certificate(caPem).raw))
        problems.push(`${f}: embedded CA is not the cluster CA`);
      if (!k.client || !k.client.verify(new X509Certificate(caPem).publicKey))
        problems.push(`${f}: client certificate is not signed by the cluster CA`);
    } catch (err) {
      problems.push(`${f}: ${(err as Error).message}`);
    }
  }
  return problems;
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Subject of a kubeconfig's client certificate, e.g. "CN=system:node:w1\nO=system:nodes" (for tests and messages). */
export function kubeconfigSubject(text: string): string | undefined {
  return kubeconfigCert(text).client?.subject;
}

/**
 * Make (if missing) a kubelet kubeconfig for any node name, e.g. a hollow node: CN
 * system:node:<name>, O system:nodes, server https://VIP:6443. Returns its local path.
 */
export async function ensureNodeKubeconfig(
  spec: LabSpec,
  labDir: string,
  nodeName: string,
  t: Pick<StepTools, 'log'>,
  o: { kubeadm?: string } = {},
): Promise<string> {
  const pki = localPki(labDir);
  const task = kubeletTask(pki, nodeName);
  const out = task.outputs[0] as string;
  if (await exists(out)) return out;
  if (!(await exists(join(pki.clusterDir, 'ca.key')))) {
    throw new HalabError('PKI_MISSING', `lab ${spec.name} has no cluster CA yet`, { fix: 'run `halab up` first' });
  }
  await writeIfChanged(
    join(pki.configDir, task.config),
    renderNodeConfig(spec, nodeName, { certificatesDir: pki.clusterDir }),
    0o600,
  );
  await runTask(o.kubeadm ?? kubeadmPath(spec), spec, pki, task, t);
  return out;
}

/**
 * The one RBAC object `kubeadm init` creates for admin.conf (group kubeadm:cluster-admins ->
 * cluster-admin), as a kubectl command run with super-admin.conf. Needed by a bootstrap that
 * does not run `kubeadm init`.
 */
export function createAdminBindingCommand(superAdminConf = '/etc/kubernetes/super-admin.conf'): string[] {
  return [
    'kubectl',
    '--kubeconfig',
    superAdminConf,
    'create',
    'clusterrolebinding',
    'kubeadm:cluster-admins',
    '--clusterrole=cluster-admin',
    '--group=kubeadm:cluster-admins',
  ];
}
