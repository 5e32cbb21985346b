// worker-down: pull the power of a worker that runs pods. Its kubelet stops renewing the node's
// lease; after the grace period the node controller marks it NotReady and taints it; after the
// pods' toleration for that taint they are evicted, and their ReplicaSet starts replacements on
// the remaining worker.

import type { Prediction } from '../../api/drills.ts';
import type { LabSpec } from '../../api/types.ts';
import { kubectl, kubectlJson, nodes } from '../../k8s/kubectl.ts';
import { AGNHOST_IMAGE } from '../../artifacts/images.ts';
import { getBootstrap } from '../../bootstraps/index.ts';
import type { Drill, DrillContext } from '../engine.ts';
import { applyManifest, probeHost } from '../probe.ts';
import { n } from './common.ts';
import { masterHosts, workerHosts } from '../../spec/roles.ts';
import { podProbeStats, startPodProbe, type PodProbe } from '../pod-probe.ts';

/** --node-monitor-period the lab gives the controller-manager (control-plane/flags.ts). */
export const NODE_MONITOR_PERIOD_S = 2;
export const WORKLOAD_NS = 'halab-drill-workload';
export const WORKLOAD = 'drill-web';
export const REPLICAS = 4;
/**
 * After the victim's pods leave the Service's EndpointSlices: kube-proxy's sync on the client's
 * node (minSyncPeriod 1 s) plus one probe request's timeout (2 s), ms (the check's settling time).
 */
const KUBE_PROXY_SETTLE_MS = 3000;

export function predictWorkerDown(spec: LabSpec): Prediction[] {
  const t = spec.timers;
  const renew = getBootstrap(spec.bootstrap).nodeLeaseRenewS(spec);
  const notReady = t.nodeMonitorGracePeriodS + NODE_MONITOR_PERIOD_S;
  const notReadyMin = Math.max(0, t.nodeMonitorGracePeriodS - renew);
  return [
    {
      id: 'node-notready',
      label: 'The node turns NotReady',
      unit: 's',
      value: notReady,
      min: notReadyMin,
      margin: 5,
      formula: `nodeMonitorGracePeriod ${n(t.nodeMonitorGracePeriodS)} s after the last lease renewal (renewed every ${renew} s, so ${n(t.nodeMonitorGracePeriodS - renew)}–${n(t.nodeMonitorGracePeriodS)} s after the fault) + up to one node-monitor-period (${NODE_MONITOR_PERIOD_S} s)`,
    },
    {
      id: 'pods-evicted',
      label: 'Its pods are evicted',
      unit: 's',
      value: notReady + t.podEvictionTolerationS,
      min: notReadyMin + t.podEvictionTolerationS,
      margin: 6,
      formula: `NotReady + the pods' toleration of the unreachable taint (podEvictionToleration ${n(t.podEvictionTolerationS)} s, the apiserver's default-unreachable-toleration-seconds)`,
    },
    {
      id: 'service-last-failure',
      label: 'Last failed request to the Service (real pods)',
      unit: 's',
      value: notReady + 1,
      min: 0,
      margin: 6,
      formula: `until the node is NotReady its pods stay in the Service's endpoints, and kube-proxy sends them about half of the requests (they time out); at NotReady the node controller marks its pods not ready, they leave the endpoints and kube-proxy follows (≈ 1 s)`,
    },
    {
      id: 'pods-rescheduled',
      label: 'Replacements Running on the other worker',
      unit: 's',
      value: notReady + t.podEvictionTolerationS + 3,
      min: notReadyMin + t.podEvictionTolerationS,
      margin: 8,
      formula:
        'eviction + the ReplicaSet creating replacements, the scheduler placing them and the kubelet starting them (≈ 1–3 s)',
    },
  ];
}

interface PodItem {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status: { phase?: string };
}

/** Whether any EndpointSlice of the workload's Service lists one of `names` as ready (throws when the API does not answer). */
async function endpointsList(ctx: DrillContext, names: string[]): Promise<boolean> {
  const r = await kubectlJson<{
    items: { endpoints?: { conditions?: { ready?: boolean }; targetRef?: { name?: string } }[] }[];
  }>(ctx.lab, ['-n', WORKLOAD_NS, 'get', 'endpointslices', '-l', `kubernetes.io/service-name=${WORKLOAD}`]);
  return r.items.some((s) =>
    (s.endpoints ?? []).some((e) => e.conditions?.ready !== false && names.includes(e.targetRef?.name ?? '')),
  );
}

async function pods(ctx: DrillContext): Promise<PodItem[]> {
  return (await kubectlJson<{ items: PodItem[] }>(ctx.lab, ['-n', WORKLOAD_NS, 'get', 'pods', '-l', `app=${WORKLOAD}`]))
    .items;
}

/** The drill's Deployment, placed on the lab's workers with `workerSelector` (the bootstrap's). */
export function workloadManifest(workerSelector: Record<string, string>): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: WORKLOAD_NS, labels: { 'halab.dev/drill': 'worker-down' } },
      },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: WORKLOAD, namespace: WORKLOAD_NS },
        spec: {
          replicas: REPLICAS,
          selector: { matchLabels: { app: WORKLOAD } },
          template: {
            metadata: { labels: { app: WORKLOAD } },
            spec: {
              nodeSelector: workerSelector,
              // spread evenly over the workers; a tainted (NotReady) node is not a place to keep
              // even with (nodeTaintsPolicy Honor), or the replacements could not be scheduled
              topologySpreadConstraints: [
                {
                  maxSkew: 1,
                  topologyKey: 'kubernetes.io/hostname',
                  whenUnsatisfiable: 'DoNotSchedule',
                  nodeTaintsPolicy: 'Honor',
                  labelSelector: { matchLabels: { app: WORKLOAD } },
                },
              ],
              terminationGracePeriodSeconds: 5,
              // agnhost's web server (built locally for the kubeadm bootstrap; a hollow node only reports it Running)
              containers: [{ name: 'web', image: AGNHOST_IMAGE, args: ['netexec', '--http-port=8080'] }],
            },
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: WORKLOAD, namespace: WORKLOAD_NS },
        spec: { selector: { app: WORKLOAD }, ports: [{ port: 80, targetPort: 8080 }] },
      },
    ],
  });
}

interface Vars {
  victim: string;
  other: string;
  faultAt: number;
  lastRenew?: number;
  victimPods: string[];
}
const v = (ctx: DrillContext) => ctx.vars as unknown as Vars;

export const workerDown: Drill = {
  info: {
    name: 'worker-down',
    title: 'A worker loses power',
    concept:
      'Workers scale the cluster and heal it: a node that stops reporting in is declared lost, and the pods it ran are recreated elsewhere. Nothing reacts at once, by design: the node controller waits for the grace period before it calls the node NotReady (a short network blip should not move every pod), and the pods themselves tolerate that for a while more before they are evicted and replaced.',
    article: '§2.1',
    needs: '2 workers',
  },
  needs: (spec) => (workerHosts(spec).length < 2 ? [`${workerHosts(spec).length} worker(s)`] : []),
  predict: predictWorkerDown,
  healthTimeoutMs: 240_000,
  steps: [
    {
      id: 'workload',
      phase: 'act',
      title: `Run a ${REPLICAS}-replica Deployment spread over the workers`,
      explain: (ctx) =>
        `A Deployment of ${REPLICAS} pods with a topology spread constraint (maxSkew 1 per node): half of them land on each worker. ${
          ctx.lab.bootstrap.realPods
            ? `They are web servers behind a ClusterIP Service, and a client pod on ${masterHosts(ctx.spec)[0]?.name} asks the Service every 200 ms: what a user of the Service sees while a worker is lost.`
            : 'The pods run on hollow nodes (real kubelet code, fake container runtime), so they report Running without starting containers.'
        }`,
      run: async (ctx) => {
        await applyManifest(ctx.lab, workloadManifest(ctx.lab.bootstrap.workerSelector(ctx.spec)));
        const workers = workerHosts(ctx.spec).map((w) => w.name);
        let last = '';
        await ctx
          .until(
            `${REPLICAS} pods Running on both workers`,
            async () => {
              const ps = (await pods(ctx)).filter((p) => !p.metadata.deletionTimestamp);
              last = ps.map((p) => `${p.metadata.name}@${p.spec.nodeName ?? '-'}:${p.status.phase}`).join(' ');
              const running = ps.filter((p) => p.status.phase === 'Running');
              return running.length === REPLICAS && workers.every((w) => running.some((p) => p.spec.nodeName === w));
            },
            { timeoutMs: 90_000, intervalMs: 500, fix: 'kubectl -n halab-drill-workload describe pods' },
          )
          .catch((err) => {
            ctx.log(`pods: ${last}`);
            throw err;
          });
        ctx.log(`pods: ${last}`);
        if (ctx.lab.bootstrap.realPods && masterHosts(ctx.spec).length) {
          const svc = await kubectlJson<{ spec: { clusterIP: string } }>(ctx.lab, [
            '-n',
            WORKLOAD_NS,
            'get',
            'service',
            WORKLOAD,
          ]);
          ctx.vars.podProbe = await startPodProbe(
            ctx.lab,
            {
              name: 'service-client',
              node: masterHosts(ctx.spec)[0]!.name,
              url: `http://${svc.spec.clusterIP}/hostname`,
            },
            ctx.signal,
          );
        }
      },
    },
    {
      id: 'choose',
      phase: 'explain',
      title: 'Choose the worker to power off',
      explain: (ctx) =>
        `The probe runs on ${probeHost(ctx.lab)}, so the victim is another worker that runs pods of the Deployment.`,
      run: async (ctx) => {
        const probe = probeHost(ctx.lab);
        const ps = await pods(ctx);
        const victim = workerHosts(ctx.spec)
          .map((w) => w.name)
          .reverse()
          .find((w) => w !== probe && ps.some((p) => p.spec.nodeName === w));
        if (!victim) throw new Error('no worker other than the probe host runs pods of the Deployment');
        const other = workerHosts(ctx.spec)
          .map((w) => w.name)
          .find((w) => w !== victim)!;
        Object.assign(ctx.vars, {
          victim,
          other,
          victimPods: ps.filter((p) => p.spec.nodeName === victim).map((p) => p.metadata.name),
        });
        ctx.log(`victim ${victim} runs ${v(ctx).victimPods.join(', ')}`, victim);
      },
    },
    {
      id: 'power-off',
      phase: 'act',
      title: 'Power off the worker',
      explain: (ctx) =>
        `Pull the power of ${v(ctx).victim}. Its kubelet last renewed its node lease some seconds ago: the countdown to NotReady started then, not now.`,
      run: async (ctx) => {
        const { victim } = v(ctx);
        const lease = await kubectlJson<{ spec?: { renewTime?: string } }>(ctx.lab, [
          '-n',
          'kube-node-lease',
          'get',
          'lease',
          victim,
        ]).catch(() => undefined);
        const renew = lease?.spec?.renewTime ? Date.parse(lease.spec.renewTime) : undefined;
        ctx.vars.faultAt = ctx.mark(`${victim} powered off`, 'fault').t;
        await ctx.lab.provider.power(ctx.lab, victim, 'off');
        if (renew) {
          ctx.vars.lastRenew = renew;
          ctx.mark(`last lease renewal of ${victim}`, 'info', renew);
          ctx.measure({
            id: 'last-renewal',
            label: 'Its last lease renewal before the fault',
            value: (v(ctx).faultAt - renew) / 1000,
            unit: 's',
            how: `kube-node-lease/${victim} renewTime, read just before the power-off`,
          });
        }
      },
    },
    {
      id: 'observe',
      phase: 'observe',
      title: 'Watch the node turn NotReady and its pods move',
      explain: (ctx) =>
        `Expected: NotReady about ${n(ctx.spec.timers.nodeMonitorGracePeriodS)} s after the last renewal, pods evicted ${n(ctx.spec.timers.podEvictionTolerationS)} s later, replacements on ${v(ctx).other}.`,
      run: async (ctx) => {
        const { victim, other, faultAt, victimPods, lastRenew } = v(ctx);
        const p1 = ctx.prediction('pods-rescheduled');
        let notReadyAt: number | undefined;
        let endpointsLeftAt: number | undefined;
        const watchEndpoints = !!ctx.vars.podProbe;
        let evictedAt: number | undefined;
        let movedAt: number | undefined;
        await ctx.until(
          `${victim} NotReady and its pods Running on ${other}`,
          async () => {
            if (notReadyAt === undefined) {
              const ns = await nodes(ctx.lab);
              if (ns.find((x) => x.name === victim)?.ready === false) {
                notReadyAt = Date.now();
                ctx.vars.notReadyAt = notReadyAt;
                ctx.mark(`${victim} NotReady`, 'info', notReadyAt);
              }
            }
            if (watchEndpoints && notReadyAt !== undefined && endpointsLeftAt === undefined) {
              if (!(await endpointsList(ctx, victimPods))) {
                endpointsLeftAt = Date.now();
                ctx.vars.endpointsLeftAt = endpointsLeftAt;
                ctx.mark(`${victim}'s pods left the Service's endpoints`, 'info', endpointsLeftAt);
              }
            }
            const ps = await pods(ctx);
            if (
              evictedAt === undefined &&
              victimPods.every((name) => {
                const q = ps.find((x) => x.metadata.name === name);
                return !q || !!q.metadata.deletionTimestamp;
              })
            ) {
              evictedAt = Date.now();
              ctx.mark('pods evicted', 'info', evictedAt);
            }
            if (evictedAt !== undefined && movedAt === undefined) {
              const live = ps.filter((x) => !x.metadata.deletionTimestamp);
              if (
                live.length === REPLICAS &&
                live.every((x) => x.spec.nodeName === other && x.status.phase === 'Running')
              ) {
                movedAt = Date.now();
                ctx.mark(`all ${REPLICAS} pods Running on ${other}`, 'recovery', movedAt);
              }
            }
            return (
              notReadyAt !== undefined && movedAt !== undefined && (!watchEndpoints || endpointsLeftAt !== undefined)
            );
          },
          { timeoutMs: (p1.value + p1.margin + 60) * 1000, intervalMs: 500 },
        );
        ctx.measure({
          id: 'node-notready',
          label: `${victim} NotReady`,
          value: (notReadyAt! - faultAt) / 1000,
          unit: 's',
          predictionId: 'node-notready',
          how: 'Node Ready condition, read through the VIP every 0.5 s',
        });
        if (lastRenew)
          ctx.measure({
            id: 'notready-since-renewal',
            label: 'NotReady after the last lease renewal',
            value: (notReadyAt! - lastRenew) / 1000,
            unit: 's',
            how: `compare with nodeMonitorGracePeriod ${n(ctx.spec.timers.nodeMonitorGracePeriodS)} s (+ up to ${NODE_MONITOR_PERIOD_S} s monitor period)`,
          });
        if (endpointsLeftAt)
          ctx.measure({
            id: 'endpoints-left',
            label: `${victim}'s pods left the Service's endpoints`,
            value: (endpointsLeftAt - faultAt) / 1000,
            unit: 's',
            how: `no ready endpoint of the Service names one of its pods (EndpointSlices polled every 0.5 s); ${n((endpointsLeftAt - notReadyAt!) / 1000)} s after NotReady was seen`,
          });
        ctx.measure({
          id: 'pods-evicted',
          label: 'Its pods evicted',
          value: (evictedAt! - faultAt) / 1000,
          unit: 's',
          predictionId: 'pods-evicted',
          how: 'every pod of the victim marked for deletion (deletionTimestamp), polled every 0.5 s',
        });
        ctx.measure({
          id: 'pods-rescheduled',
          label: `Replacements Running on ${other}`,
          value: (movedAt! - faultAt) / 1000,
          unit: 's',
          predictionId: 'pods-rescheduled',
          how: `${REPLICAS} non-terminating pods Running on ${other}`,
        });
      },
    },
    {
      id: 'verify',
      phase: 'verify',
      title: 'Verify: the node is NotReady, its pods were replaced on the other worker',
      explain:
        'The old pods stay "Terminating": their kubelet is gone and cannot confirm they stopped. They disappear when the node comes back (or is deleted).',
      run: async (ctx) => {
        const { victim, other, victimPods } = v(ctx);
        // one read of both through the VIP (asked again for up to 30 s: one request lost on a
        // loaded machine is not what this drill verifies)
        let ns: Awaited<ReturnType<typeof nodes>> = [];
        let ps: PodItem[] = [];
        await ctx.until(
          'the nodes and the pods through the VIP',
          async () => {
            ns = await nodes(ctx.lab);
            ps = await pods(ctx);
            return true;
          },
          { timeoutMs: 30_000, intervalMs: 1000 },
        );
        const vn = ns.find((x) => x.name === victim);
        ctx.check({
          id: 'node-notready',
          title: `${victim} is NotReady`,
          ok: vn?.ready === false,
          expected: 'NotReady',
          observed: vn ? (vn.ready ? 'Ready' : `NotReady (${vn.reason ?? '?'})`) : 'missing',
        });
        const on = ns.find((x) => x.name === other);
        ctx.check({
          id: 'other-ready',
          title: `${other} stays Ready`,
          ok: on?.ready === true,
          expected: 'Ready',
          observed: on ? (on.ready ? 'Ready' : `NotReady (${on.reason ?? '?'})`) : 'missing',
        });
        const live = ps.filter((x) => !x.metadata.deletionTimestamp);
        ctx.check({
          id: 'pods-rescheduled',
          title: `The Deployment runs ${REPLICAS} pods again, all on ${other}`,
          ok: live.length === REPLICAS && live.every((x) => x.spec.nodeName === other && x.status.phase === 'Running'),
          expected: `${REPLICAS} Running on ${other}`,
          observed: live.map((x) => `${x.metadata.name}@${x.spec.nodeName ?? '-'}:${x.status.phase}`).join(', '),
        });
        const probe = ctx.vars.podProbe as PodProbe | undefined;
        if (probe) {
          const { faultAt } = v(ctx);
          const endpointsLeftAt = ctx.vars.endpointsLeftAt as number;
          const samples = await probe.samples();
          const all = podProbeStats(samples, faultAt, Date.now());
          const after = podProbeStats(samples, endpointsLeftAt + KUBE_PROXY_SETTLE_MS, Date.now());
          ctx.measure({
            id: 'service-failures',
            label: 'Requests to the Service that failed (from a pod on a master)',
            value: all.failures,
            unit: 'count',
            how: `${all.requests} requests since the fault, longest time without an answer ${n(all.longestGapMs / 1000)} s`,
          });
          if (all.lastFailure)
            ctx.measure({
              id: 'service-last-failure',
              label: "The Service's last failed request",
              value: (all.lastFailure - faultAt) / 1000,
              unit: 's',
              predictionId: 'service-last-failure',
              how: "the client pod's own log on its node",
            });
          ctx.check({
            id: 'service-heals',
            title: `The Service answers every request once ${victim}'s pods left its endpoints (at NotReady)`,
            ok: after.requests > 0 && after.failures === 0,
            expected: `0 failed from ${KUBE_PROXY_SETTLE_MS / 1000} s after the endpoints changed (kube-proxy's sync + one request)`,
            observed: `${after.failures}/${after.requests} failed`,
          });
        }
        const old = ps.filter((x) => victimPods.includes(x.metadata.name));
        ctx.check({
          id: 'old-pods-terminating',
          title: `The pods of ${victim} were evicted (Terminating, or gone)`,
          ok: old.every((x) => !!x.metadata.deletionTimestamp),
          expected: 'all marked for deletion',
          observed: old.length
            ? old
                .map((x) => `${x.metadata.name}: ${x.metadata.deletionTimestamp ? 'Terminating' : x.status.phase}`)
                .join(', ')
            : 'all gone',
        });
      },
    },
  ],
  cleanup: async (ctx) => {
    await (ctx.vars.podProbe as PodProbe | undefined)?.stop({ last: true });
    const victim = ctx.vars.victim as string | undefined;
    if (victim && ctx.vars.faultAt !== undefined) {
      ctx.log(
        'powering it on: its kubelet starts, renews the lease, the node turns Ready and the old pods are cleaned up',
        victim,
      );
      await ctx.lab.provider.power(ctx.lab, victim, 'on');
      ctx.mark(`${victim} powered on`, 'recovery');
    }
    await kubectl(
      ctx.lab,
      ['delete', 'namespace', WORKLOAD_NS, '--ignore-not-found', '--wait=true', '--timeout=120s'],
      { allowFail: true, timeoutMs: 150_000 },
    );
    ctx.log(`deleted namespace ${WORKLOAD_NS}`);
  },
};
