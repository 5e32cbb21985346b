// Growing, shrinking and repairing a live lab (the article's §2.1 and §5), through the same
// idempotent plan `up` runs, with the recorded spec changed to match:
//   add      a worker (joins) or a master (etcd member add first, then the control plane);
//   remove   a node is drained and deleted; a master's etcd member is removed first, and a
//            removal that would leave fewer healthy members than a majority is refused;
//   replace  a new host with the same name and address takes over the old one's etcd disks
//            (data and snapshots) and rejoins: with its data, as the member it was; without
//            (a wiped disk), as a new member (the disk-loss procedure: member remove + add).
// The spec changes only when the machine matches it: an added host is in the spec before it is
// made (so `down` always finds it), a removed one leaves the spec only once it is gone.
import { X509Certificate } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostRole, HostSpec, LabSpec } from '../api/types.ts';
import { runSteps, type Emit, type RunResult, type Step } from '../engine/runner.ts';
import type { LabContext } from '../engine/context.ts';
import { LabHandle, ownInterfaces } from '../engine/handle.ts';
import { labPlan } from '../engine/plan.ts';
import { up } from '../engine/up.ts';
import { HalabError } from '../errors.ts';
import { kubectl } from '../k8s/kubectl.ts';
import { poll } from '../util/poll.ts';
import { machineNetworks } from '../machine.ts';
import { addressAt, formatIPv4, parseCidr } from '../spec/net.ts';
import { quorum } from '../spec/quorum.ts';
import { masterHosts } from '../spec/roles.ts';
import { ROLE_OFFSETS, ROLE_PREFIXES } from '../spec/schema.ts';
import { validateSpec } from '../spec/validate.ts';
import { etcdEndpointsStatus, etcdctlExec, type EtcdMemberStatus } from '../steps/etcd/etcdctl.ts';
import { etcdPeerURL } from '../steps/pki/kubeadm-config.ts';
import { healthyVia, memberList, withEtcdJoin } from './etcd-join.ts';
import { localPki } from '../steps/pki/paths.ts';
import { acquireLock, readState, writeState } from '../state/store.ts';
import { recordAction } from './actions.ts';
import { diagnoseDataLoss, etcdDataCheck } from './diagnose.ts';

/** The disks a replaced host keeps (the rest belong to the machine that died). */
export const KEPT_DISKS = ['etcd-data', 'etcd-snapshots'];

// ---------------------------------------------------------------------------------------------
// The spec
// ---------------------------------------------------------------------------------------------

/**
 * The spec with one more host of `role` (pure): named `name` or the next free `w3`/`m4`/`lb3`,
 * at the lowest free address of its role's block (.31+ for workers), right after the last host
 * of its role. Errors: HOST_EXISTS, NO_ADDRESS.
 */
export function withHost(spec: LabSpec, role: HostRole, name?: string): { spec: LabSpec; host: HostSpec } {
  const prefix = ROLE_PREFIXES[role];
  let hostName = name;
  if (!hostName) {
    let n = 1;
    while (spec.hosts.some((h) => h.name === `${prefix}${n}`)) n++;
    hostName = `${prefix}${n}`;
  }
  if (spec.hosts.some((h) => h.name === hostName))
    throw new HalabError('HOST_EXISTS', `lab ${spec.name} already has a host ${hostName}`, {
      fix: 'give another name, or none (the next free one is taken)',
    });
  const cidr = parseCidr(spec.subnet)!;
  const taken = new Set([...spec.hosts.map((h) => h.address), spec.vip]);
  const size = 2 ** (32 - cidr.prefix);
  let address: string | undefined;
  for (let off = ROLE_OFFSETS[role]; off < size - 1 && !address; off++) {
    const a = formatIPv4(addressAt(cidr, off));
    if (!taken.has(a)) address = a;
  }
  if (!address)
    throw new HalabError('NO_ADDRESS', `no free address left in ${spec.subnet} for another ${role}`, {
      fix: 'remove a host first',
    });
  const host: HostSpec = { name: hostName, role, address };
  const last = spec.hosts.map((h) => h.role).lastIndexOf(role);
  const hosts = [...spec.hosts];
  hosts.splice(last < 0 ? hosts.length : last + 1, 0, host);
  return { spec: { ...spec, hosts }, host };
}

/** Remove the lab's apiserver serving certificate (and key) when it does not cover `address`. */
async function forgetApiserverCert(dir: string, address: string): Promise<void> {
  const c = localPki(dir).clusterDir;
  const pem = await readFile(join(c, 'apiserver.crt')).catch(() => undefined);
  if (!pem || new X509Certificate(pem).checkIP(address)) return;
  await rm(join(c, 'apiserver.crt'), { force: true });
  await rm(join(c, 'apiserver.key'), { force: true });
}

/** The spec without `host` (pure). */
export function withoutHost(spec: LabSpec, host: string): LabSpec {
  return { ...spec, hosts: spec.hosts.filter((h) => h.name !== host) };
}

/** Validate a changed spec against this machine (the lab's own interfaces are not "taken"). */
async function checkSpec(spec: LabSpec, lab: LabContext): Promise<LabSpec> {
  const v = validateSpec(spec, await machineNetworks(await ownInterfaces(spec.name)));
  const errors = [...v.issues, ...lab.bootstrap.specIssues(spec)].filter((i) => i.severity === 'error');
  if (!v.spec || errors.length)
    throw new HalabError('SPEC_INVALID', `the lab would not be valid: ${errors.map((e) => e.message).join('; ')}`, {
      fix: errors[0]?.fix,
    });
  return v.spec;
}

// ---------------------------------------------------------------------------------------------
// etcd membership
// ---------------------------------------------------------------------------------------------

/** What a removal of `victim` would do to etcd (pure): refused when it would break quorum. */
export function removalQuorum(
  masters: string[],
  members: Pick<EtcdMemberStatus, 'name' | 'healthy'>[],
  victim: string,
): { ok: boolean; message: string } {
  const now = quorum(masters.length);
  const healthy = members.filter((m) => m.healthy).map((m) => m.name);
  const after = quorum(masters.length - 1);
  const healthyAfter = healthy.filter((m) => m !== victim);
  const figures = `now ${now.members} members (majority ${now.majority}, tolerates ${now.tolerated}), ${healthy.length} healthy${healthy.length ? ` (${healthy.join(', ')})` : ''}; after: ${after.members} members (majority ${after.majority}, tolerates ${after.tolerated}), ${healthyAfter.length} healthy`;
  if (masters.length <= 1)
    return { ok: false, message: `${victim} is the last master: etcd and the API would be gone (${figures})` };
  if (healthy.length < now.majority)
    return {
      ok: false,
      message: `etcd has no quorum now (${figures}): a member cannot be removed without one`,
    };
  if (healthyAfter.length < after.majority)
    return {
      ok: false,
      message: `removing ${victim} would leave ${healthyAfter.length} healthy member${healthyAfter.length === 1 ? '' : 's'} of ${after.members}, fewer than a majority (${after.majority}): etcd would lose quorum (${figures})`,
    };
  return { ok: true, message: figures };
}

// ---------------------------------------------------------------------------------------------
// The operations
// ---------------------------------------------------------------------------------------------

export interface MembershipOptions {
  emit: Emit;
  signal?: AbortSignal;
}

/**
 * Delete a node's Node object (drained first when asked); a node that is not registered is fine.
 * Retried for a while: right after a master died, requests can hang on its etcd member.
 */
async function deleteNode(lab: LabContext, node: string, o: { drain: boolean; log: (m: string) => void }) {
  let last = '';
  const api = async (args: string[], timeoutMs = 60_000) => {
    const r = await kubectl(lab, args, { allowFail: true, timeoutMs, requestTimeoutS: 20 });
    last = r.stderr.trim().split('\n').pop() ?? '';
    return r;
  };
  const registered = await poll({
    what: `the API to answer about node ${node}`,
    check: async () => {
      const r = await api(['get', 'node', node, '-o', 'name']);
      if (r.exitCode === 0) return 'yes';
      return /NotFound/.test(r.stderr) ? 'no' : undefined;
    },
    timeoutMs: 120_000,
    intervalMs: 2000,
    detail: () => last,
    fix: 'the API must answer through the VIP: `halab status`',
  });
  if (registered === 'no') return;
  if (o.drain) {
    const d = await api(
      ['drain', node, '--ignore-daemonsets', '--delete-emptydir-data', '--force', '--timeout=120s'],
      150_000,
    );
    o.log(d.exitCode === 0 ? `node ${node} drained` : `drain of ${node} incomplete: ${last}`);
  }
  await poll({
    what: `node ${node} deleted`,
    check: async () => (await api(['delete', 'node', node, '--ignore-not-found', '--wait=false'])).exitCode === 0,
    timeoutMs: 120_000,
    intervalMs: 2000,
    detail: () => last,
  });
  o.log(`node ${node} deleted`);
}

/**
 * The steps of `up` on `spec` for a lab whose cluster exists: the data check first when `check`;
 * the etcd join steps for `join`; never kubeadm's `init` again (a replaced first master joins the
 * cluster like the others: `init` would make a new one), and a replaced first master gets what
 * the join secrets are refreshed with there (the init configuration and the admin kubeconfig).
 */
function plan(
  lab: LabContext,
  spec: LabSpec,
  o: { check: boolean; join?: string[]; fresh?: string; lost?: string[] },
): Step<LabContext>[] {
  let steps = labPlan(spec, { provider: lab.provider, bootstrap: lab.bootstrap });
  if (spec.bootstrap === 'kubeadm') {
    steps = steps.filter((s) => s.id !== 'kubeadm:init');
    const first = masterHosts(spec)[0]?.name;
    if (o.fresh && o.fresh === first) {
      const at = steps.findIndex((s) => s.id === 'kubeadm:join');
      steps.splice(at < 0 ? steps.length : at, 0, firstMasterFiles(first));
    }
  }
  return [...(o.check ? [etcdDataCheck] : []), ...(o.join?.length ? withEtcdJoin(steps, o.join, o.lost) : steps)];
}

/**
 * kubeadm: the join secrets (token, uploaded certificates) are made again, when expired, with
 * `kubeadm` on the first master, which reads the init configuration and the admin kubeconfig
 * `kubeadm init` left there; a replaced first master starts without them.
 */
function firstMasterFiles(host: string): Step<LabContext> {
  return {
    id: 'kubeadm:first-master-files',
    title: `Give the new ${host} the kubeadm init configuration and the admin kubeconfig (for the join secrets)`,
    run: async (lab) => {
      const [{ renderInit, INIT_CONFIG }, { ensureSecrets }, { adminKubeconfig }] = await Promise.all([
        import('../bootstraps/kubeadm/config.ts'),
        import('../bootstraps/kubeadm/secrets.ts'),
        import('../k8s/kubectl.ts'),
      ]);
      const r = lab.remote(host);
      await r.exec(`mkdir -p ${INIT_CONFIG.replace(/\/[^/]+$/, '')}`);
      await r.upload(INIT_CONFIG, renderInit(lab.state.spec, await ensureSecrets(lab)), 0o600);
      await r.upload('/etc/kubernetes/admin.conf', await readFile(adminKubeconfig(lab.dir)), 0o600);
    },
  };
}

/**
 * Add a host of `role` to the live lab `name` (see the file's header). The spec is recorded
 * first, then `up` makes and joins it. Errors: NO_LAB, HOST_EXISTS, NO_ADDRESS, SPEC_INVALID.
 */
export async function addHost(
  name: string,
  role: 'worker' | 'master',
  hostName: string | undefined,
  o: MembershipOptions,
): Promise<RunResult & { host: HostSpec }> {
  const lab = await LabHandle.open(name);
  let host: HostSpec;
  let spec: LabSpec;
  try {
    ({ spec, host } = withHost(lab.state.spec, role, hostName));
    spec = await checkSpec(spec, lab);
    if (role === 'master') await healthyVia(lab, []); // a member can only be added with quorum
  } finally {
    await lab.close();
  }
  const release = await acquireLock(name, `add ${host.name}`);
  try {
    const state = (await readState(name))!;
    state.spec = spec;
    await writeState(state);
    // the apiserver's serving certificate names every master's address: one that does not name
    // the new master is made again by the PKI step (and copied to every master, whose apiserver
    // picks the new file up by itself)
    if (role === 'master') await forgetApiserverCert(lab.dir, host.address);
  } finally {
    await release();
  }
  await recordAction(lab.dir, {
    kind: 'info',
    label: `${host.name} (${role}, ${host.address}) added`,
    host: host.name,
    command: `halab add ${role} ${host.name}`,
  });
  const res = await up(spec, {
    emit: o.emit,
    signal: o.signal,
    plan: plan(lab, spec, { check: true, join: role === 'master' ? [host.name] : [] }),
  });
  return { ...res, host };
}

/**
 * What removing `host` from lab `name` would do, or why it is refused (checked before anything
 * changes). Errors: NO_LAB, NO_HOST, REMOVE_REFUSED (with the quorum figures), SPEC_INVALID.
 */
export async function checkRemoval(name: string, host: string): Promise<{ spec: LabSpec; quorum?: string }> {
  const lab = await LabHandle.open(name);
  try {
    const h = lab.state.spec.hosts.find((x) => x.name === host);
    if (!h)
      throw new HalabError('NO_HOST', `lab ${name} has no host ${host}`, {
        fix: `hosts: ${lab.state.spec.hosts.map((x) => x.name).join(', ')}`,
      });
    let figures: string | undefined;
    if (h.role === 'master') {
      const members = await etcdEndpointsStatus(lab).catch(() => [] as EtcdMemberStatus[]);
      const masters = masterHosts(lab.state.spec).map((m) => m.name);
      const q = removalQuorum(masters, members, host);
      if (!q.ok)
        throw new HalabError('REMOVE_REFUSED', `${host} is not removed: ${q.message}`, {
          fix: `bring the other members back first (\`halab heal\`, or \`halab replace\` a dead master), then remove ${host}`,
        });
      figures = q.message;
    }
    const spec = withoutHost(lab.state.spec, host);
    const v = validateSpec(spec, { cidrs: [] });
    const errors = v.issues.filter((i) => i.severity === 'error');
    if (errors.length)
      throw new HalabError('REMOVE_REFUSED', `${host} is not removed: ${errors.map((e) => e.message).join('; ')}`, {
        fix: errors[0]?.fix,
      });
    return { spec, quorum: figures };
  } finally {
    await lab.close();
  }
}

/**
 * Remove `host` from the live lab `name`: drain and delete its node, remove its etcd member (a
 * master), remove it from this machine, then the spec, then `up` on the smaller lab (the load
 * balancers and the other members forget it). Refused before anything changes when it would
 * break quorum (checkRemoval).
 */
export async function removeHost(
  name: string,
  host: string,
  o: MembershipOptions,
): Promise<{ removal: RunResult; up?: RunResult }> {
  const { spec } = await checkRemoval(name, host);
  const lab = await LabHandle.open(name);
  const role = lab.state.spec.hosts.find((x) => x.name === host)!.role;
  let removal: RunResult;
  const release = await acquireLock(name, `remove ${host}`);
  try {
    const steps: Step<LabHandle>[] = [];
    if (role !== 'lb' && lab.bootstrap.nodeNames(lab.state.spec).includes(host))
      steps.push({
        id: 'remove:node',
        title: `Drain node ${host} and delete it`,
        run: (l, t) => deleteNode(l, host, { drain: true, log: (m) => t.log(m, { host }) }),
      });
    if (role === 'master')
      steps.push({
        id: 'remove:etcd-member',
        title: `Remove ${host}'s etcd member (etcdctl member remove)`,
        run: async (l, t) => {
          const via = await healthyVia(l, [host]);
          const entry = (await memberList(l, via)).find(
            (m) =>
              m.name === host ||
              m.peerURLs.includes(etcdPeerURL(l.state.spec.hosts.find((x) => x.name === host)!.address)),
          );
          if (!entry) return t.log('not a member (any more)', { host });
          await etcdctlExec(l, via, ['member', 'remove', entry.hexId], { commandTimeoutS: 8 });
          t.log(`member ${entry.hexId} removed (through ${via})`, { host });
        },
      });
    steps.push({
      id: 'remove:host',
      title: `Remove ${host} from this machine (processes, namespaces, cable, disks, files)`,
      run: async (l, t) => {
        await l.close();
        await l.provider.removeHost(l, host, { log: (m) => t.log(m, { host }) });
      },
    });
    steps.push({
      id: 'remove:spec',
      title: `Record the lab without ${host}`,
      run: async (l) => {
        l.state.spec = spec;
        await l.save();
      },
    });
    removal = await runSteps({ lab: name, action: `remove ${host}`, steps, ctx: lab, emit: o.emit, signal: o.signal });
  } finally {
    await lab.close();
    await release();
  }
  if (!removal.ok) return { removal };
  await recordAction(lab.dir, { kind: 'info', label: `${host} removed`, host, command: `halab remove ${host}` });
  const res = await up(spec, { emit: o.emit, signal: o.signal, plan: plan(lab, spec, { check: true }) });
  return { removal, up: res };
}

/**
 * Replace `host` of lab `name` with a new one of the same name and address (see the file's
 * header): the old one is removed from this machine (a master keeps its etcd disks), its node
 * deleted, its host key forgotten; then `up` makes the new one and joins it. Refused when a
 * master without data could not join (no quorum among the others).
 */
export async function replaceHost(
  name: string,
  host: string,
  o: MembershipOptions,
): Promise<{ removal: RunResult; up?: RunResult }> {
  const lab = await LabHandle.open(name);
  const spec = lab.state.spec;
  const h = spec.hosts.find((x) => x.name === host);
  if (!h) {
    await lab.close();
    throw new HalabError('NO_HOST', `lab ${name} has no host ${host}`, {
      fix: `hosts: ${spec.hosts.map((x) => x.name).join(', ')}`,
    });
  }
  let removal: RunResult;
  let lost: string[] = [];
  const release = await acquireLock(name, `replace ${host}`);
  try {
    if (h.role === 'master') {
      // a member that lost its data (crash-looping on an empty data dir) rejoins as a new member:
      // what it wrote since on its disk A is not its data (a dead host cannot be asked: its disk is trusted)
      lost = (await diagnoseDataLoss(lab).catch(() => [])).filter((d) => d.master === host).map((d) => d.master);
      // the others must hold a quorum: they are what the new member joins
      const members = await etcdEndpointsStatus(lab).catch(() => [] as EtcdMemberStatus[]);
      const others = members.filter((m) => m.name !== host && m.healthy).length;
      const q = quorum(masterHosts(spec).length);
      if (others < q.majority)
        throw new HalabError(
          'REPLACE_REFUSED',
          `${host} is not replaced: only ${others} other member${others === 1 ? ' is' : 's are'} healthy, and ${q.majority} of ${q.members} are needed for it to rejoin`,
          { fix: 'etcd has lost quorum: `halab snapshot restore` (then replace the host if it is still broken)' },
        );
    }
    const steps: Step<LabHandle>[] = [];
    if (h.role !== 'lb' && lab.bootstrap.nodeNames(spec).includes(host))
      steps.push({
        id: 'replace:node',
        title: `Delete node ${host} (the new host joins under the same name)`,
        run: (l, t) => deleteNode(l, host, { drain: false, log: (m) => t.log(m, { host }) }),
      });
    steps.push({
      id: 'replace:old-host',
      title: `Remove the old ${host} from this machine${h.role === 'master' ? ' and keep its disks A and B' : ''}`,
      run: async (l, t) => {
        await l.close();
        await l.provider.removeHost(l, host, {
          keepDisks: h.role === 'master' ? KEPT_DISKS : [],
          log: (m) => t.log(m, { host }),
        });
      },
    });
    removal = await runSteps({ lab: name, action: `replace ${host}`, steps, ctx: lab, emit: o.emit, signal: o.signal });
  } finally {
    await lab.close();
    await release();
  }
  if (!removal.ok) return { removal };
  await recordAction(lab.dir, {
    kind: 'recovery',
    label: `${host} replaced by a new host${h.role === 'master' ? ` with ${host}'s disks` : ''}`,
    host,
    command: `halab replace ${host}`,
  });
  const res = await up(spec, {
    emit: o.emit,
    signal: o.signal,
    plan: plan(lab, spec, { check: false, join: h.role === 'master' ? [host] : [], fresh: host, lost }),
  });
  return { removal, up: res };
}

/** A host of `spec` by name (for callers that validate input). */
export function hostNamed(spec: LabSpec, name: string): HostSpec | undefined {
  return spec.hosts.find((h) => h.name === name);
}
