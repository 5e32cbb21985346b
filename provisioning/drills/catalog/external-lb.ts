// external-lb: why kubelets must talk to the load balancer, not to one apiserver. Two kubelets
// that differ only in the server of their kubeconfig (the bootstrap makes them: extra hollow
// nodes on the fast path): one pinned to a single master's apiserver, one through the VIP.
// Killing that apiserver cuts the first off (it goes NotReady after the grace period, and its
// pods would be evicted: a cascading failure); the second never notices.

import type { Prediction } from '../../api/drills.ts';
import type { LabSpec } from '../../api/types.ts';
import { getBootstrap } from '../../bootstraps/index.ts';
import { nodes } from '../../k8s/kubectl.ts';
import { masterHosts, workerHosts } from '../../spec/roles.ts';
import { masterLb } from '../../steps/lb/model.ts';
import type { Drill, DrillContext } from '../engine.ts';
import { haproxyServerCondition, n, watchOnHost } from './common.ts';
import { NODE_MONITOR_PERIOD_S } from './worker-down.ts';

export function predictExternalLb(spec: LabSpec): Prediction[] {
  const t = spec.timers;
  const renew = getBootstrap(spec.bootstrap).nodeLeaseRenewS(spec);
  return [
    {
      id: 'pinned-notready',
      label: 'The node pinned to one apiserver turns NotReady',
      unit: 's',
      value: t.nodeMonitorGracePeriodS + NODE_MONITOR_PERIOD_S,
      min: Math.max(0, t.nodeMonitorGracePeriodS - renew),
      margin: 5,
      formula: `its lease renewals fail from the fault on; NotReady nodeMonitorGracePeriod ${n(t.nodeMonitorGracePeriodS)} s after the last renewal (renewed every ${renew} s) + up to ${NODE_MONITOR_PERIOD_S} s`,
    },
    {
      id: 'vip-node-notready',
      label: 'Times the node behind the VIP was seen NotReady',
      unit: 'count',
      value: 0,
      margin: 0,
      formula: 'HAProxy sends its requests to the two live apiservers; its lease keeps being renewed',
    },
    {
      id: 'haproxy-down',
      label: 'HAProxy marks the stopped apiserver DOWN',
      unit: 'ms',
      value: t.haproxyCheckFall * t.haproxyCheckInterMs,
      min: (t.haproxyCheckFall - 1) * t.haproxyCheckInterMs,
      margin: 1000,
      formula: `a stopped process is refused at once (unlike a powered-off host): fall ${t.haproxyCheckFall} failed checks, inter ${t.haproxyCheckInterMs} ms apart`,
    },
  ];
}

interface Vars {
  pinned: string;
  /** The node pinned to one apiserver, and the one through the VIP. */
  direct: string;
  viaVip: string;
  faultAt?: number;
  installed?: boolean;
}
const v = (ctx: DrillContext) => ctx.vars as unknown as Vars;

export const externalLb: Drill = {
  info: {
    name: 'external-lb',
    title: 'Why kubelets must go through the load balancer',
    concept:
      "Pods reach the API through the in-cluster Service (kubernetes.default.svc), but the kubelets and anything outside the cluster need an address that stays up: the load balancer's VIP. A kubelet configured with one apiserver's address shares that apiserver's fate: when it dies, the node can no longer report, is declared NotReady and its pods are evicted, although the node itself is fine and two apiservers are still up. A cascading failure caused by configuration, not by the fault.",
    article: '§6',
    needs: '2 masters, 1 worker, 2 load balancers',
  },
  needs: (spec) => {
    const out: string[] = [];
    if (masterHosts(spec).length < 2) out.push(`${masterHosts(spec).length} master(s)`);
    if (!workerHosts(spec).length) out.push('no worker');
    return out;
  },
  predict: predictExternalLb,
  healthTimeoutMs: 240_000,
  steps: [
    {
      id: 'nodes',
      phase: 'act',
      title: 'Two kubelets: one pinned to one apiserver, one through the VIP',
      explain: (ctx) => ctx.lab.bootstrap.pinnedKubelets.describe(ctx.spec),
      run: async (ctx) => {
        const pinned = masterHosts(ctx.spec)[0]!.name;
        v(ctx).pinned = pinned;
        v(ctx).installed = true;
        const { direct, vip } = await ctx.lab.bootstrap.pinnedKubelets.setup(ctx.lab, {
          pinnedTo: pinned,
          narrator: { note: (h, c, why) => ctx.note(h, c, why), log: (m, h) => ctx.log(m, h) },
          signal: ctx.signal,
        });
        Object.assign(ctx.vars, { direct, viaVip: vip });
      },
    },
    {
      id: 'stop-apiserver',
      phase: 'act',
      title: 'Kill the apiserver the pinned node talks to',
      explain: (ctx) =>
        `Kill kube-apiserver on ${v(ctx).pinned} (and keep it down). HAProxy notices within about a second and stops sending it traffic; the kubelet of ${v(ctx).direct} has nowhere else to go.`,
      run: async (ctx) => {
        const { pinned } = v(ctx);
        ctx.vars.watch = watchOnHost(ctx, masterLb(ctx.spec).name, haproxyServerCondition(pinned, false), {
          timeoutS: 30,
          everyS: 0.05,
        });
        await ctx.sleep(300);
        v(ctx).faultAt = ctx.mark(`kube-apiserver on ${pinned} killed`, 'fault').t;
        await ctx.component(
          pinned,
          'kube-apiserver',
          'kill',
          'kill this apiserver (SIGKILL: a crash, no graceful shutdown) and keep it down',
        );
      },
    },
    {
      id: 'observe',
      phase: 'observe',
      title: 'Watch the pinned node go NotReady while the other stays Ready',
      explain: (ctx) =>
        `The node controller (on a live master, through the VIP) sees ${v(ctx).direct}'s lease go stale; ${v(ctx).viaVip}'s lease keeps being renewed through the VIP.`,
      run: async (ctx) => {
        const { faultAt, pinned } = v(ctx);
        const down = await (ctx.vars.watch as { result: Promise<number | undefined> }).result;
        if (down !== undefined) {
          ctx.mark(`HAProxy: ${pinned} DOWN`, 'info', down);
          ctx.measure({
            id: 'haproxy-down',
            label: `HAProxy marks ${pinned} DOWN`,
            value: down - faultAt!,
            unit: 'ms',
            predictionId: 'haproxy-down',
            how: `HAProxy's server state on ${masterLb(ctx.spec).name}, polled every 50 ms`,
          });
        }
        const direct = { name: v(ctx).direct };
        const viaVip = { name: v(ctx).viaVip };
        let notReadyAt: number | undefined;
        let vipBad = 0;
        let polls = 0;
        const p = ctx.prediction('pinned-notready');
        await ctx.until(
          `${direct.name} NotReady`,
          async () => {
            const ns = await nodes(ctx.lab);
            polls++;
            if (ns.find((x) => x.name === viaVip.name)?.ready !== true) vipBad++;
            if (notReadyAt === undefined && ns.find((x) => x.name === direct.name)?.ready === false) {
              notReadyAt = Date.now();
              ctx.mark(`${direct.name} NotReady`, 'info', notReadyAt);
            }
            return notReadyAt !== undefined;
          },
          { timeoutMs: (p.value + p.margin + 40) * 1000, intervalMs: 500 },
        );
        // the VIP node keeps being watched a little longer
        for (let i = 0; i < 10; i++) {
          await ctx.sleep(500);
          const ns = await nodes(ctx.lab);
          polls++;
          if (ns.find((x) => x.name === viaVip.name)?.ready !== true) vipBad++;
        }
        ctx.vars.vipBad = vipBad;
        ctx.vars.polls = polls;
        ctx.measure({
          id: 'pinned-notready',
          label: `${direct.name} NotReady`,
          value: (notReadyAt! - faultAt!) / 1000,
          unit: 's',
          predictionId: 'pinned-notready',
          how: 'Node Ready condition through the VIP, every 0.5 s',
        });
        ctx.measure({
          id: 'vip-node-notready',
          label: `Times ${viaVip.name} was seen NotReady`,
          value: vipBad,
          unit: 'count',
          predictionId: 'vip-node-notready',
          how: `${polls} looks at the node during the drill`,
        });
      },
    },
    {
      id: 'verify',
      phase: 'verify',
      title: 'Verify: pinned node NotReady, VIP node Ready',
      explain: 'Same worker, same fault: the only difference is the address in the kubeconfig.',
      run: async (ctx) => {
        const direct = { name: v(ctx).direct };
        const viaVip = { name: v(ctx).viaVip };
        const ns = await nodes(ctx.lab);
        const d = ns.find((x) => x.name === direct.name);
        const vn = ns.find((x) => x.name === viaVip.name);
        ctx.check({
          id: 'pinned-notready',
          title: `${direct.name} (pinned to ${v(ctx).pinned}) went NotReady`,
          ok: d?.ready === false,
          expected: 'NotReady',
          observed: d ? (d.ready ? 'Ready' : `NotReady (${d.reason ?? '?'})`) : 'missing',
        });
        ctx.check({
          id: 'vip-ready',
          title: `${viaVip.name} (through the VIP) stayed Ready the whole time`,
          ok: vn?.ready === true && ctx.vars.vipBad === 0,
          expected: 'Ready at every look',
          observed: `${vn?.ready ? 'Ready' : 'NotReady'} now; NotReady at ${ctx.vars.vipBad as number} of ${ctx.vars.polls as number} looks`,
        });
        const workers = workerHosts(ctx.spec)
          .map((w) => w.name)
          .filter((w) => w !== direct.name);
        const bad = workers.filter((w) => !ns.find((x) => x.name === w)?.ready);
        ctx.check({
          id: 'workers-ready',
          title: 'The regular worker nodes (through the VIP) stayed Ready',
          ok: bad.length === 0,
          expected: workers.join(', '),
          observed: bad.length ? `NotReady: ${bad.join(', ')}` : 'all Ready',
        });
      },
    },
  ],
  cleanup: async (ctx) => {
    const vars = v(ctx);
    if (vars.faultAt !== undefined) {
      await ctx.component(vars.pinned, 'kube-apiserver', 'start', 'start the apiserver again');
      ctx.mark(`kube-apiserver on ${vars.pinned} started`, 'recovery');
    }
    if (vars.installed) {
      await ctx.lab.bootstrap.pinnedKubelets.teardown(ctx.lab, {
        pinnedTo: vars.pinned,
        narrator: { note: (h, c, why) => ctx.note(h, c, why), log: (m, h) => ctx.log(m, h) },
      });
      ctx.log('the pinned kubelet is back to normal');
    }
  },
};
