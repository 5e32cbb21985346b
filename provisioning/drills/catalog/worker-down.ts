// worker-down: pull the power of a worker that runs pods. Its kubelet stops renewing the node's
// lease; after the grace period the node controller marks it NotReady and taints it; after the
// pods' toleration for that taint they are evicted, and their ReplicaSet starts replacements on
// the remaining worker.

import type { Prediction } from '../../api/drills.ts';
import type { LabSpec } from '../../api/types.ts';
import { kubectl, kubectlJson, nodes } from '../../k8s/kubectl.ts';
import { workerHosts } from '../../steps/pki/kubeadm-config.ts';
import type { Drill, DrillContext } from '../engine.ts';
import { applyManifest, probeHost } from '../probe.ts';
import { n } from './common.ts';

/** kubemark's hollow kubelet renews its node lease every 10 s (fixed in kubemark). */
export const HOLLOW_LEASE_RENEW_S = 10;
/** --node-monitor-period the lab gives the controller-manager (control-plane/flags.ts). */
export const NODE_MONITOR_PERIOD_S = 2;
export const WORKLOAD_NS = 'halab-drill-workload';
export const WORKLOAD = 'drill-web';
export const REPLICAS = 4;

export function predictWorkerDown(spec: LabSpec): Prediction[] {
  const t = spec.timers;
  const notReady = t.nodeMonitorGracePeriodS + NODE_MONITOR_PERIOD_S;
  const notReadyMin = Math.max(0, t.nodeMonitorGracePeriodS - HOLLOW_LEASE_RENEW_S);
  return [
    {
      id: 'node-notready', label: 'The node turns NotReady', unit: 's', value: notReady, min: notReadyMin, margin: 5,
      formula: `nodeMonitorGracePeriod ${n(t.nodeMonitorGracePeriodS)} s after the last lease renewal (renewed every ${HOLLOW_LEASE_RENEW_S} s, so ${n(t.nodeMonitorGracePeriodS - HOLLOW_LEASE_RENEW_S)}–${n(t.nodeMonitorGracePeriodS)} s after the fault) + up to one node-monitor-period (${NODE_MONITOR_PERIOD_S} s)`,
    },
    {
      id: 'pods-evicted', label: 'Its pods are evicted', unit: 's', value: notReady + t.podEvictionTolerationS, min: notReadyMin + t.podEvictionTolerationS, margin: 6,
      formula: `NotReady + the pods' toleration of the unreachable taint (podEvictionToleration ${n(t.podEvictionTolerationS)} s, the apiserver's default-unreachable-toleration-seconds)`,
    },
    {
      id: 'pods-rescheduled', label: 'Replacements Running on the other worker', unit: 's', value: notReady + t.podEvictionTolerationS + 3, min: notReadyMin + t.podEvictionTolerationS, margin: 8,
      formula: 'eviction + the ReplicaSet creating replacements, the scheduler placing them and the kubelet starting them (≈ 1–3 s)',
    },
  ];
}

interface PodItem { metadata: { name: string; deletionTimestamp?: string }; spec: { nodeName?: string }; status: { phase?: string } }

async function pods(ctx: DrillContext): Promise<PodItem[]> {
  return (await kubectlJson<{ items: PodItem[] }>(ctx.lab, ['-n', WORKLOAD_NS, 'get', 'pods', '-l', `app=${WORKLOAD}`])).items;
}

export function workloadManifest(): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'List', items: [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: WORKLOAD_NS, labels: { 'halab.dev/drill': 'worker-down' } } },
      {
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: WORKLOAD, namespace: WORKLOAD_NS },
        spec: {
          replicas: REPLICAS, selector: { matchLabels: { app: WORKLOAD } },
          template: {
            metadata: { labels: { app: WORKLOAD } },
            spec: {
              nodeSelector: { 'halab.dev/hollow': 'true' },
              // spread evenly over the workers; a tainted (NotReady) node is not a place to keep
              // even with (nodeTaintsPolicy Honor), or the replacements could not be scheduled
              topologySpreadConstraints: [{
                maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', nodeTaintsPolicy: 'Honor',
                labelSelector: { matchLabels: { app: WORKLOAD } },
              }],
              terminationGracePeriodSeconds: 5,
              containers: [{ name: 'web', image: 'registry.k8s.io/pause:3.10' }],
            },
          },
        },
      },
    ],
  });
}

interface Vars { victim: string; other: string; faultAt: number; lastRenew?: number; victimPods: string[] }
const v = (ctx: DrillContext) => ctx.vars as unknown as Vars;

export const workerDown: Drill = {
  info: {
    name: 'worker-down',
    title: 'A worker loses power',
    concept: 'Workers scale the cluster and heal it: a node that stops reporting in is declared lost, and the pods it ran are recreated elsewhere. Nothing reacts at once, by design: the node controller waits for the grace period before it calls the node NotReady (a short network blip should not move every pod), and the pods themselves tolerate that for a while more before they are evicted and replaced.',
    article: '§2.1',
    needs: '2 workers',
  },
  needs: (spec) => (workerHosts(spec).length < 2 ? [`${workerHosts(spec).length} worker(s)`] : []),
  predict: predictWorkerDown,
  healthTimeoutMs: 240_000,
  steps: [
    {
      id: 'workload', phase: 'act', title: `Run a ${REPLICAS}-replica Deployment spread over the workers`,
      explain: `A Deployment of ${REPLICAS} pods with a topology spread constraint (maxSkew 1 per node): half of them land on each worker. The pods run on hollow nodes (real kubelet code, fake container runtime), so they report Running without starting containers.`,
      run: async (ctx) => {
        await applyManifest(ctx.lab, workloadManifest());
        const workers = workerHosts(ctx.spec).map((w) => w.name);
        let last = '';
        await ctx.until(`${REPLICAS} pods Running on both workers`, async () => {
          const ps = (await pods(ctx)).filter((p) => !p.metadata.deletionTimestamp);
          last = ps.map((p) => `${p.metadata.name}@${p.spec.nodeName ?? '-'}:${p.status.phase}`).join(' ');
          const running = ps.filter((p) => p.status.phase === 'Running');
          return running.length === REPLICAS && workers.every((w) => running.some((p) => p.spec.nodeName === w));
        }, { timeoutMs: 90_000, intervalMs: 500, fix: 'kubectl -n halab-drill-workload describe pods' }).catch((err) => { ctx.log(`pods: ${last}`); throw err; });
        ctx.log(`pods: ${last}`);
      },
    },
    {
      id: 'choose', phase: 'explain', title: 'Choose the worker to power off',
      explain: (ctx) => `The probe runs on ${probeHost(ctx.lab)}, so the victim is another worker that runs pods of the Deployment.`,
      run: async (ctx) => {
        const probe = probeHost(ctx.lab);
        const ps = await pods(ctx);
        const victim = workerHosts(ctx.spec).map((w) => w.name).reverse().find((w) => w !== probe && ps.some((p) => p.spec.nodeName === w));
        if (!victim) throw new Error('no worker other than the probe host runs pods of the Deployment');
        const other = workerHosts(ctx.spec).map((w) => w.name).find((w) => w !== victim)!;
        Object.assign(ctx.vars, { victim, other, victimPods: ps.filter((p) => p.spec.nodeName === victim).map((p) => p.metadata.name) });
        ctx.log(`victim ${victim} runs ${v(ctx).victimPods.join(', ')}`, victim);
      },
    },
    {
      id: 'power-off', phase: 'act', title: 'Power off the worker',
      explain: (ctx) => `Pull the power of ${v(ctx).victim}. Its kubelet last renewed its node lease some seconds ago: the countdown to NotReady started then, not now.`,
      run: async (ctx) => {
        const { victim } = v(ctx);
        const lease = await kubectlJson<{ spec?: { renewTime?: string } }>(ctx.lab, ['-n', 'kube-node-lease', 'get', 'lease', victim]).catch(() => undefined);
        const renew = lease?.spec?.renewTime ? Date.parse(lease.spec.renewTime) : undefined;
        ctx.vars.faultAt = ctx.mark(`${victim} powered off`, 'fault').t;
        await ctx.lab.provider.power(ctx.lab, victim, 'off');
        if (renew) {
          ctx.vars.lastRenew = renew;
          ctx.mark(`last lease renewal of ${victim}`, 'info', renew);
          ctx.measure({ id: 'last-renewal', label: 'Its last lease renewal before the fault', value: (v(ctx).faultAt - renew) / 1000, unit: 's', how: `kube-node-lease/${victim} renewTime, read just before the power-off` });
        }
      },
    },
    {
      id: 'observe', phase: 'observe', title: 'Watch the node turn NotReady and its pods move',
      explain: (ctx) => `Expected: NotReady about ${n(ctx.spec.timers.nodeMonitorGracePeriodS)} s after the last renewal, pods evicted ${n(ctx.spec.timers.podEvictionTolerationS)} s later, replacements on ${v(ctx).other}.`,
      run: async (ctx) => {
        const { victim, other, faultAt, victimPods, lastRenew } = v(ctx);
        const p1 = ctx.prediction('pods-rescheduled');
        let notReadyAt: number | undefined;
        let evictedAt: number | undefined;
        let movedAt: number | undefined;
        await ctx.until(`${victim} NotReady and its pods Running on ${other}`, async () => {
          if (notReadyAt === undefined) {
            const ns = await nodes(ctx.lab);
            if (ns.find((x) => x.name === victim)?.ready === false) {
              notReadyAt = Date.now();
              ctx.mark(`${victim} NotReady`, 'info', notReadyAt);
            }
          }
          const ps = await pods(ctx);
          if (evictedAt === undefined && victimPods.every((name) => { const q = ps.find((x) => x.metadata.name === name); return !q || !!q.metadata.deletionTimestamp; })) {
            evictedAt = Date.now();
            ctx.mark('pods evicted', 'info', evictedAt);
          }
          if (evictedAt !== undefined && movedAt === undefined) {
            const live = ps.filter((x) => !x.metadata.deletionTimestamp);
            if (live.length === REPLICAS && live.every((x) => x.spec.nodeName === other && x.status.phase === 'Running')) {
              movedAt = Date.now();
              ctx.mark(`all ${REPLICAS} pods Running on ${other}`, 'recovery', movedAt);
            }
          }
          return notReadyAt !== undefined && movedAt !== undefined;
        }, { timeoutMs: (p1.value + p1.margin + 60) * 1000, intervalMs: 500 });
        ctx.measure({ id: 'node-notready', label: `${victim} NotReady`, value: (notReadyAt! - faultAt) / 1000, unit: 's', predictionId: 'node-notready', how: 'Node Ready condition, read through the VIP every 0.5 s' });
        if (lastRenew) ctx.measure({ id: 'notready-since-renewal', label: 'NotReady after the last lease renewal', value: (notReadyAt! - lastRenew) / 1000, unit: 's', how: `compare with nodeMonitorGracePeriod ${n(ctx.spec.timers.nodeMonitorGracePeriodS)} s (+ up to ${NODE_MONITOR_PERIOD_S} s monitor period)` });
        ctx.measure({ id: 'pods-evicted', label: 'Its pods evicted', value: (evictedAt! - faultAt) / 1000, unit: 's', predictionId: 'pods-evicted', how: 'every pod of the victim marked for deletion (deletionTimestamp), polled every 0.5 s' });
        ctx.measure({ id: 'pods-rescheduled', label: `Replacements Running on ${other}`, value: (movedAt! - faultAt) / 1000, unit: 's', predictionId: 'pods-rescheduled', how: `${REPLICAS} non-terminating pods Running on ${other}` });
      },
    },
    {
      id: 'verify', phase: 'verify', title: 'Verify: the node is NotReady, its pods were replaced on the other worker',
      explain: 'The old pods stay "Terminating": their kubelet is gone and cannot confirm they stopped. They disappear when the node comes back (or is deleted).',
      run: async (ctx) => {
        const { victim, other, victimPods } = v(ctx);
        const ns = await nodes(ctx.lab);
        const vn = ns.find((x) => x.name === victim);
        ctx.check({ id: 'node-notready', title: `${victim} is NotReady`, ok: vn?.ready === false, expected: 'NotReady', observed: vn ? (vn.ready ? 'Ready' : `NotReady (${vn.reason ?? '?'})`) : 'missing' });
        const on = ns.find((x) => x.name === other);
        ctx.check({ id: 'other-ready', title: `${other} stays Ready`, ok: on?.ready === true, expected: 'Ready', observed: on ? (on.ready ? 'Ready' : `NotReady (${on.reason ?? '?'})`) : 'missing' });
        const ps = await pods(ctx);
        const live = ps.filter((x) => !x.metadata.deletionTimestamp);
        ctx.check({
          id: 'pods-rescheduled', title: `The Deployment runs ${REPLICAS} pods again, all on ${other}`,
          ok: live.length === REPLICAS && live.every((x) => x.spec.nodeName === other && x.status.phase === 'Running'),
          expected: `${REPLICAS} Running on ${other}`, observed: live.map((x) => `${x.metadata.name}@${x.spec.nodeName ?? '-'}:${x.status.phase}`).join(', '),
        });
        const old = ps.filter((x) => victimPods.includes(x.metadata.name));
        ctx.check({
          id: 'old-pods-terminating', title: `The pods of ${victim} were evicted (Terminating, or gone)`, ok: old.every((x) => !!x.metadata.deletionTimestamp),
          expected: 'all marked for deletion', observed: old.length ? old.map((x) => `${x.metadata.name}: ${x.metadata.deletionTimestamp ? 'Terminating' : x.status.phase}`).join(', ') : 'all gone',
        });
      },
    },
  ],
  cleanup: async (ctx) => {
    const victim = ctx.vars.victim as string | undefined;
    if (victim && ctx.vars.faultAt !== undefined) {
      ctx.log('powering it on: the hollow kubelet starts, renews the lease, the node turns Ready and the old pods are cleaned up', victim);
      await ctx.lab.provider.power(ctx.lab, victim, 'on');
      ctx.mark(`${victim} powered on`, 'recovery');
    }
    await kubectl(ctx.lab, ['delete', 'namespace', WORKLOAD_NS, '--ignore-not-found', '--wait=true', '--timeout=120s'], { allowFail: true, timeoutMs: 150_000 });
    ctx.log(`deleted namespace ${WORKLOAD_NS}`);
  },
};
