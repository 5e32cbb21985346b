// control-plane-down: every master loses power at once. The API is gone (kubectl cannot reach
// it through the VIP), but the workers keep serving: kube-proxy's rules on each node still send
// a Service's traffic to its pods, and the kubelets keep the pods running. Nothing can change
// (no scaling, no rescheduling) until the masters are back. (The article's §5.)
import type { Prediction } from '../../api/drills.ts';
import type { LabSpec } from '../../api/types.ts';
import { AGNHOST_IMAGE } from '../../artifacts/images.ts';
import { getBootstrap } from '../../bootstraps/index.ts';
import { kubectl, kubectlJson } from '../../k8s/kubectl.ts';
import { masterHosts, workerHosts } from '../../spec/roles.ts';
import type { Drill, DrillContext } from '../engine.ts';
import { applyManifest } from '../probe.ts';
import { podProbeStats, startPodProbe, type PodProbe } from '../pod-probe.ts';
import { n } from './common.ts';

export const CPD_NS = 'halab-drill-serving';
const OUTAGE_S = 20;

export function predictControlPlaneDown(spec: LabSpec): Prediction[] {
  const t = spec.timers;
  const down = t.haproxyCheckFall * t.haproxyCheckInterMs;
  return [
    {
      id: 'service-failures',
      label: 'Failed requests to the Service while every master is off',
      unit: 'count',
      value: 0,
      margin: 0,
      formula:
        'kube-proxy programmed the Service into iptables on every node; the pods and the rules stay while the control plane is gone',
    },
    {
      id: 'api-down',
      label: 'The API through the VIP stops answering',
      unit: 'ms',
      value: down,
      min: 0,
      margin: 1500,
      formula: `every apiserver is gone at once: reads fail from the fault on; HAProxy marks them DOWN after fall ${t.haproxyCheckFall} × inter ${t.haproxyCheckInterMs} ms`,
    },
  ];
}

interface Vars {
  node: string;
  clusterIP: string;
  faultAt?: number;
  onAt?: number;
}
const v = (ctx: DrillContext) => ctx.vars as unknown as Vars;
const probeOf = (ctx: DrillContext) => ctx.vars.podProbe as PodProbe | undefined;

function workload(spec: LabSpec): string {
  const selector = getBootstrap(spec.bootstrap).workerSelector(spec);
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: CPD_NS, labels: { 'halab.dev/drill': 'control-plane-down' } },
      },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace: CPD_NS },
        spec: {
          replicas: workerHosts(spec).length,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: {
              nodeSelector: selector,
              topologySpreadConstraints: [
                {
                  maxSkew: 1,
                  topologyKey: 'kubernetes.io/hostname',
                  whenUnsatisfiable: 'DoNotSchedule',
                  labelSelector: { matchLabels: { app: 'web' } },
                },
              ],
              containers: [{ name: 'web', image: AGNHOST_IMAGE, args: ['netexec', '--http-port=8080'] }],
            },
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web', namespace: CPD_NS },
        spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
      },
    ],
  });
}

export const controlPlaneDown: Drill = {
  info: {
    name: 'control-plane-down',
    title: 'Every master loses power: the workloads keep serving',
    concept:
      "The control plane decides; it does not carry the traffic. With every master off, kubectl gets no answer and nothing can be changed, but each worker keeps its pods running and kube-proxy's rules keep sending a Service's traffic to them. HA of the control plane protects the ability to change the cluster; the running workloads already survive without it for a while.",
    article: '§5',
    needs: '1 master, 1 worker, real pods (bootstrap kubeadm)',
  },
  needs: (spec) => {
    const out: string[] = [];
    if (!masterHosts(spec).length) out.push('no master');
    if (!workerHosts(spec).length) out.push('no worker');
    if (!getBootstrap(spec.bootstrap).realPods) out.push(`bootstrap ${spec.bootstrap} has no real pods (use kubeadm)`);
    return out;
  },
  predict: predictControlPlaneDown,
  healthTimeoutMs: 420_000,
  steps: [
    {
      id: 'workload',
      phase: 'act',
      title: 'A web Service with a pod on every worker, and a client pod',
      explain: (ctx) =>
        `agnhost netexec on every worker behind a ClusterIP Service; a client pod on ${workerHosts(ctx.spec)[0]!.name} asks the Service's address every 200 ms.`,
      run: async (ctx) => {
        await applyManifest(ctx.lab, workload(ctx.spec));
        await ctx.until(
          'the web pods Running on every worker',
          async () => {
            const d = await kubectlJson<{ status: { readyReplicas?: number } }>(ctx.lab, [
              '-n',
              CPD_NS,
              'get',
              'deployment',
              'web',
            ]);
            return (d.status.readyReplicas ?? 0) >= workerHosts(ctx.spec).length;
          },
          { timeoutMs: 120_000, intervalMs: 500, fix: `kubectl -n ${CPD_NS} describe pods` },
        );
        const svc = await kubectlJson<{ spec: { clusterIP: string } }>(ctx.lab, [
          '-n',
          CPD_NS,
          'get',
          'service',
          'web',
        ]);
        const node = workerHosts(ctx.spec)[0]!.name;
        Object.assign(ctx.vars, { node, clusterIP: svc.spec.clusterIP });
        // by address: the lab's CoreDNS may run on the masters (kubeadm placed it there), and a
        // name would then not resolve while they are off; the Service itself is kube-proxy's
        ctx.vars.podProbe = await startPodProbe(
          ctx.lab,
          { name: 'web-client', node, url: `http://${svc.spec.clusterIP}/hostname` },
          ctx.signal,
        );
        const dns = await kubectlJson<{ items: { spec: { nodeName?: string } }[] }>(ctx.lab, [
          '-n',
          'kube-system',
          'get',
          'pods',
          '-l',
          'k8s-app=kube-dns',
        ]).catch(() => ({ items: [] }));
        ctx.log(
          `Service web at ${svc.spec.clusterIP}; CoreDNS runs on ${dns.items.map((p) => p.spec.nodeName).join(', ') || '?'}`,
        );
      },
    },
    {
      id: 'power-off',
      phase: 'act',
      title: 'Power off every master',
      explain: (ctx) =>
        `${masterHosts(ctx.spec)
          .map((m) => m.name)
          .join(', ')} lose power together: every apiserver, controller-manager, scheduler and etcd member is gone.`,
      run: async (ctx) => {
        await ctx.sleep(1000);
        v(ctx).faultAt = ctx.mark('every master powered off', 'fault').t;
        await Promise.all(masterHosts(ctx.spec).map((m) => ctx.lab.provider.power(ctx.lab, m.name, 'off')));
      },
    },
    {
      id: 'observe',
      phase: 'observe',
      title: `Watch the Service keep answering for ${OUTAGE_S} s while the API is gone`,
      explain: 'The client pod keeps asking the Service; the probe outside keeps asking the API through the VIP.',
      run: async (ctx) => {
        await ctx.sleep(OUTAGE_S * 1000);
        const r = await kubectl(ctx.lab, ['get', '--raw', '/readyz'], { allowFail: true, timeoutMs: 10_000 });
        ctx.vars.apiAnswered = r.exitCode === 0;
      },
    },
    {
      id: 'verify',
      phase: 'verify',
      title: 'Verify: the Service answered every request, the API none',
      explain: 'What the pod saw comes from its log file on its node (no API needed to read it).',
      run: async (ctx) => {
        const { faultAt } = v(ctx);
        const end = faultAt! + OUTAGE_S * 1000;
        const st = podProbeStats(await probeOf(ctx)!.samples(), faultAt!, end);
        ctx.measure({
          id: 'service-failures',
          label: 'Failed requests to the Service while every master was off',
          value: st.failures,
          unit: 'count',
          predictionId: 'service-failures',
          how: `${st.requests} requests of the client pod in ${OUTAGE_S} s, longest gap ${n(st.longestGapMs / 1000)} s`,
        });
        ctx.check({
          id: 'service-kept-serving',
          title: 'The Service answered every request while the control plane was down',
          ok: st.requests > 0 && st.failures === 0,
          expected: `${st.requests} answered`,
          observed: `${st.requests - st.failures}/${st.requests} answered`,
        });
        const reads = ctx.samples().filter((s) => s.kind === 'read' && s.t >= faultAt! + 3000 && s.t <= end);
        ctx.check({
          id: 'api-gone',
          title: 'The API through the VIP did not answer (kubectl cannot change anything)',
          ok: ctx.vars.apiAnswered === false && reads.every((s) => s.ok !== true),
          expected: 'no read answered from 3 s after the fault',
          observed: `${reads.filter((s) => s.ok === true).length}/${reads.length} reads answered; kubectl ${ctx.vars.apiAnswered ? 'answered' : 'got no answer'}`,
        });
        const firstFail = ctx.samples().find((s) => s.kind === 'read' && s.t >= faultAt! && s.ok !== true);
        if (firstFail) {
          ctx.measure({
            id: 'api-down',
            label: 'The API through the VIP stops answering',
            value: Math.max(0, firstFail.t - faultAt!),
            unit: 'ms',
            predictionId: 'api-down',
            how: 'the first read of the probe on the worker that did not succeed',
          });
        }
      },
    },
  ],
  cleanup: async (ctx) => {
    const { faultAt } = v(ctx);
    if (faultAt !== undefined) {
      await Promise.all(masterHosts(ctx.spec).map((m) => ctx.lab.provider.power(ctx.lab, m.name, 'on')));
      ctx.mark('every master powered on', 'recovery');
      await ctx
        .until(
          'the API through the VIP again',
          async () => (await kubectl(ctx.lab, ['get', '--raw', '/readyz'], { allowFail: true })).stdout.trim() === 'ok',
          { timeoutMs: 300_000, intervalMs: 1000 },
        )
        .catch(() => ctx.log('the API is not back yet: the health check waits for it'));
    }
    await probeOf(ctx)?.stop({ last: true });
    await kubectl(ctx.lab, ['delete', 'namespace', CPD_NS, '--ignore-not-found', '--wait=false'], { allowFail: true });
  },
};
