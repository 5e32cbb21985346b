// in-cluster-clients: pods reach the API through the `kubernetes` Service (kubernetes.default.svc),
// which kube-proxy balances over the apiservers' addresses, not through the load balancer. When a
// master loses power, its address stays in that Service's endpoints until its apiserver's lease
// expires and a live apiserver removes it: until then some of the pods' connections go to a dead
// address and time out. HAProxy, which checks every few hundred ms, hides the same loss from the
// clients outside the cluster almost at once. (The article's §6: the internal load balancer.)
import type { Prediction } from '../../api/drills.ts';
import type { LabSpec } from '../../api/types.ts';
import { getBootstrap } from '../../bootstraps/index.ts';
import { kubectlJson } from '../../k8s/kubectl.ts';
import { masterHosts, workerHosts } from '../../spec/roles.ts';
import type { Drill, DrillContext } from '../engine.ts';
import { podProbeStats, startPodProbe, type PodProbe } from '../pod-probe.ts';
import { n } from './common.ts';

/** kube-apiserver's endpoint reconciler: each apiserver's lease lives 15 s and is renewed every 10 s (Kubernetes' defaults). */
export const ENDPOINT_LEASE_TTL_S = 15;
export const ENDPOINT_RECONCILE_S = 10;
const REQUEST_TIMEOUT_S = 2;

export function predictInClusterClients(spec: LabSpec): Prediction[] {
  const members = masterHosts(spec).length;
  const removal = ENDPOINT_LEASE_TTL_S;
  return [
    {
      id: 'endpoint-removed',
      label: "The dead apiserver's address leaves the kubernetes Service",
      unit: 's',
      value: removal,
      min: ENDPOINT_LEASE_TTL_S - ENDPOINT_RECONCILE_S,
      margin: ENDPOINT_RECONCILE_S + 5,
      formula: `its lease (TTL ${ENDPOINT_LEASE_TTL_S} s, renewed every ${ENDPOINT_RECONCILE_S} s) expires ${ENDPOINT_LEASE_TTL_S - ENDPOINT_RECONCILE_S}–${ENDPOINT_LEASE_TTL_S} s after the fault, and a live apiserver's reconciler (every ${ENDPOINT_RECONCILE_S} s) removes it; + kube-proxy's sync (≈ 1 s)`,
    },
    {
      id: 'last-pod-failure',
      label: "The pod's last failed request through kubernetes.default.svc",
      unit: 's',
      value: removal,
      min: 0,
      margin: ENDPOINT_RECONCILE_S + REQUEST_TIMEOUT_S + 5,
      formula: `until the endpoint is gone, kube-proxy sends about 1 in ${members} new connections to the dead address; each of those times out (${REQUEST_TIMEOUT_S} s); none after the endpoint is removed`,
    },
    {
      id: 'pod-failures-after',
      label: 'Failed requests once the endpoint is gone',
      unit: 'count',
      value: 0,
      margin: 0,
      formula: 'kube-proxy only knows live apiservers then',
    },
  ];
}

interface Vars {
  victim: string;
  faultAt?: number;
  removedAt?: number;
}
const v = (ctx: DrillContext) => ctx.vars as unknown as Vars;
const probeOf = (ctx: DrillContext) => ctx.vars.podProbe as PodProbe | undefined;

interface Slice {
  endpoints?: { addresses?: string[] }[];
}

async function apiEndpoints(ctx: DrillContext): Promise<string[]> {
  const s = await kubectlJson<{ items: Slice[] }>(ctx.lab, [
    '-n',
    'default',
    'get',
    'endpointslices',
    '-l',
    'kubernetes.io/service-name=kubernetes',
  ]);
  return s.items.flatMap((i) => (i.endpoints ?? []).flatMap((e) => e.addresses ?? []));
}

export const inClusterClients: Drill = {
  info: {
    name: 'in-cluster-clients',
    title: 'Pods reach the API through kubernetes.default.svc while a master is down',
    concept:
      "Inside the cluster, pods do not use the load balancer: the `kubernetes` Service (kubernetes.default.svc) is an internal load balancer that kube-proxy programs on every node with the apiservers' own addresses. Each apiserver keeps its address there with a lease; a master that dies silently stays listed until its lease runs out and a live apiserver removes it. Until then some connections of the pods go to a dead address. The external load balancer (HAProxy behind the VIP) checks every few hundred ms and hides the same loss almost at once.",
    article: '§6',
    needs: '2 masters, 1 worker, real pods (bootstrap kubeadm)',
  },
  needs: (spec) => {
    const out: string[] = [];
    if (masterHosts(spec).length < 2) out.push(`${masterHosts(spec).length} master(s)`);
    if (!workerHosts(spec).length) out.push('no worker');
    if (!getBootstrap(spec.bootstrap).realPods) out.push(`bootstrap ${spec.bootstrap} has no real pods (use kubeadm)`);
    return out;
  },
  predict: predictInClusterClients,
  healthTimeoutMs: 300_000,
  steps: [
    {
      id: 'pod',
      phase: 'act',
      title: 'A pod that reads the API through kubernetes.default.svc',
      explain: (ctx) =>
        `A pod on ${workerHosts(ctx.spec).at(-1)!.name} asks https://kubernetes.default.svc/api every 200 ms with its service-account token (a request that takes over ${REQUEST_TIMEOUT_S} s fails). What it sees is read from its log file on the node.`,
      run: async (ctx) => {
        const node = workerHosts(ctx.spec).at(-1)!.name;
        ctx.vars.podProbe = await startPodProbe(
          ctx.lab,
          {
            name: 'api-client',
            node,
            url: 'https://kubernetes.default.svc/api',
            bearer: true,
            timeoutS: REQUEST_TIMEOUT_S,
          },
          ctx.signal,
        );
        const eps = await apiEndpoints(ctx);
        ctx.log(`kubernetes Service endpoints: ${eps.join(', ')}`);
        ctx.note(
          node,
          `wget -qO- --header "Authorization: Bearer $TOKEN" https://kubernetes.default.svc/api   # every 200 ms, in a pod`,
          'an in-cluster client of the API',
        );
      },
    },
    {
      id: 'power-off',
      phase: 'act',
      title: 'Power off a master',
      explain: (ctx) =>
        `Pull the power of ${masterHosts(ctx.spec).at(-1)!.name}: its apiserver and its lease renewals stop at once.`,
      run: async (ctx) => {
        const victim = masterHosts(ctx.spec).at(-1)!.name;
        v(ctx).victim = victim;
        await ctx.sleep(1000);
        v(ctx).faultAt = ctx.mark(`${victim} powered off`, 'fault').t;
        await ctx.lab.provider.power(ctx.lab, victim, 'off');
      },
    },
    {
      id: 'observe',
      phase: 'observe',
      title: "Watch the dead apiserver leave the kubernetes Service's endpoints",
      explain: (ctx) =>
        `Its lease runs ${ENDPOINT_LEASE_TTL_S} s; a live apiserver's reconciler (every ${ENDPOINT_RECONCILE_S} s) then removes ${v(ctx).victim}'s address; kube-proxy follows within a second.`,
      run: async (ctx) => {
        const { victim, faultAt } = v(ctx);
        const addr = ctx.spec.hosts.find((h) => h.name === victim)!.address;
        const at = await ctx.until(
          `${addr} gone from the kubernetes Service`,
          async () => !(await apiEndpoints(ctx)).includes(addr),
          {
            timeoutMs: 90_000,
            intervalMs: 250,
          },
        );
        v(ctx).removedAt = at;
        ctx.mark(`${addr} removed from kubernetes.default.svc`, 'recovery', at);
        ctx.measure({
          id: 'endpoint-removed',
          label: `${victim}'s address leaves the kubernetes Service`,
          value: (at - faultAt!) / 1000,
          unit: 's',
          predictionId: 'endpoint-removed',
          how: 'EndpointSlices of default/kubernetes, read through the VIP every 250 ms',
        });
        // what the pod sees afterwards
        await ctx.sleep(8000);
      },
    },
    {
      id: 'verify',
      phase: 'verify',
      title: 'Verify: failures only until the endpoint was removed, none after',
      explain:
        'The pod kept reading the API through the Service the whole time; its failures are the connections kube-proxy sent to the dead address.',
      run: async (ctx) => {
        const { faultAt, removedAt } = v(ctx);
        const samples = await probeOf(ctx)!.samples();
        const now = Date.now();
        const during = podProbeStats(samples, faultAt!, removedAt! + 2000);
        const after = podProbeStats(samples, removedAt! + 2000 + REQUEST_TIMEOUT_S * 1000, now);
        const all = podProbeStats(samples, faultAt!, now);
        if (all.lastFailure) {
          ctx.measure({
            id: 'last-pod-failure',
            label: "The pod's last failed request",
            value: (all.lastFailure - faultAt!) / 1000,
            unit: 's',
            predictionId: 'last-pod-failure',
            how: `the pod's own log (its node's /var/log/pods), ${all.requests} requests after the fault`,
          });
        }
        ctx.measure({
          id: 'pod-failures-after',
          label: 'Failed requests once the endpoint was gone',
          value: after.failures,
          unit: 'count',
          predictionId: 'pod-failures-after',
          how: `${after.requests} requests from 2 s after the removal on`,
        });
        ctx.check({
          id: 'pod-kept-reading',
          title: 'The pod read the API through kubernetes.default.svc during the loss (most requests answered)',
          ok: during.requests > 0 && during.failures < during.requests,
          expected: 'some answered while the dead address was still listed',
          observed: `${during.requests - during.failures}/${during.requests} answered until the removal (+2 s)`,
        });
        ctx.check({
          id: 'no-failure-after',
          title: 'No failure once the dead apiserver left the Service',
          ok: after.requests > 0 && after.failures === 0,
          expected: '0 failed',
          observed: `${after.failures}/${after.requests} failed`,
        });
        ctx.log(
          `pod: ${all.requests} requests after the fault, ${all.failures} failed (longest gap ${n(all.longestGapMs / 1000)} s)`,
        );
      },
    },
  ],
  cleanup: async (ctx) => {
    await probeOf(ctx)?.stop({ last: true });
    const { victim, faultAt } = v(ctx);
    if (victim && faultAt !== undefined) {
      await ctx.lab.provider.power(ctx.lab, victim, 'on');
      ctx.mark(`${victim} powered on`, 'recovery');
    }
  },
};
