// lb-failover: pull the power of the load balancer that holds the VIP. keepalived on the standby
// stops hearing VRRP adverts, waits out the master-down interval, claims the VIP and announces it
// with gratuitous ARP; clients reconnect to the same address and reach the standby's HAProxy.

import type { Prediction } from '../../api/drills.ts';
import type { LabSpec } from '../../api/types.ts';
import { kubectl } from '../../k8s/kubectl.ts';
import { LB_PATHS, lbNodes, masterDownMs, masterLb, vrrpSettings } from '../../steps/lb/model.ts';
import { parseVrrpEvents, vipHolder, vipHolders } from '../../steps/lb/status.ts';
import type { Drill, DrillContext } from '../engine.ts';
import { DEFAULT_PROBE, probeStats } from '../probe.ts';
import {
  firstSuccessAfter,
  n,
  probeCaughtUp,
  probeOutageCheck,
  s,
  vipPresentCondition,
  watchOnHost,
} from './common.ts';
import { workerHosts } from '../../spec/roles.ts';

/** Linux's initial TCP retransmission timeout: a lost SYN is sent again after 1 s. */
export const SYN_RETRANSMIT_MS = 1000;

export function predictLbFailover(spec: LabSpec): Prediction[] {
  const v = vrrpSettings(spec);
  const nodes = lbNodes(spec);
  const backup = nodes[1] ?? nodes[0]!;
  const advertMs = v.advertInt * 1000;
  const down = masterDownMs(spec);
  const skewMs = ((256 - backup.priority) / 256) * advertMs;
  const formula = `3 × advert_int ${n(v.advertInt)} s + skew (256 − priority ${backup.priority})/256 × ${n(v.advertInt)} s = ${(down / 1000).toFixed(3)} s after the last advert (VRRPv${v.version}); the power goes off 0–${n(v.advertInt)} s after that advert`;
  const writeInterval = DEFAULT_PROBE.tickMs * DEFAULT_PROBE.writeEvery;
  return [
    {
      id: 'vip-takeover',
      label: `VIP takeover by ${backup.name}`,
      unit: 'ms',
      value: down,
      min: Math.round(3 * advertMs + skewMs - advertMs),
      margin: 500,
      formula,
    },
    {
      id: 'read-outage',
      label: 'Longest read outage through the VIP',
      unit: 'ms',
      value: down + DEFAULT_PROBE.tickMs,
      min: Math.round(down - advertMs),
      margin: 1000,
      formula: `VIP takeover (${down} ms) + one probe read interval (${DEFAULT_PROBE.tickMs} ms): requests sent to the dead LB get no answer until the standby claims the VIP and its gratuitous ARP moves the clients; requests in flight at the fault are lost (reset); margin: one SYN retransmission (${SYN_RETRANSMIT_MS} ms) of connections opened during the switch`,
    },
    {
      id: 'write-outage',
      label: 'Longest write outage through the VIP',
      unit: 'ms',
      value: down + writeInterval + SYN_RETRANSMIT_MS,
      min: Math.round(down - advertMs),
      margin: 1000,
      formula: `VIP takeover (${down} ms) + one probe write interval (${writeInterval} ms) + the client's first SYN retransmission (${SYN_RETRANSMIT_MS} ms): a connection opened just before the clients learn the standby's MAC loses its SYN to the dead LB and retries a second later (measured here: client gaps of 0.6–1.1 s while the VIP itself moved in 0.09–0.31 s)`,
    },
  ];
}

interface Vars {
  active: string;
  standby: string;
  faultAt: number;
  takeoverAt?: number;
}
const v = (ctx: DrillContext) => ctx.vars as unknown as Vars;

export const lbFailover: Drill = {
  info: {
    name: 'lb-failover',
    title: 'The active load balancer loses power',
    concept:
      'The load balancer must not be a single point of failure: two HAProxies sit behind one floating address (the VIP) that keepalived moves between them. The active one sends a VRRP advertisement every advert_int; when the standby hears none for three intervals plus a small priority-based skew, it takes the VIP and announces it with gratuitous ARP. Clients keep using the same address; they only lose the requests in flight during the switch.',
    article: '§4',
    needs: '2 load balancers, 1 worker (probe)',
  },
  needs: (spec) => {
    const out: string[] = [];
    if (lbNodes(spec).length < 2) out.push(`${lbNodes(spec).length} load balancer(s)`);
    if (workerHosts(spec).length === 0) out.push('no worker');
    return out;
  },
  predict: predictLbFailover,
  steps: [
    {
      id: 'choose',
      phase: 'explain',
      title: 'Find the active load balancer',
      explain: (ctx) =>
        `The VIP ${ctx.spec.vip} should be on ${masterLb(ctx.spec).name} (VRRP priority ${masterLb(ctx.spec).priority}, the highest). Its standby waits for three missed adverts plus a skew before it takes over: the lower its priority, the longer the skew.`,
      run: async (ctx) => {
        const holder = await vipHolder(ctx.lab);
        const active = holder ?? masterLb(ctx.spec).name;
        const standby = lbNodes(ctx.spec)
          .filter((l) => l.name !== active)
          .sort((a, b) => b.priority - a.priority)[0]!.name;
        Object.assign(ctx.vars, { active, standby });
        ctx.log(`active: ${active} holds the VIP; standby: ${standby}`, active);
      },
    },
    {
      id: 'power-off',
      phase: 'act',
      title: 'Power off the active load balancer',
      explain: (ctx) =>
        `Pull the power of ${v(ctx).active}: keepalived dies without saying goodbye (no priority-0 advert), so ${v(ctx).standby} must notice the silence itself. A watcher on ${v(ctx).standby} polls its eth0 every 10 ms for the VIP.`,
      run: async (ctx) => {
        const { active, standby } = v(ctx);
        const watch = watchOnHost(ctx, standby, vipPresentCondition(ctx.spec.vip), { timeoutS: 30, everyS: 0.01 });
        ctx.vars.watch = watch;
        await ctx.sleep(300);
        ctx.vars.faultAt = ctx.mark(`${active} powered off`, 'fault').t;
        await ctx.lab.provider.power(ctx.lab, active, 'off');
      },
    },
    {
      id: 'observe',
      phase: 'observe',
      title: 'Watch the standby take the VIP',
      explain: (ctx) =>
        `${v(ctx).standby} becomes VRRP MASTER, adds ${ctx.spec.vip} to its eth0 and sends gratuitous ARPs; the probe's next connections reach its HAProxy.`,
      run: async (ctx) => {
        const { standby, faultAt } = v(ctx);
        const at = await (ctx.vars.watch as { result: Promise<number | undefined> }).result;
        if (at !== undefined) {
          ctx.vars.takeoverAt = at;
          ctx.mark(`VIP on ${standby}`, 'recovery', at);
          ctx.measure({
            id: 'vip-takeover',
            label: `VIP takeover by ${standby}`,
            value: at - faultAt,
            unit: 'ms',
            predictionId: 'vip-takeover',
            how: `${standby}'s eth0 polled every 10 ms on ${standby}, from the moment the power went off`,
          });
        }
        const r = await ctx.lab.remote(standby).exec(`tail -n 20 ${LB_PATHS.vrrpEventsLog}`, { allowFail: true });
        const ev = parseVrrpEvents(r.stdout)
          .filter((e) => e.host === standby && e.state === 'MASTER' && e.at * 1000 >= faultAt)
          .pop();
        if (ev)
          ctx.measure({
            id: 'vrrp-master',
            label: `keepalived on ${standby} reports MASTER`,
            value: ev.at * 1000 - faultAt,
            unit: 'ms',
            how: `keepalived's notify script ($EPOCHREALTIME in ${LB_PATHS.vrrpEventsLog})`,
          });
        const first = firstSuccessAfter(ctx.samples(), 'read', at ?? faultAt);
        const until = Date.now() + 4000;
        await ctx.sleep(4000);
        await probeCaughtUp(ctx, until);
        const firstOk = first ?? firstSuccessAfter(ctx.samples(), 'read', at ?? faultAt);
        if (firstOk) {
          ctx.mark('first read through the standby', 'info', firstOk.t + firstOk.latencyMs);
          ctx.measure({
            id: 'first-read',
            label: 'First successful read after the fault',
            value: firstOk.t + firstOk.latencyMs - faultAt,
            unit: 'ms',
            how: 'the answer of the first probe read started after the VIP moved',
          });
        }
      },
    },
    {
      id: 'verify',
      phase: 'verify',
      title: 'Verify: the VIP moved, the API answers through it, the outage was as short as predicted',
      explain: 'The checks read the VIP from every LB and ask the API through the VIP from this machine.',
      run: async (ctx) => {
        const { standby, faultAt, takeoverAt } = v(ctx);
        const now = Date.now();
        const holders = await vipHolders(ctx.lab);
        ctx.check({
          id: 'vip-moved',
          title: `The VIP moved to ${standby}`,
          ok: holders.length === 1 && holders[0] === standby,
          expected: `on ${standby} only`,
          observed: holders.length ? `on ${holders.join(', ')}` : 'on no LB',
        });
        ctx.check({
          id: 'takeover-seen',
          title: 'The takeover was observed on the standby',
          ok: takeoverAt !== undefined,
          expected: `VIP on ${standby}'s eth0 within 30 s`,
          observed: takeoverAt !== undefined ? `after ${s(takeoverAt - faultAt)}` : 'not seen',
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
        const wr = probeStats(ctx.samples(), 'write', { from: faultAt - 1000, to: now });
        ctx.measure({
          id: 'write-outage',
          label: 'Longest write outage through the VIP',
          value: wr.longestOutageMs,
          unit: 'ms',
          predictionId: 'write-outage',
          how: `${wr.requests} writes, ${wr.failures} failed, ${wr.unknowns} unknown`,
        });
        const rd = probeStats(ctx.samples(), 'read', { from: faultAt - 1000, to: now });
        ctx.measure({
          id: 'read-failures',
          label: 'Failed reads',
          value: rd.failures,
          unit: 'count',
          how: `${rd.requests} reads from 1 s before the fault`,
        });
        ctx.check({
          id: 'probe-recovered',
          title: 'The probe reads and writes again after the takeover',
          ok:
            ctx.samples().some((x) => x.kind === 'read' && x.ok && x.t > (takeoverAt ?? faultAt)) &&
            ctx.samples().some((x) => x.kind === 'write' && x.ok && x.t > (takeoverAt ?? faultAt)),
          expected: 'successful reads and writes after the takeover',
          observed: `${rd.requests - rd.failures} reads and ${wr.requests - wr.failures - wr.unknowns} writes succeeded`,
        });
      },
    },
  ],
  cleanup: async (ctx) => {
    const active = ctx.vars.active as string | undefined;
    if (!active || ctx.vars.faultAt === undefined) return;
    ctx.log(
      'powering it on: keepalived starts as BACKUP, hears the lower-priority standby and takes the VIP back (preemption)',
      active,
    );
    const t0 = Date.now();
    await ctx.lab.provider.power(ctx.lab, active, 'on');
    ctx.mark(`${active} powered on`, 'recovery');
    const back = await ctx
      .until(
        `the VIP back on ${active}`,
        async () => {
          const hs = await vipHolders(ctx.lab);
          return hs.length === 1 && hs[0] === active;
        },
        { timeoutMs: 60_000, intervalMs: 100 },
      )
      .catch(() => undefined);
    if (back) {
      ctx.mark(`VIP back on ${active}`, 'recovery', back);
      ctx.measure({
        id: 'failback',
        label: `VIP back on ${active} after power-on`,
        value: back - t0,
        unit: 'ms',
        how: 'from the power-on call (boot, sshd, keepalived start) to the VIP only on the original LB, polled every 100 ms',
      });
    }
  },
};
