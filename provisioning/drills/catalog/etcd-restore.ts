// etcd-restore: the recovery of last resort. Objects are created, a snapshot is taken onto disk B,
// a namespace is deleted by "accident", and then the whole etcd cluster is rebuilt from that
// snapshot: every member restored into a new data dir on disk A with a new cluster token, the
// cluster started again, the control plane restarted on top of it. Every command is shown, so
// the walkthrough can be repeated by hand on any kubeadm-style cluster.

import { createHash } from 'node:crypto';
import type { Prediction } from '../../api/drills.ts';
import type { LabSpec } from '../../api/types.ts';
import { HalabError } from '../../errors.ts';
import { kubectl, kubectlJson } from '../../k8s/kubectl.ts';
import { SNAPSHOT_DIR, saveSnapshot } from '../../snapshots/index.ts';
import { restoreMembersStep } from '../../snapshots/restore.ts';
import {
  ETCDCTL_BIN,
  clusterHealthy,
  etcdEndpointsStatus,
  etcdctlCommand,
  etcdctlExec,
  leaderOf,
  parseEndpointStatus,
} from '../../steps/etcd/etcdctl.ts';

import { clusterToken } from '../../steps/etcd/render.ts';
import { ETCD_DATA_DIR, etcdClientURL } from '../../steps/pki/kubeadm-config.ts';
import type { Component, ComponentAction } from '../../bootstraps/types.ts';
import type { Drill, DrillContext } from '../engine.ts';
import { applyManifest } from '../probe.ts';
import { n } from './common.ts';
import { masterHosts } from '../../spec/roles.ts';

export const RESTORE_NS = 'halab-restore-drill';
export const RESTORE_CONFIGMAPS = 3;
const CONTROL_PLANE_COMPONENTS: Component[] = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];
/** Measured on this kind of machine: a kube-apiserver needs about this long from start to ready. */
export const APISERVER_START_S = 15;
/** ...and about this long to shut down gracefully (it drains its requests first). */
export const APISERVER_STOP_S = 5;
/**
 * With kubeadm the control plane are static pods: the kubelet stops one whose manifest left
 * (SIGTERM, then the pod's graceful termination) and starts one whose manifest came back (a new
 * sandbox, the container, its probes): measured here about 20 s and 25 s on a loaded machine.
 */
export const STATIC_POD_STOP_S = 20;
export const STATIC_POD_START_S = 25;

export function predictEtcdRestore(spec: LabSpec): Prediction[] {
  const members = masterHosts(spec).length;
  const t = spec.timers;
  const etcd = members * 1 + 1 + (2 * t.etcdElectionMs) / 1000;
  const pods = spec.bootstrap === 'kubeadm';
  const stop = pods ? STATIC_POD_STOP_S : APISERVER_STOP_S;
  const start = pods ? STATIC_POD_START_S : APISERVER_START_S;
  return [
    {
      id: 'etcd-restore',
      label: `Restore of ${members} members (stop → restored cluster healthy)`,
      unit: 's',
      value: etcd,
      min: 1,
      margin: 15 - etcd,
      formula: `stop ${members} members one by one, leader first (≈ 1 s each: etcd stops serving its peers first) + restore and swap the data dirs on every member at once (≈ 1 s) + start and elect (up to 2 × election timeout ${t.etcdElectionMs} ms); target ≤ 15 s`,
    },
    {
      id: 'namespace-back',
      label: 'Namespace readable again through the VIP (stop → back)',
      unit: 's',
      value: stop + etcd + start,
      min: etcd,
      margin: 20,
      formula: `the apiservers shutting down gracefully (≈ ${stop} s${pods ? ': the kubelet stops the static pods whose manifests were moved out' : ''}) + etcd restore (≈ ${n(etcd)} s) + the apiservers starting on the restored data (≈ ${start} s${pods ? ': the kubelet starts them again from their manifests' : ''}) + HAProxy rise ${t.haproxyCheckRise} × ${t.haproxyCheckInterMs} ms (apiserver times measured on a loaded 2-core machine)`,
    },
  ];
}

interface Vars {
  snapshot?: { master: string; file: string; revision?: number; sha?: string };
  oldClusterId?: string;
  etcdStopAt?: number;
  stoppedAt?: number;
  swapped: string[];
  etcdHealthyAt?: number;
  apiReadyAt?: number;
  faultAt?: number;
}
const v = (ctx: DrillContext) => ctx.vars as unknown as Vars;

async function clusterIds(ctx: DrillContext, via: string): Promise<string[]> {
  const endpoints = masterHosts(ctx.spec).map((m) => etcdClientURL(m.address));
  const r = await etcdctlExec(ctx.lab, via, ['endpoint', 'status', '-w', 'json'], {
    endpoints,
    allowFail: true,
    dialTimeoutS: 2,
    commandTimeoutS: 4,
  });
  return [...new Set(parseEndpointStatus(r.stdout).map((e) => e.clusterId ?? '?'))];
}

/** Run a component action on every master, outside the walkthrough (cleanup); failures are ignored. */
async function onMasters(ctx: DrillContext, c: Component | Component[], action: ComponentAction) {
  const masters = masterHosts(ctx.spec).map((m) => m.name);
  await Promise.all(
    masters.map((m) =>
      ctx.lab.remote(m).exec(ctx.lab.bootstrap.components.command(ctx.lab, m, c, action), { allowFail: true }),
    ),
  );
}

export const etcdRestore: Drill = {
  info: {
    name: 'etcd-restore',
    title: 'Restore the whole etcd cluster from a snapshot',
    concept:
      'Replication protects against a lost member, not against a lost object: a deleted namespace is deleted on every member at once. What brings it back is a snapshot kept on a separate disk. Restoring rebuilds every member from the same file with a new cluster identity (a new token), so no member can mix old and new history; the apiservers are restarted on top, because their caches hold the newer, now-forgotten state.',
    article: '§4, §5',
    needs: '1 or more masters, snapshot disks',
  },
  needs: (spec) => (masterHosts(spec).length < 1 ? ['no master'] : []),
  predict: predictEtcdRestore,
  healthTimeoutMs: 240_000,
  steps: [
    {
      id: 'seed',
      phase: 'act',
      title: `Create a namespace with ${RESTORE_CONFIGMAPS} ConfigMaps`,
      explain: `The objects we will lose and get back: namespace ${RESTORE_NS} with ${RESTORE_CONFIGMAPS} ConfigMaps.`,
      run: async (ctx) => {
        const items: unknown[] = [
          {
            apiVersion: 'v1',
            kind: 'Namespace',
            metadata: { name: RESTORE_NS, labels: { 'halab.dev/drill': 'etcd-restore' } },
          },
        ];
        for (let i = 1; i <= RESTORE_CONFIGMAPS; i++) {
          items.push({
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: `precious-${i}`, namespace: RESTORE_NS },
            data: { value: `precious value ${i}`, run: ctx.runId },
          });
        }
        await applyManifest(ctx.lab, JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
        ctx.note(
          'this machine',
          `kubectl create namespace ${RESTORE_NS}; kubectl -n ${RESTORE_NS} create configmap precious-1 --from-literal=value='precious value 1'  # ... up to ${RESTORE_CONFIGMAPS}`,
          'the objects to lose and recover',
        );
      },
    },
    {
      id: 'snapshot',
      phase: 'act',
      title: 'Take a snapshot onto disk B',
      explain: `etcdctl snapshot save streams the whole database from one member into a file on ${SNAPSHOT_DIR} (disk B, a separate disk), then the file is checked (sha256 trailer, bbolt status).`,
      run: async (ctx) => {
        const snap = await saveSnapshot(ctx.lab, undefined, { signal: ctx.signal });
        if (snap.status !== 'good')
          throw new HalabError(
            'SNAPSHOT_BAD',
            `the snapshot ${snap.file} on ${snap.master} failed verification: ${snap.error}`,
          );
        ctx.note(
          snap.master,
          `${etcdctlCommand(['snapshot', 'save', snap.file])}\nETCDCTL_API=3 ${ETCDCTL_BIN} snapshot status ${snap.file} -w table`,
          'save a snapshot of the live cluster onto disk B and check it',
        );
        const sum = await ctx.lab.remote(snap.master).exec(`sha256sum < ${snap.file} | cut -c1-64`);
        v(ctx).snapshot = { master: snap.master, file: snap.file, revision: snap.revision, sha: sum.stdout.trim() };
        ctx.mark(`snapshot (revision ${snap.revision})`, 'info');
        ctx.log(
          `snapshot ${snap.file} on ${snap.master}: revision ${snap.revision}, ${snap.keys} keys, ${snap.sizeBytes} bytes`,
          snap.master,
        );
      },
    },
    {
      id: 'delete',
      phase: 'act',
      title: 'Delete the namespace (the accident)',
      explain:
        'kubectl delete namespace: the namespace controller deletes everything in it, and etcd replicates the deletion to every member. No replica helps now.',
      run: async (ctx) => {
        await kubectl(ctx.lab, ['delete', 'namespace', RESTORE_NS, '--wait=true', '--timeout=90s'], {
          timeoutMs: 120_000,
        });
        ctx.note('this machine', `kubectl delete namespace ${RESTORE_NS}`, 'the accident');
        const r = await kubectl(ctx.lab, ['get', 'namespace', RESTORE_NS], { allowFail: true });
        ctx.check({
          id: 'namespace-gone',
          title: 'The namespace is gone',
          ok: r.exitCode !== 0 && /NotFound/.test(r.stderr),
          expected: 'NotFound',
          observed: r.exitCode === 0 ? 'still there' : r.stderr.trim().slice(0, 120),
        });
        ctx.mark('namespace deleted', 'info');
      },
    },
    {
      id: 'distribute',
      phase: 'act',
      title: "Put the snapshot on every master's disk B",
      explain:
        'Every member is restored from the very same file. The snapshot is on one master: copy it to the others (and check the copies by sha256).',
      run: async (ctx) => {
        const snap = v(ctx).snapshot!;
        const others = masterHosts(ctx.spec)
          .map((m) => m.name)
          .filter((m) => m !== snap.master);
        if (!others.length) return;
        const b64 = await ctx.lab.remote(snap.master).exec(`base64 -w0 ${snap.file}`, { timeoutMs: 60_000 });
        const data = Buffer.from(b64.stdout.trim(), 'base64');
        const sha = createHash('sha256').update(data).digest('hex');
        if (sha !== snap.sha)
          throw new HalabError(
            'SNAPSHOT_COPY',
            `the copy of ${snap.file} read from ${snap.master} does not match its sha256`,
          );
        for (const m of others) {
          await ctx.lab.remote(m).upload(snap.file, data, 0o600);
          ctx.note(
            m,
            `scp ${snap.master}:${snap.file} ${m}:${snap.file} && sha256sum ${snap.file}`,
            `copy the snapshot to ${m}'s disk B`,
          );
          const r = await ctx.lab.remote(m).exec(`sha256sum < ${snap.file} | cut -c1-64`);
          if (r.stdout.trim() !== sha) throw new HalabError('SNAPSHOT_COPY', `the copy on ${m} has a different sha256`);
        }
        ctx.log(`copied to ${others.join(', ')} (sha256 ${sha.slice(0, 12)}…)`);
      },
    },
    {
      id: 'stop',
      phase: 'act',
      title: 'Stop the control plane, then etcd (leader first)',
      explain:
        'Nothing may write to etcd during the restore: stop the snapshot schedule and the apiservers, controller-managers and schedulers everywhere, then etcd. The leader goes first and alone: it hands leadership to a follower that is still running (stopping all members at once makes the leader wait for a transfer that cannot succeed: measured here, about 7 s and then "leadership transfer failed").',
      run: async (ctx) => {
        const masters = masterHosts(ctx.spec).map((m) => m.name);
        const members = await etcdEndpointsStatus(ctx.lab);
        v(ctx).oldClusterId = (await clusterIds(ctx, masters[0]!))[0];
        const leader = leaderOf(members);
        v(ctx).swapped = [];
        v(ctx).faultAt = ctx.mark('control plane stopped for the restore', 'fault').t;
        await Promise.all(
          masters.map((m) =>
            ctx.component(
              m,
              ['etcd-snapshot', ...CONTROL_PLANE_COMPONENTS],
              'stop',
              'stop the snapshot schedule and the control plane (nothing may write to etcd)',
            ),
          ),
        );
        const order = [...(leader ? [leader] : []), ...masters.filter((m) => m !== leader)];
        v(ctx).etcdStopAt = Date.now();
        for (const m of order) {
          await ctx.component(
            m,
            'etcd',
            'stop',
            m === leader ? 'stop etcd on the leader first (it hands leadership over)' : 'stop etcd',
          );
        }
        v(ctx).stoppedAt = Date.now();
        ctx.mark('etcd stopped everywhere', 'info');
        ctx.measure({
          id: 'stop-etcd',
          label: 'Stopping etcd on every member',
          value: (v(ctx).stoppedAt! - v(ctx).etcdStopAt!) / 1000,
          unit: 's',
          how: `stop each member and wait until it is down, in the order ${order.join(', ')}`,
        });
      },
    },
    restoreMembersStep((ctx) => v(ctx).snapshot!.file),
    {
      id: 'start-etcd',
      phase: 'act',
      title: 'Start etcd everywhere and wait until it is healthy',
      explain: (ctx) =>
        `The etcd service definition is unchanged: it still says --initial-cluster-token=${clusterToken(ctx.spec)}, but etcd reads the --initial-* flags only to create a new data dir; this one exists (restored), so the restored identity wins.`,
      run: async (ctx) => {
        const masters = masterHosts(ctx.spec).map((m) => m.name);
        await Promise.all(masters.map((m) => ctx.component(m, 'etcd', 'start', 'start etcd on the restored data dir')));
        await ctx.until(
          'the restored etcd cluster healthy',
          async () => clusterHealthy(await etcdEndpointsStatus(ctx.lab)),
          { timeoutMs: 90_000, intervalMs: 200 },
        );
        v(ctx).etcdHealthyAt = Date.now();
        ctx.mark('restored etcd healthy', 'recovery');
        ctx.measure({
          id: 'etcd-restore',
          label: 'Restore (stop etcd → restored cluster healthy)',
          value: (v(ctx).etcdHealthyAt! - v(ctx).etcdStopAt!) / 1000,
          unit: 's',
          predictionId: 'etcd-restore',
          how: 'from the first etcd stop to etcdctl endpoint health on every member, polled every 0.2 s',
        });
        ctx.note(
          masters[0]!,
          `${etcdctlCommand(['member', 'list', '-w', 'table'])}\n${etcdctlCommand(['endpoint', 'health', '--cluster'])}`,
          'check the restored cluster: same member names, new IDs, all healthy',
        );
        const ids = await clusterIds(ctx, masters[0]!);
        ctx.check({
          id: 'new-cluster',
          title:
            'Every member runs the restored cluster (a new cluster ID), despite the unchanged --initial-cluster-token flag',
          ok: ids.length === 1 && !!ids[0] && ids[0] !== '?' && ids[0] !== v(ctx).oldClusterId,
          expected: `one cluster ID, not the old ${v(ctx).oldClusterId ?? '?'}`,
          observed: `cluster ID${ids.length > 1 ? 's' : ''} ${ids.join(', ')}`,
        });
      },
    },
    {
      id: 'start-control-plane',
      phase: 'act',
      title: 'Start the control plane again',
      explain:
        'The apiservers start with empty caches and read the restored state. (Clients that remember newer resource versions, like the kubelets, get "too large resource version" once and list again.)',
      run: async (ctx) => {
        const masters = masterHosts(ctx.spec).map((m) => m.name);
        await Promise.all(
          masters.map((m) =>
            ctx.component(
              m,
              [...CONTROL_PLANE_COMPONENTS, 'etcd-snapshot'],
              'start',
              'start the apiserver, controller-manager, scheduler and the snapshot schedule',
            ),
          ),
        );
        await ctx.until(
          'the API through the VIP ready',
          async () =>
            (
              await kubectl(ctx.lab, ['get', '--raw', '/readyz'], { allowFail: true, timeoutMs: 8000 })
            ).stdout.trim() === 'ok',
          { timeoutMs: 180_000, intervalMs: 250 },
        );
        v(ctx).apiReadyAt = Date.now();
        ctx.mark('API ready through the VIP', 'recovery');
        ctx.measure({
          id: 'api-ready',
          label: 'API ready through the VIP (stop → ready)',
          value: (v(ctx).apiReadyAt! - v(ctx).faultAt!) / 1000,
          unit: 's',
          how: 'kubectl get --raw /readyz through the VIP, every 0.25 s',
        });
      },
    },
    {
      id: 'verify',
      phase: 'verify',
      title: 'Verify: the namespace and its ConfigMaps are back',
      explain:
        'The snapshot was taken before the deletion, so the restored cluster has the namespace and every ConfigMap, with their data.',
      run: async (ctx) => {
        let items: { metadata: { name: string }; data?: Record<string, string> }[] = [];
        await ctx
          .until(
            `namespace ${RESTORE_NS} and its ConfigMaps readable`,
            async () => {
              items = (
                await kubectlJson<{ items: typeof items }>(ctx.lab, [
                  '-n',
                  RESTORE_NS,
                  'get',
                  'configmaps',
                  '--field-selector',
                  'metadata.name!=kube-root-ca.crt',
                ])
              ).items;
              return items.length >= RESTORE_CONFIGMAPS;
            },
            { timeoutMs: 60_000, intervalMs: 250 },
          )
          .catch(() => undefined);
        const back = Date.now();
        const ns = await kubectl(ctx.lab, ['get', 'namespace', RESTORE_NS, '-o', 'jsonpath={.status.phase}'], {
          allowFail: true,
        });
        ctx.check({
          id: 'namespace-back',
          title: `Namespace ${RESTORE_NS} is back`,
          ok: ns.exitCode === 0 && ns.stdout.trim() === 'Active',
          expected: 'Active',
          observed: ns.exitCode === 0 ? ns.stdout.trim() : ns.stderr.trim().slice(0, 120),
        });
        const good = items.filter((i) => /^precious-\d+$/.test(i.metadata.name) && i.data?.run === ctx.runId);
        ctx.check({
          id: 'objects-back',
          title: `Its ${RESTORE_CONFIGMAPS} ConfigMaps are back with their data`,
          ok: good.length === RESTORE_CONFIGMAPS,
          expected: `${RESTORE_CONFIGMAPS} ConfigMaps precious-1..${RESTORE_CONFIGMAPS} of this run`,
          observed:
            items.map((i) => `${i.metadata.name}${i.data?.run === ctx.runId ? '' : ' (other run)'}`).join(', ') ||
            'none',
        });
        if (good.length === RESTORE_CONFIGMAPS) {
          ctx.mark('namespace back', 'recovery', back);
          ctx.measure({
            id: 'namespace-back',
            label: 'Namespace readable again (stop → back)',
            value: (back - v(ctx).faultAt!) / 1000,
            unit: 's',
            predictionId: 'namespace-back',
            how: 'kubectl through the VIP, every 0.25 s',
          });
        }
        ctx.note('this machine', `kubectl -n ${RESTORE_NS} get configmaps`, 'the objects are back');
      },
    },
  ],
  cleanup: async (ctx) => {
    const vars = ctx.vars as unknown as Vars;
    if (vars.etcdStopAt !== undefined && vars.etcdHealthyAt === undefined) {
      // the drill stopped between the stop and a healthy restored cluster: try to finish, else roll back
      ctx.log('etcd was left stopped or half-restored: starting it');
      await onMasters(ctx, 'etcd', 'start');
      const ok = await ctx
        .until('etcd healthy', async () => clusterHealthy(await etcdEndpointsStatus(ctx.lab)), {
          timeoutMs: 45_000,
          intervalMs: 500,
        })
        .then(
          () => true,
          () => false,
        );
      if (!ok && vars.swapped?.length) {
        ctx.log(
          `etcd is not healthy: rolling back the members already swapped (${vars.swapped.join(', ')}) to their previous data dir`,
        );
        await onMasters(ctx, 'etcd', 'stop');
        for (const m of vars.swapped) {
          await ctx.command(
            m,
            `rm -rf ${ETCD_DATA_DIR} && mv ${ETCD_DATA_DIR}.pre-restore ${ETCD_DATA_DIR}`,
            'roll back to the data dir from before the restore',
          );
        }
        await onMasters(ctx, 'etcd', 'start');
      }
    }
    if (vars.faultAt !== undefined) {
      await onMasters(ctx, [...CONTROL_PLANE_COMPONENTS, 'etcd-snapshot'], 'start');
      await ctx
        .until(
          'the API through the VIP ready',
          async () =>
            (
              await kubectl(ctx.lab, ['get', '--raw', '/readyz'], { allowFail: true, timeoutMs: 8000 })
            ).stdout.trim() === 'ok',
          { timeoutMs: 180_000, intervalMs: 500 },
        )
        .catch(() => undefined);
    }
    // the restored namespace goes, so the lab ends as it started
    await kubectl(ctx.lab, ['delete', 'namespace', RESTORE_NS, '--ignore-not-found', '--wait=false'], {
      allowFail: true,
    }).catch(() => undefined);
  },
};
