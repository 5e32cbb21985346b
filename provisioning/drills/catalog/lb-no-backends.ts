// lb-no-backends: the active load balancer keeps running but can no longer reach any apiserver
// (a blackhole route to every master on it: a bad route push, a firewall rule, a broken uplink).
// HAProxy marks every backend DOWN and accepts connections only to close them; keepalived's
// backend check, a real request through that HAProxy, fails, the LB's priority drops below the
// standby's, and the standby takes the VIP. When the routes go, the VIP comes back.

import type { Prediction } from '../../api/drills.ts';
import type { LabSpec } from '../../api/types.ts';
import { controlPlaneStatus } from '../../engine/cp-status.ts';
import { kubectl } from '../../k8s/kubectl.ts';
import { masterHosts, workerHosts } from '../../spec/roles.ts';
import { TRACK, backendRise, lbNodes, masterDownMs, masterLb, vrrpSettings } from '../../steps/lb/model.ts';
import { describeViews, haproxyViews, vipView, vrrpStates } from '../../steps/lb/status.ts';
import type { Drill, DrillContext } from '../engine.ts';
import { DEFAULT_PROBE, probeStats } from '../probe.ts';
import { SYN_RETRANSMIT_MS } from './lb-failover.ts';
import {
  haproxyAllDownCondition,
  n,
  probeCaughtUp,
  probeOutageCheck,
  s,
  vipPresentCondition,
  watchOnHost,
} from './common.ts';

/** The blackhole routes to every master (pure): what the drill runs on the LB, and its undo. */
export function blackholeCommands(spec: LabSpec): { add: string; del: string } {
  const ms = masterHosts(spec).map((m) => `${m.address}/32`);
  return {
    add: ms.map((m) => `ip route replace blackhole ${m}`).join(' && '),
    del: ms.map((m) => `ip route del blackhole ${m} 2>/dev/null`).join('; ') + '; true',
  };
}

export function predictLbNoBackends(spec: LabSpec): Prediction[] {
  const t = spec.timers;
  const v = vrrpSettings(spec);
  const advertMs = v.advertInt * 1000;
  const down = masterDownMs(spec);
  const bk = TRACK.backends;
  const trackMs = bk.fall * bk.intervalS * 1000;
  const trackMin = (bk.fall - 1) * bk.intervalS * 1000;
  const takeover = trackMs + down;
  const home = masterLb(spec);
  const riseHome = backendRise(home);
  const readRate = 1000 / DEFAULT_PROBE.tickMs;
  return [
    {
      id: 'haproxy-all-down',
      label: 'HAProxy on the active LB marks every apiserver DOWN',
      unit: 'ms',
      value: t.haproxyCheckFall * t.haproxyCheckInterMs,
      min: (t.haproxyCheckFall - 1) * t.haproxyCheckInterMs,
      margin: 1000,
      formula: `a blackholed connect fails at once (EINVAL), so each check fails as soon as it starts: fall ${t.haproxyCheckFall} checks, inter ${t.haproxyCheckInterMs} ms apart`,
    },
    {
      id: 'vip-takeover',
      label: 'The standby takes the VIP',
      unit: 'ms',
      value: takeover,
      min: Math.round(trackMin + down - advertMs),
      margin: 1500,
      formula: `keepalived's backend check (GET /readyz through this LB's own HAProxy, every ${bk.intervalS} s) fails at once; after fall ${bk.fall} failures (${n(trackMin / 1000)}–${n(trackMs / 1000)} s) the active LB's priority drops by ${bk.weight}, below the standby's; the standby ignores the lower-priority adverts and takes the VIP when its master-down timer runs out (3 × ${n(v.advertInt)} s + skew = ${down} ms): ${n(trackMs / 1000)} s + ${down} ms`,
    },
    {
      id: 'read-outage',
      label: 'Longest read outage through the VIP',
      unit: 'ms',
      value: takeover + DEFAULT_PROBE.tickMs,
      min: Math.round(trackMin + down - advertMs),
      margin: 1500 + SYN_RETRANSMIT_MS,
      formula: `until the VIP moves, every request through it reaches the active LB's HAProxy, which has no server for it (<NOSRV>: accepted, then closed): VIP takeover (${takeover} ms) + one probe interval (${DEFAULT_PROBE.tickMs} ms); margin: a SYN retransmission (${SYN_RETRANSMIT_MS} ms) of a connection opened during the switch, + 0.5 s`,
    },
    {
      id: 'read-failures',
      label: 'Failed reads',
      unit: 'count',
      value: Math.round((readRate * takeover) / 1000),
      min: Math.round((readRate * (trackMin + down - advertMs)) / 1000),
      margin: Math.round(readRate * 2),
      formula: `${n(readRate)} reads/s × the VIP takeover (${n(takeover / 1000)} s): every read until the VIP moves fails; margin: 2 s of reads for a loaded machine`,
    },
    {
      id: 'failback',
      label: `The VIP back on ${home.name} after the routes are removed`,
      unit: 'ms',
      value: t.haproxyCheckRise * t.haproxyCheckInterMs + riseHome * bk.intervalS * 1000 + down,
      min: Math.round((t.haproxyCheckRise - 1) * t.haproxyCheckInterMs + (riseHome - 1) * bk.intervalS * 1000),
      margin: 2000,
      formula: `HAProxy counts the apiservers UP after rise ${t.haproxyCheckRise} × ${t.haproxyCheckInterMs} ms, keepalived its backends usable after rise ${riseHome} passes ${bk.intervalS} s apart (priority back to ${home.priority}), then ${home.name} ignores the standby's lower-priority adverts and preempts after its master-down timer (${down} ms)`,
    },
  ];
}

interface Vars {
  active: string;
  standby: string;
  faultAt: number;
  takeoverAt?: number;
  routes?: boolean;
}
const v = (ctx: DrillContext) => ctx.vars as unknown as Vars;

export const lbNoBackends: Drill = {
  info: {
    name: 'lb-no-backends',
    title: 'The active load balancer cannot reach any apiserver',
    concept:
      "A load balancer that is alive but cannot reach its backends is worse than a dead one: it keeps the VIP, accepts every connection and closes it. keepalived must judge an LB by what it is for, not by whether HAProxy answers: its check sends a real API request through the LB's own HAProxy (kubeadm's documented check does the same). When that fails, the LB's VRRP priority drops below the standby's, and the standby takes the VIP. If no LB can reach an apiserver, the priorities keep their order and the VIP stays where it is.",
    article: '§4',
    needs: '2 load balancers, 1 worker (probe)',
  },
  needs: (spec) => {
    const out: string[] = [];
    if (lbNodes(spec).length < 2) out.push(`${lbNodes(spec).length} load balancer(s)`);
    if (workerHosts(spec).length === 0) out.push('no worker');
    return out;
  },
  predict: predictLbNoBackends,
  steps: [
    {
      id: 'choose',
      phase: 'explain',
      title: 'Find the active load balancer',
      explain: (ctx) =>
        `The VIP ${ctx.spec.vip} should be on ${masterLb(ctx.spec).name}. Its keepalived runs two checks: HAProxy's monitor URI (is HAProxy alive?) and GET /readyz through HAProxy to an apiserver (can this LB do its job?). The second one is what this drill breaks.`,
      run: async (ctx) => {
        const view = vipView(await vrrpStates(ctx.lab));
        const active = view.holder ?? masterLb(ctx.spec).name;
        const standby = lbNodes(ctx.spec)
          .filter((l) => l.name !== active)
          .sort((a, b) => b.priority - a.priority)[0]!.name;
        Object.assign(ctx.vars, { active, standby });
        ctx.log(`active: ${active} holds the VIP; standby: ${standby}`, active);
      },
    },
    {
      id: 'blackhole',
      phase: 'act',
      title: 'Blackhole every master on the active load balancer',
      explain: (ctx) =>
        `On ${v(ctx).active}, a blackhole route to each master: HAProxy and keepalived keep running, HAProxy keeps answering its monitor URI, but no packet reaches an apiserver. Watchers on the LBs record when HAProxy marks every apiserver DOWN and when ${v(ctx).standby} has the VIP.`,
      run: async (ctx) => {
        const { active, standby } = v(ctx);
        const vip = watchOnHost(ctx, standby, vipPresentCondition(ctx.spec.vip), { timeoutS: 40, everyS: 0.02 });
        const allDown = watchOnHost(ctx, active, haproxyAllDownCondition(), { timeoutS: 40, everyS: 0.05 });
        Object.assign(ctx.vars, { vipWatch: vip, downWatch: allDown });
        await ctx.sleep(300);
        ctx.vars.routes = true;
        ctx.vars.faultAt = ctx.mark(`${active}: blackhole routes to every master`, 'fault').t;
        await ctx.command(active, blackholeCommands(ctx.spec).add, 'no packet from this LB reaches any apiserver');
      },
    },
    {
      id: 'observe',
      phase: 'observe',
      title: 'Watch HAProxy lose every backend and the standby take the VIP',
      explain: (ctx) =>
        `${v(ctx).active}'s HAProxy marks the apiservers DOWN; keepalived's request through it fails ${TRACK.backends.fall} times in a row; its priority drops by ${TRACK.backends.weight}; ${v(ctx).standby} takes the VIP and announces it with gratuitous ARP.`,
      run: async (ctx) => {
        const { active, standby, faultAt } = v(ctx);
        const down = await (ctx.vars.downWatch as { result: Promise<number | undefined> }).result;
        if (down !== undefined) {
          ctx.mark(`${active}'s HAProxy: every apiserver DOWN`, 'info', down);
          ctx.measure({
            id: 'haproxy-all-down',
            label: `HAProxy on ${active} marks every apiserver DOWN`,
            value: down - faultAt,
            unit: 'ms',
            predictionId: 'haproxy-all-down',
            how: `HAProxy's server states on ${active}, polled every 50 ms on the LB`,
          });
        }
        const at = await (ctx.vars.vipWatch as { result: Promise<number | undefined> }).result;
        if (at !== undefined) {
          ctx.vars.takeoverAt = at;
          ctx.mark(`VIP on ${standby}`, 'recovery', at);
          ctx.measure({
            id: 'vip-takeover',
            label: `VIP takeover by ${standby}`,
            value: at - faultAt,
            unit: 'ms',
            predictionId: 'vip-takeover',
            how: `${standby}'s eth0 polled every 20 ms on ${standby}, from the moment the routes were added`,
          });
        }
        const until = Date.now() + 3000;
        await ctx.sleep(3000);
        await probeCaughtUp(ctx, until);
      },
    },
    {
      id: 'verify',
      phase: 'verify',
      title: 'Verify: the VIP is on the standby, the API answers through it, status names the broken LB',
      explain: '`halab status` must say which LB has no usable backend, and the API must answer through the VIP again.',
      run: async (ctx) => {
        const { active, standby, faultAt, takeoverAt } = v(ctx);
        const now = Date.now();
        const view = vipView(await vrrpStates(ctx.lab));
        ctx.check({
          id: 'vip-moved',
          title: `The VIP moved to ${standby}, the LB that can reach the apiservers`,
          ok: view.holders.length === 1 && view.holder === standby,
          expected: `on ${standby} only`,
          observed: view.holders.length ? `on ${view.holders.join(', ')}` : 'on no LB',
        });
        const cp = await controlPlaneStatus(ctx.lab);
        const lb = cp.lbs.find((l) => l.name === active);
        const flagged = cp.problems.find((p) => p.startsWith(`${active}'s HAProxy has 0 usable backends`));
        ctx.check({
          id: 'status-flags',
          title: `\`halab status\` says ${active} has no usable backend`,
          ok: lb?.usableBackends === 0 && !!flagged,
          expected: `${active}: 0 usable backends, flagged among the problems`,
          observed: flagged ?? (cp.problems.join('; ') || 'no problem reported'),
        });
        const r = await kubectl(ctx.lab, ['get', '--raw', '/readyz'], { allowFail: true });
        ctx.check({
          id: 'api-via-vip',
          title: 'The API answers through the VIP',
          ok: r.stdout.trim() === 'ok',
          expected: 'ok',
          observed: (r.stdout.trim() || r.stderr.trim()).slice(0, 120),
        });
        probeOutageCheck(
          ctx,
          'read',
          'read-outage',
          faultAt - 1000,
          now,
          'Reads through the VIP: no outage longer than predicted',
        );
        const rd = probeStats(ctx.samples(), 'read', { from: faultAt - 1000, to: now });
        ctx.measure({
          id: 'read-failures',
          label: 'Failed reads',
          value: rd.failures,
          unit: 'count',
          predictionId: 'read-failures',
          how: `${rd.requests} reads from 1 s before the fault`,
        });
        ctx.check({
          id: 'probe-recovered',
          title: 'The probe reads and writes again after the takeover',
          ok:
            ctx.samples().some((x) => x.kind === 'read' && x.ok && x.t > (takeoverAt ?? faultAt)) &&
            ctx.samples().some((x) => x.kind === 'write' && x.ok && x.t > (takeoverAt ?? faultAt)),
          expected: 'successful reads and writes after the takeover',
          observed: `${rd.requests - rd.failures} reads succeeded; takeover ${takeoverAt ? `after ${s(takeoverAt - faultAt)}` : 'not seen'}`,
        });
        ctx.log(`HAProxy views: ${describeViews(await haproxyViews(ctx.lab))}`);
      },
    },
  ],
  cleanup: async (ctx) => {
    const { active, routes } = v(ctx);
    if (!active || !routes) return;
    // timed where it happens: a watcher on the LB itself for its own VIP
    const watch = watchOnHost(ctx, active, vipPresentCondition(ctx.spec.vip), { timeoutS: 60, everyS: 0.02 });
    await ctx.sleep(300);
    const t0 = ctx.mark(`${active}: routes removed`, 'recovery').t;
    await ctx.command(active, blackholeCommands(ctx.spec).del, 'the routes go: the apiservers are reachable again');
    const back = await watch.result;
    if (back !== undefined) {
      ctx.mark(`VIP back on ${active}`, 'recovery', back);
      ctx.measure({
        id: 'failback',
        label: `VIP back on ${active} after the routes are removed`,
        value: back - t0,
        unit: 'ms',
        predictionId: 'failback',
        how: `${active}'s eth0 polled every 20 ms on ${active}, from the route removal`,
      });
    }
    await ctx
      .until(
        `the VIP on ${active} only`,
        async () => {
          const view = vipView(await vrrpStates(ctx.lab));
          return view.holders.length === 1 && view.holder === active;
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      )
      .catch(() => undefined);
  },
};
