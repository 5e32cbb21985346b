// `halab snapshot restore` and `export`: the etcd-restore drill's walkthrough as an operation of
// its own, from the snapshot the user chooses (on a master's disk B, or a file from this
// machine), without the drill's health check first: it is what brings a lab back after quorum
// is lost or data disks are wiped. The file is checked before anything is stopped (the sha256
// trailer etcd appends and `etcdctl snapshot status`), and refused, with the reason, when bad.
// Every member is then restored from that one file into a new data dir with a new cluster token,
// the control plane started on top, and every kubelet restarted so nodes and pods converge on
// the restored state (a kubelet that ran a pod the restore forgot drops it).
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { basename } from 'node:path';
import type { DrillEvent, DrillResult, Prediction } from '../api/drills.ts';
import type { LabSpec } from '../api/types.ts';
import type { Component } from '../bootstraps/types.ts';
import { executeDrill, type Drill, type DrillContext, type DrillStep } from '../drills/engine.ts';
import { writeReport } from '../drills/report.ts';
import type { LabHandle } from '../engine/handle.ts';
import type { LabContext } from '../engine/context.ts';
import { HalabError } from '../errors.ts';
import { shjoin, shq } from '../exec/types.ts';
import { kubectl, nodes } from '../k8s/kubectl.ts';
import { recordAction } from '../operate/actions.ts';
import { masterHosts } from '../spec/roles.ts';
import {
  ETCDCTL_BIN,
  clusterHealthy,
  etcdEndpointsStatus,
  etcdctlCommand,
  etcdctlExec,
  leaderOf,
  parseEndpointStatus,
} from '../steps/etcd/etcdctl.ts';
import { INITIAL_STATE_OVERRIDE, clusterToken, initialCluster } from '../steps/etcd/render.ts';
import { ETCD_DATA_DIR, etcdClientURL, etcdPeerURL } from '../steps/pki/kubeadm-config.ts';
import {
  SNAPSHOT_DIR,
  listSnapshotsReport,
  parseSnapshotList,
  scriptCommand,
  snapshotScript,
  type SnapshotInfo,
} from './snapshots.ts';

const CONTROL_PLANE: Component[] = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];
/** The snapshot schedule, when the lab has one (snapshots.intervalS > 0). */
const schedule = (spec: LabSpec): Component[] => (spec.snapshots.intervalS > 0 ? ['etcd-snapshot'] : []);

/** The snapshot a restore uses: verified good, on `master`'s disk B. */
export interface ChosenSnapshot extends SnapshotInfo {
  /** Where it came from, in words ("m2's disk B", "this machine's /root/x.db, imported onto m1"). */
  source: string;
}

export interface RestoreSource {
  /** A snapshot on a master's disk B: its file name, its path, or MASTER:PATH. Default: the newest good one. */
  snapshot?: string;
  /** A snapshot file on this machine (from `halab snapshot export`, or anywhere): imported onto a master first. */
  from?: string;
}

const snapshotName = (d = new Date()) =>
  `snap-${d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}.db`;

/** Verify one file on one master with the snapshot script (both checks); its sidecar. */
async function verifyOn(lab: LabContext, master: string, file: string): Promise<SnapshotInfo> {
  const r = await lab.remote(master).exec(scriptCommand(snapshotScript(lab.state.spec, master), ['verify', file]), {
    allowFail: true,
    timeoutMs: 120_000,
  });
  const [info] = parseSnapshotList(master, r.stdout);
  if (!info)
    throw new HalabError('SNAPSHOT_REJECTED', `${master}:${file} cannot be checked`, {
      details: (r.stderr || r.stdout).trim().slice(-600) || undefined,
      fix: 'is it on the snapshot disk, and readable? `halab snapshot list` shows every snapshot',
    });
  return info;
}

function rejected(s: SnapshotInfo, what: string): HalabError {
  return new HalabError(
    'SNAPSHOT_REJECTED',
    `${what} cannot be restored: ${s.error ?? 'it failed verification'}; nothing was stopped or changed`,
    {
      fix: 'choose a good snapshot: `halab snapshot list` shows each one with its status (restore one with --snapshot FILE)',
    },
  );
}

/** A master that is on and answers over SSH (the first one, in spec order). */
async function answeringMaster(lab: LabContext): Promise<string> {
  for (const m of masterHosts(lab.state.spec)) {
    if (!(await lab.provider.isPoweredOn(lab, m.name).catch(() => false))) continue;
    const r = await lab
      .remote(m.name)
      .exec(`mountpoint -q ${SNAPSHOT_DIR}`, { allowFail: true, timeoutMs: 10_000 })
      .catch(() => undefined);
    if (r?.exitCode === 0) return m.name;
  }
  throw new HalabError('NO_MASTER', 'no master is powered on and answering with its snapshot disk mounted', {
    fix: 'power a master on: `halab fault m1 power-on` (or `halab heal`)',
  });
}

/**
 * The snapshot to restore, checked before anything is touched (see RestoreSource). Errors:
 * SNAPSHOT_REJECTED (a bad file: the reason, nothing changed), NO_SNAPSHOT, NO_MASTER.
 */
export async function chooseSnapshot(lab: LabContext, src: RestoreSource = {}): Promise<ChosenSnapshot> {
  if (src.from) {
    const data = await fs.readFile(src.from).catch((err: NodeJS.ErrnoException) => {
      throw new HalabError('NO_FILE', `cannot read ${src.from}: ${err.code ?? err.message}`, {
        fix: 'give the path of a snapshot file on this machine (`halab snapshot export FILE -o LOCAL` makes one)',
      });
    });
    const master = await answeringMaster(lab);
    const file = `${SNAPSHOT_DIR}/${snapshotName()}`;
    const remote = lab.remote(master);
    await remote.upload(file, data, 0o600);
    // the sidecar's origin says where it came from (the script keeps it when it verifies)
    await remote.upload(
      `${file}.json`,
      `${JSON.stringify({ v: 1, file: basename(file), master, origin: 'imported' })}\n`,
      0o600,
    );
    const info = await verifyOn(lab, master, file);
    if (info.status !== 'good') {
      await remote.exec(`rm -f ${shq(file)} ${shq(`${file}.json`)}`, { allowFail: true });
      throw rejected(info, `${src.from}`);
    }
    return { ...info, source: `${src.from} from this machine, imported onto ${master}:${file}` };
  }
  const listing = await listSnapshotsReport(lab, { clusterRevision: false });
  let candidates = listing.snapshots;
  if (src.snapshot) {
    const [m, path] = src.snapshot.includes(':') ? src.snapshot.split(':', 2) : [undefined, src.snapshot];
    const name = basename(path!);
    candidates = candidates.filter((s) => (!m || s.master === m) && basename(s.file) === name);
    if (!candidates.length)
      throw new HalabError('NO_SNAPSHOT', `there is no snapshot ${src.snapshot} on a master that answers`, {
        details: listing.unreachable.map((u) => `${u.master}: ${u.error}`).join('\n') || undefined,
        fix: '`halab snapshot list` shows every snapshot (FILE is its name or path, or MASTER:PATH)',
      });
    // several masters may hold a copy (a restore leaves one on each): a good one first
    candidates.sort((a, b) => (a.status === b.status ? 0 : a.status === 'good' ? -1 : 1));
  } else {
    candidates = candidates.filter((s) => s.status === 'good').sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    if (!candidates.length)
      throw new HalabError('NO_SNAPSHOT', 'there is no good snapshot on a master that answers', {
        details: listing.unreachable.map((u) => `${u.master}: ${u.error}`).join('\n') || undefined,
        fix: 'take one (`halab snapshot save`), or restore a file from this machine with --from FILE',
      });
  }
  const pick = candidates[0]!;
  // checked again now, whatever the listing said
  const info = await verifyOn(lab, pick.master, pick.file);
  if (info.status !== 'good') throw rejected(info, `${pick.master}:${pick.file}`);
  return { ...info, source: `${pick.master}'s disk B` };
}

export function restoreToken(spec: LabSpec, runId: string): string {
  return `${clusterToken(spec)}-restore-${runId.slice(-4)}`;
}

/**
 * The restore of one member, as a script a user can paste (pure). Works on a member whose data
 * dir is gone (wiped disk) as well as on a healthy one; the previous data dir is kept as
 * DATA.pre-restore until the next restore; a disk-loss override left behind is removed (the
 * restored data dir holds the member).
 */
export function restoreMemberScript(spec: LabSpec, master: string, snapshot: string, token: string): string {
  const m = masterHosts(spec).find((h) => h.name === master)!;
  const restore = `${ETCD_DATA_DIR}.restore`;
  const previous = `${ETCD_DATA_DIR}.pre-restore`;
  const disk = ETCD_DATA_DIR.replace(/\/[^/]+$/, '');
  return [
    'set -e',
    `mountpoint -q ${disk} || { echo "${disk} (disk A) is not mounted" >&2; exit 1; }`,
    `rm -rf ${restore}`,
    `ETCDCTL_API=3 ${shjoin([
      ETCDCTL_BIN,
      'snapshot',
      'restore',
      snapshot,
      '--name',
      m.name,
      '--initial-cluster',
      initialCluster(spec),
      '--initial-cluster-token',
      token,
      '--initial-advertise-peer-urls',
      etcdPeerURL(m.address),
      '--data-dir',
      restore,
    ])}`,
    `rm -rf ${previous}`,
    `if [ -e ${ETCD_DATA_DIR} ]; then mv ${ETCD_DATA_DIR} ${previous}; fi`,
    `mv ${restore} ${ETCD_DATA_DIR}`,
    `chmod 700 ${ETCD_DATA_DIR}`,
    `rm -f ${INITIAL_STATE_OVERRIDE}`,
  ].join('\n');
}

/**
 * The drill step that restores every member from `file(ctx)` (a path on each master's disk B) with
 * restoreMemberScript, in parallel over SSH, each command shown and explained; the members swapped
 * so far are pushed to `ctx.vars.swapped` (the rollback's list). Used by `halab snapshot restore`
 * and the etcd-restore drill. Measures `restore-cmds` in s.
 */
export function restoreMembersStep(file: (ctx: DrillContext) => string): DrillStep {
  return {
    id: 'restore',
    phase: 'act',
    title: 'Restore every member into a new data dir and swap it in',
    explain: (ctx) =>
      `On every master: etcdctl snapshot restore with the member's name and peer URL, the full --initial-cluster and a NEW cluster token (${restoreToken(ctx.spec, ctx.runId)}), into ${ETCD_DATA_DIR}.restore on disk A, then swapped in; the previous data dir (if there is one) is kept as ${ETCD_DATA_DIR}.pre-restore until the next restore.`,
    run: async (ctx) => {
      const token = restoreToken(ctx.spec, ctx.runId);
      const swapped = ((ctx.vars as { swapped?: string[] }).swapped ??= []);
      const t0 = Date.now();
      await Promise.all(
        masterHosts(ctx.spec).map(async (m) => {
          await ctx.command(
            m.name,
            restoreMemberScript(ctx.spec, m.name, file(ctx), token),
            'restore this member from the snapshot into a new data dir and swap it in',
            { timeoutMs: 180_000 },
          );
          swapped.push(m.name);
        }),
      );
      ctx.measure({
        id: 'restore-cmds',
        label: 'snapshot restore + swap on every member',
        value: (Date.now() - t0) / 1000,
        unit: 's',
        how: 'in parallel over SSH',
      });
    },
  };
}

export function predictRestore(spec: LabSpec): Prediction[] {
  const members = masterHosts(spec).length;
  const etcd = members * 1 + 1 + (2 * spec.timers.etcdElectionMs) / 1000;
  return [
    {
      id: 'etcd-restore',
      label: `Restore of ${members} members (first etcd stop → restored cluster healthy)`,
      unit: 's',
      value: etcd,
      min: 1,
      margin: 30,
      formula: `stop ${members} members (≈ 1 s each) + restore and swap the data dirs on every member at once (≈ 1 s) + start and elect (up to 2 × election timeout ${spec.timers.etcdElectionMs} ms)`,
    },
  ];
}

interface Vars {
  oldClusterIds: string[];
  faultAt?: number;
  etcdStopAt?: number;
  stopped?: boolean;
  swapped: string[];
  etcdHealthyAt?: number;
  apiReadyAt?: number;
}
const v = (ctx: DrillContext) => ctx.vars as unknown as Vars;

async function clusterIds(ctx: DrillContext): Promise<string[]> {
  const endpoints = masterHosts(ctx.spec).map((m) => etcdClientURL(m.address));
  for (const m of masterHosts(ctx.spec)) {
    const r = await etcdctlExec(ctx.lab, m.name, ['endpoint', 'status', '-w', 'json'], {
      endpoints,
      allowFail: true,
      dialTimeoutS: 2,
      commandTimeoutS: 4,
    }).catch(() => undefined);
    if (!r) continue;
    const ids = [...new Set(parseEndpointStatus(r.stdout).map((e) => e.clusterId ?? '?'))];
    if (ids.length) return ids;
  }
  return [];
}

async function onMasters(ctx: DrillContext, c: Component | Component[], action: 'start' | 'stop') {
  await Promise.all(
    masterHosts(ctx.spec).map((m) =>
      ctx.lab
        .remote(m.name)
        .exec(ctx.lab.bootstrap.components.command(ctx.lab, m.name, c, action), {
          allowFail: true,
          timeoutMs: 120_000,
        })
        .catch(() => undefined),
    ),
  );
}

/**
 * Stop components gracefully; what does not stop in time is killed. Without quorum an apiserver
 * does not finish its graceful shutdown (its requests to etcd never end), and nothing it could
 * still write would count: the kill loses nothing.
 */
async function stopOrKill(ctx: DrillContext, host: string, cs: Component[], why: string): Promise<void> {
  const r = await ctx.component(host, cs, 'stop', why, { allowFail: true });
  if (r.exitCode === 0) return;
  ctx.log(
    `not stopped within the wait (${r.stderr.trim().split('\n').pop() ?? `exit ${r.exitCode}`}): killing what still runs`,
    host,
  );
  await ctx.component(host, cs, 'kill', 'kill what did not stop (without quorum it cannot finish its shutdown)');
}

const apiReady = async (ctx: DrillContext) =>
  (await kubectl(ctx.lab, ['get', '--raw', '/readyz'], { allowFail: true, timeoutMs: 8000 })).stdout.trim() === 'ok';

/** The restore of every member from `snap`, as a drill without the health check first (pure data). */
export function restoreProcedure(snap: ChosenSnapshot): Drill {
  return {
    info: {
      name: 'snapshot-restore',
      title: `Restore etcd from ${basename(snap.file)} (revision ${snap.revision ?? '?'})`,
      concept:
        'Every member is rebuilt from the same snapshot file with a new cluster identity (a new token), so no member can mix the old history with the restored one: the cluster is exactly the snapshot, and whatever was written after it is gone. The control plane is stopped first (nothing may write to etcd) and started on top afterwards, and every kubelet is restarted: their caches hold the newer, now-forgotten state, and a kubelet running a pod the restore forgot stops it.',
      article: '§4, §5',
      needs: '1 or more masters with their disks',
    },
    needs: (spec) => (masterHosts(spec).length < 1 ? ['no master'] : []),
    predict: predictRestore,
    probe: false,
    preflight: false,
    healthTimeoutMs: 240_000,
    steps: [
      {
        id: 'masters-on',
        phase: 'act',
        title: 'Every master powered on, running and plugged in',
        explain:
          'A restore needs every master: one that is off is powered on, a frozen one thawed, an unplugged one plugged in.',
        run: async (ctx) => {
          v(ctx).swapped = [];
          v(ctx).oldClusterIds = [];
          for (const m of masterHosts(ctx.spec)) {
            const st = await ctx.lab.provider.hostState(ctx.lab, m.name);
            if (!st.on) {
              await ctx.lab.provider.power(ctx.lab, m.name, 'on');
              ctx.log('was powered off: powered on', m.name);
            } else {
              if (st.frozen) {
                await ctx.lab.provider.power(ctx.lab, m.name, 'thaw');
                ctx.log('was frozen: thawed', m.name);
              }
              if (!st.plugged) {
                await ctx.lab.provider.power(ctx.lab, m.name, 'link-up');
                ctx.log('was unplugged: plugged in', m.name);
              }
            }
          }
          v(ctx).oldClusterIds = (await clusterIds(ctx)).filter((x) => x !== '?');
        },
      },
      {
        id: 'distribute',
        phase: 'act',
        title: "Put the snapshot on every master's disk B",
        explain: `Every member is restored from the very same file: ${snap.source}, ${snap.file} (revision ${snap.revision}, ${snap.keys} keys). It is copied to the other masters' disk B and each copy checked by sha256.`,
        run: async (ctx) => {
          const others = masterHosts(ctx.spec)
            .map((m) => m.name)
            .filter((m) => m !== snap.master);
          const b64 = await ctx.lab.remote(snap.master).exec(`base64 -w0 ${shq(snap.file)}`, { timeoutMs: 120_000 });
          const data = Buffer.from(b64.stdout.trim(), 'base64');
          const sha = createHash('sha256').update(data).digest('hex');
          const here = (await ctx.lab.remote(snap.master).exec(`sha256sum < ${shq(snap.file)} | cut -c1-64`)).stdout;
          if (here.trim() !== sha)
            throw new HalabError('SNAPSHOT_COPY', `the copy of ${snap.file} read from ${snap.master} differs from it`);
          for (const m of others) {
            await ctx.lab.remote(m).upload(snap.file, data, 0o600);
            ctx.note(
              m,
              `scp ${snap.master}:${snap.file} ${m}:${snap.file} && sha256sum ${snap.file}`,
              `copy the snapshot to ${m}'s disk B`,
            );
            const r = await ctx.lab.remote(m).exec(`sha256sum < ${shq(snap.file)} | cut -c1-64`);
            if (r.stdout.trim() !== sha)
              throw new HalabError('SNAPSHOT_COPY', `the copy on ${m} has a different sha256`);
          }
          ctx.log(`${snap.file} on ${[snap.master, ...others].join(', ')} (sha256 ${sha.slice(0, 12)}…)`);
        },
      },
      {
        id: 'stop',
        phase: 'act',
        title: 'Stop the snapshot schedule and the control plane, then etcd (leader first)',
        explain:
          'Nothing may write to etcd during the restore: the snapshot schedule and the apiservers, controller-managers and schedulers stop everywhere, then etcd. A leader, if there is one, goes first and alone: it hands leadership to a follower that still runs. Members that already crash or are stopped are stopped for good.',
        run: async (ctx) => {
          const masters = masterHosts(ctx.spec).map((m) => m.name);
          const leader = leaderOf(await etcdEndpointsStatus(ctx.lab).catch(() => []));
          v(ctx).faultAt = ctx.mark('control plane stopped for the restore', 'fault').t;
          await Promise.all(
            masters.map((m) =>
              leader
                ? stopOrKill(
                    ctx,
                    m,
                    [...schedule(ctx.spec), ...CONTROL_PLANE],
                    'stop the snapshot schedule and the control plane (nothing may write to etcd)',
                  )
                : ctx.component(
                    m,
                    [...schedule(ctx.spec), ...CONTROL_PLANE],
                    'kill',
                    'etcd has no quorum: the control plane cannot finish a graceful shutdown (its requests to etcd never end), and nothing it holds can be written any more: kill it',
                  ),
            ),
          );
          v(ctx).etcdStopAt = Date.now();
          v(ctx).stopped = true;
          const order = [...(leader ? [leader] : []), ...masters.filter((m) => m !== leader)];
          for (const m of order)
            await stopOrKill(
              ctx,
              m,
              ['etcd'],
              m === leader ? 'stop etcd on the leader first (it hands leadership over)' : 'stop etcd',
            );
          ctx.mark('etcd stopped everywhere', 'info');
        },
      },
      restoreMembersStep(() => snap.file),
      {
        id: 'start-etcd',
        phase: 'act',
        title: 'Start etcd everywhere and wait until it is healthy',
        explain: (ctx) =>
          `The etcd service definition is unchanged (--initial-cluster-token=${clusterToken(ctx.spec)}): etcd reads the --initial-* flags only to create a data dir, and the restored one exists, so the restored identity wins.`,
        run: async (ctx) => {
          const masters = masterHosts(ctx.spec).map((m) => m.name);
          await Promise.all(
            masters.map((m) => ctx.component(m, 'etcd', 'start', 'start etcd on the restored data dir')),
          );
          await ctx.until(
            'the restored etcd cluster healthy',
            async () => clusterHealthy(await etcdEndpointsStatus(ctx.lab)),
            { timeoutMs: 120_000, intervalMs: 250 },
          );
          v(ctx).etcdHealthyAt = Date.now();
          ctx.mark('restored etcd healthy', 'recovery');
          ctx.measure({
            id: 'etcd-restore',
            label: 'Restore (first etcd stop → restored cluster healthy)',
            value: (v(ctx).etcdHealthyAt! - v(ctx).etcdStopAt!) / 1000,
            unit: 's',
            predictionId: 'etcd-restore',
            how: 'etcdctl endpoint health on every member, polled every 0.25 s',
          });
          ctx.note(
            masters[0]!,
            `${etcdctlCommand(['member', 'list', '-w', 'table'])}\n${etcdctlCommand(['endpoint', 'health', '--cluster'])}`,
            'check the restored cluster: the same member names, new IDs, all healthy',
          );
        },
      },
      {
        id: 'start-control-plane',
        phase: 'act',
        title: 'Start the control plane again',
        explain:
          'The apiservers start with empty caches and read the restored state; the controller-managers and schedulers follow, and the snapshot schedule.',
        run: async (ctx) => {
          const masters = masterHosts(ctx.spec).map((m) => m.name);
          await Promise.all(
            masters.map((m) =>
              ctx.component(
                m,
                [...CONTROL_PLANE, ...schedule(ctx.spec)],
                'start',
                'start the apiserver, controller-manager, scheduler and the snapshot schedule',
              ),
            ),
          );
          await ctx.until('the API through the VIP ready', () => apiReady(ctx), {
            timeoutMs: 180_000,
            intervalMs: 250,
          });
          v(ctx).apiReadyAt = Date.now();
          ctx.mark('API ready through the VIP', 'recovery');
          ctx.measure({
            id: 'api-ready',
            label: 'API ready through the VIP (control plane stopped → ready)',
            value: (v(ctx).apiReadyAt! - v(ctx).faultAt!) / 1000,
            unit: 's',
            how: 'kubectl get --raw /readyz through the VIP, every 0.25 s',
          });
        },
      },
      {
        id: 'kubelets',
        phase: 'act',
        title: 'Restart every kubelet so nodes and pods converge on the restored state',
        explain:
          "A kubelet keeps what it last saw (newer than the restored revision): restarted, it lists everything again from the restored cluster, registers its node if the restore forgot it, and stops the pods the cluster no longer has (Kubernetes' etcd restore procedure restarts them for the same reason).",
        run: async (ctx) => {
          const hosts = ctx.spec.hosts.filter((h) =>
            ctx.lab.bootstrap.components.components(h.role).includes('kubelet'),
          );
          await Promise.all(
            hosts.map(async (h) => {
              await ctx.component(h.name, 'kubelet', 'stop', 'stop the kubelet (its pods keep running)');
              await ctx.component(h.name, 'kubelet', 'start', 'start it: it lists the restored state');
            }),
          );
          const want = ctx.lab.bootstrap.nodeNames(ctx.spec);
          await ctx.until(
            'every node Ready on the restored cluster',
            async () => {
              const ns = await nodes(ctx.lab);
              return want.every((w) => ns.find((n) => n.name === w)?.ready);
            },
            { timeoutMs: 240_000, intervalMs: 1000 },
          );
          ctx.mark('every node Ready', 'recovery');
        },
      },
      {
        id: 'verify',
        phase: 'verify',
        title: 'Verify: one restored cluster, every member healthy, at the snapshot revision',
        explain:
          'Every member reports the same new cluster ID (not the one before the restore), every member is healthy, and the revision starts at the snapshot’s.',
        run: async (ctx) => {
          const ids = await clusterIds(ctx);
          const old = v(ctx).oldClusterIds;
          ctx.check({
            id: 'new-cluster',
            title: 'Every member runs the restored cluster (one cluster ID, a new one)',
            ok: ids.length === 1 && ids[0] !== '?' && !old.includes(ids[0]!),
            expected: old.length ? `one cluster ID, not ${old.join(', ')}` : 'one cluster ID',
            observed: `cluster ID${ids.length === 1 ? '' : 's'} ${ids.join(', ') || 'none'}`,
          });
          const members = await etcdEndpointsStatus(ctx.lab);
          ctx.check({
            id: 'members-healthy',
            title: `Every member of ${masterHosts(ctx.spec).length} is healthy, with a leader`,
            ok: clusterHealthy(members) && members.length === masterHosts(ctx.spec).length,
            expected: `${masterHosts(ctx.spec).length}/${masterHosts(ctx.spec).length} healthy`,
            observed: members.map((m) => `${m.name} ${m.healthy ? 'healthy' : `unhealthy (${m.error})`}`).join(', '),
          });
          const rev = Math.max(0, ...members.map((m) => m.revision ?? 0));
          ctx.check({
            id: 'revision',
            title: 'The cluster continues from the snapshot’s revision',
            ok: snap.revision === undefined || rev >= snap.revision,
            expected: `revision ≥ ${snap.revision ?? '?'}`,
            observed: `revision ${rev}`,
          });
        },
      },
    ],
    cleanup: async (ctx) => {
      const vars = ctx.vars as unknown as Vars;
      if (vars.stopped && vars.etcdHealthyAt === undefined) {
        ctx.log('the restore stopped half-way: starting etcd and the control plane again');
        await onMasters(ctx, 'etcd', 'start');
      }
      if (vars.faultAt !== undefined && vars.apiReadyAt === undefined) {
        await onMasters(ctx, [...CONTROL_PLANE, ...schedule(ctx.spec)], 'start');
      }
    },
  };
}

/**
 * Restore every member of `lab` from the chosen snapshot (checked first: a bad file is refused
 * before anything is stopped). Events as the procedure goes (drill events: the CLI renders them,
 * the app shows them in its drill runner), its report written at the end (drill:end carries its
 * directory). Resolves with the result; throws only for a refused or missing snapshot.
 */
export async function restoreSnapshot(
  lab: LabHandle,
  src: RestoreSource,
  o: { emit: (e: DrillEvent) => void; stepwise?: boolean; waitForContinue?: () => Promise<void>; signal?: AbortSignal },
): Promise<{ result: DrillResult; snapshot: ChosenSnapshot; reportDir?: string }> {
  const snap = await chooseSnapshot(lab, src);
  const out = await executeDrill(lab, restoreProcedure(snap), o);
  const reportDir = await writeReport(lab.dir, out).catch(() => undefined);
  await recordAction(lab.dir, {
    kind: 'recovery',
    label: `etcd restored from ${basename(snap.file)} (revision ${snap.revision ?? '?'})${out.result.ok ? '' : ': FAILED'}`,
    command: `halab snapshot restore --snapshot ${snap.master}:${snap.file}`,
  });
  o.emit({
    type: 'drill:end',
    runId: out.result.runId,
    ok: out.result.ok,
    result: out.result,
    reportDir,
    at: Date.now(),
  });
  return { result: out.result, snapshot: snap, reportDir };
}

/**
 * Copy a snapshot from a master's disk B to a file on this machine (checked: sha256 of the copy
 * against the original, and the original is a good snapshot). `file` as for RestoreSource.snapshot.
 */
export async function exportSnapshot(
  lab: LabContext,
  file: string,
  localPath: string,
): Promise<{ snapshot: SnapshotInfo; path: string; sha256: string }> {
  const snap = await chooseSnapshot(lab, { snapshot: file });
  const r = await lab.remote(snap.master).exec(`base64 -w0 ${shq(snap.file)}; echo; sha256sum < ${shq(snap.file)}`, {
    timeoutMs: 300_000,
  });
  const [b64, sum] = r.stdout.split('\n');
  const data = Buffer.from((b64 ?? '').trim(), 'base64');
  const sha = createHash('sha256').update(data).digest('hex');
  if (!sum?.startsWith(sha))
    throw new HalabError('SNAPSHOT_COPY', `the copy of ${snap.master}:${snap.file} does not match its sha256`, {
      fix: 'run the export again',
    });
  const tmp = `${localPath}.halab-tmp`;
  await fs.writeFile(tmp, data, { mode: 0o600 });
  await fs.rename(tmp, localPath);
  return { snapshot: snap, path: localPath, sha256: sha };
}
