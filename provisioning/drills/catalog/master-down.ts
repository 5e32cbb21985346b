// master-down: pull the power of one master. Three copies of everything make one loss invisible
// to clients: HAProxy stops sending to the dead apiserver, etcd keeps a majority, and the leader
// leases of the controller-manager and scheduler move to a live master.

import type { Prediction } from '../../api/drills.ts';
import type { LabSpec } from '../../api/types.ts';
import { holderHost, kubectl, leases } from '../../k8s/kubectl.ts';
import { etcdEndpointsStatus, leaderOf } from '../../steps/etcd/etcdctl.ts';
import { describeViews, haproxyViews } from '../../steps/lb/status.ts';
import { lbNodes, masterLb } from '../../steps/lb/model.ts';
import { quorum } from '../../spec/quorum.ts';
import type { Drill, DrillContext } from '../engine.ts';
import { DEFAULT_PROBE, READ_OPS, probeStats } from '../probe.ts';
import { HAPROXY_CONNECT_TIMEOUT_MS } from '../../steps/lb/haproxy.ts';
import {
  ETCD_CLIENT_KEEPALIVE_TIME_S,
  ETCD_CLIENT_KEEPALIVE_TIMEOUT_S,
  checkConnectTimeoutMs,
  haproxyServerCondition,
  n,
  probeCaughtUp,
  probeOutageCheck,
  watchOnHost,
} from './common.ts';
import { masterHosts, workerHosts } from '../../spec/roles.ts';

export function predictMasterDown(spec: LabSpec): Prediction[] {
  const t = spec.timers;
  const members = masterHosts(spec).length;
  const cto = checkConnectTimeoutMs(spec);
  const inter = t.haproxyCheckInterMs;
  const local = spec.apiserverEtcd === 'local';
  const readRate = 1000 / DEFAULT_PROBE.tickMs;
  // the probe cycles through READ_OPS: each op (the cache read, the quorum read) gets this rate
  const opRate = readRate / READ_OPS.length;
  const cacheCut = (opRate * HAPROXY_CONNECT_TIMEOUT_MS) / 1000 / members;
  // reads still connecting to the dead master when HAProxy marks it DOWN are cut (shutdown-sessions)
  const readsCut = (readRate * HAPROXY_CONNECT_TIMEOUT_MS) / 1000 / members;
  // apiserverEtcd all: each live apiserver sends 1 in `members` etcd requests to the dead member
  // (gRPC round robin) until its connection times out; a quorum GET sent there outlives the probe
  const stalledReads = local ? 0 : (opRate * ETCD_CLIENT_KEEPALIVE_TIMEOUT_S) / members;
  const downMs = t.haproxyCheckFall * (cto + inter);
  return [
    {
      id: 'read-outage',
      label: 'Longest read outage through the VIP',
      unit: 'ms',
      value: DEFAULT_PROBE.tickMs,
      margin: 2 * HAPROXY_CONNECT_TIMEOUT_MS + 1000,
      formula: `≈ 0: HAProxy retries a connect that fails on another apiserver (retries 2, option redispatch), so the gap stays about one probe interval (${DEFAULT_PROBE.tickMs} ms); margin: up to two HAProxy connect timeouts (2 × ${HAPROXY_CONNECT_TIMEOUT_MS} ms) that a request waits before it lands on a live apiserver, + 1 s for a loaded machine`,
    },
    {
      id: 'cache-read-failures',
      label: 'Failed reads served from the watch cache',
      unit: 'count',
      value: Math.round(cacheCut),
      min: 0,
      margin: 4,
      formula: `a GET with resourceVersion=0 is answered from the apiserver's cache, without etcd. Until HAProxy marks the dead master DOWN, it still sends it 1 in ${members} new connections; one whose connect times out (timeout connect ${HAPROXY_CONNECT_TIMEOUT_MS} ms) is retried on a live apiserver (retries 2, redispatch), but one still connecting when the master is marked DOWN is cut (on-marked-down shutdown-sessions). ≈ ${n(opRate)} cache reads/s × ${n(HAPROXY_CONNECT_TIMEOUT_MS / 1000)} s ÷ ${members} = ${n(cacheCut)}. Margin: a live apiserver whose /readyz stalls on its own connection to the dead etcd member (quorum-stall) can be taken out for a moment too, and its sessions are cut the same way`,
    },
    {
      id: 'read-failures',
      label: 'Failed reads (all kinds)',
      unit: 'count',
      value: Math.round(readsCut + stalledReads),
      min: 0,
      margin: local ? 2 : 10,
      formula: local
        ? `apiserverEtcd local: the live apiservers use only their own etcd member, so nothing of theirs waits on the dead one. What fails: reads still connecting to the dead master when HAProxy marks it DOWN (cut by shutdown-sessions): ≈ ${n(readRate)} reads/s × ${n(HAPROXY_CONNECT_TIMEOUT_MS / 1000)} s (timeout connect) ÷ ${members} = ${n(readsCut)}, and a read in flight on it at the instant it dies`
        : `apiserverEtcd all: each live apiserver spreads its etcd requests over every member (gRPC round robin), so 1 in ${members} goes to the dead member and hangs until the connection times out (${ETCD_CLIENT_KEEPALIVE_TIMEOUT_S} s): ≈ ${n(opRate)} quorum GETs/s × ${ETCD_CLIENT_KEEPALIVE_TIMEOUT_S} s ÷ ${members} = ${n(stalledReads)} outlive the probe's ${DEFAULT_PROBE.totalTimeoutS} s timeout; + ${n(readsCut)} cut while connecting to the dead master (${n(readRate)} reads/s × ${n(HAPROXY_CONNECT_TIMEOUT_MS / 1000)} s ÷ ${members}). Margin: /readyz answers 500 while its own etcd check waits on the dead member. With apiserverEtcd local (kubeadm's stacked etcd) only the cut ones remain`,
    },
    {
      id: 'quorum-stall',
      label: 'Quorum reads/writes stall after the fault (last failure)',
      unit: 's',
      value: local ? 0 : ETCD_CLIENT_KEEPALIVE_TIMEOUT_S,
      min: 0,
      margin: local ? (downMs + 1000) / 1000 : ETCD_CLIENT_KEEPALIVE_TIME_S,
      formula: local
        ? `apiserverEtcd local: no live apiserver talks to the dead member, so no quorum request stalls; the last failure is one cut while HAProxy marks the dead master DOWN (≈ ${n(downMs / 1000)} s) + 1 s`
        : `the surviving apiservers keep gRPC connections to the dead etcd member: a request sent on one hangs until the kernel gives up on it (TCP_USER_TIMEOUT = the apiserver's etcd keepalive timeout, ${ETCD_CLIENT_KEEPALIVE_TIMEOUT_S} s), an idle one is found dead by a keepalive ping (after ${ETCD_CLIENT_KEEPALIVE_TIME_S} s + ${ETCD_CLIENT_KEEPALIVE_TIMEOUT_S} s); the request is then retried on a live member. Until then some quorum GETs and PATCHes time out`,
    },
    {
      id: 'haproxy-down',
      label: 'HAProxy marks the dead apiserver DOWN',
      unit: 'ms',
      value: downMs,
      min: t.haproxyCheckFall * cto + (t.haproxyCheckFall - 1) * inter,
      margin: 1000,
      formula: `fall ${t.haproxyCheckFall} × (check connect timeout min(timeout connect ${HAPROXY_CONNECT_TIMEOUT_MS} ms, inter ${inter} ms) = ${cto} ms + inter ${inter} ms): a powered-off host does not refuse, its checks time out`,
    },
    {
      id: 'etcd-members',
      label: 'Healthy etcd members after the loss',
      unit: 'count',
      value: members - 1,
      margin: 0,
      min: quorum(members).majority,
      formula: `${members} members − 1; quorum is ${quorum(members).majority} (⌊${members}/2⌋ + 1), so ${members - 1} keep it and etcd keeps a leader`,
    },
    {
      id: 'lease-takeover',
      label: 'Leader lease moves to a live master',
      unit: 's',
      value: t.leaseDurationS + t.retryPeriodS,
      min: t.leaseDurationS - t.retryPeriodS,
      margin: ETCD_CLIENT_KEEPALIVE_TIMEOUT_S,
      formula: `the lease expires leaseDuration ${n(t.leaseDurationS)} s after the last renewal (renewed every retryPeriod ${n(t.retryPeriodS)} s), and a candidate retries every ${n(t.retryPeriodS)} s: ${n(t.leaseDurationS - t.retryPeriodS)}–${n(t.leaseDurationS + t.retryPeriodS)} s; margin: taking the lease is a write, which can stall like any other (quorum-stall, up to ${ETCD_CLIENT_KEEPALIVE_TIMEOUT_S} s)`,
    },
  ];
}

interface Vars {
  victim: string;
  why: string;
  leasesHeld: string[];
  etcdLeader?: string;
  faultAt: number;
}
const v = (ctx: DrillContext) => ctx.vars as unknown as Vars;

export const masterDown: Drill = {
  info: {
    name: 'master-down',
    title: 'A master loses power',
    concept:
      "Every part of the control plane runs three times. When one master dies, HAProxy's health checks take its apiserver out of rotation and retry the requests that hit it elsewhere, etcd still has a majority (2 of 3) so it keeps a leader and keeps accepting writes, and the controller-manager and scheduler on the other masters take over the leader leases once the dead one stops renewing them. How much a client of the VIP notices depends on which etcd members each apiserver talks to: with every member (apiserverEtcd all, external etcd) the live apiservers keep sending some requests to the dead member, and those hang for about 10 s until the connection times out; with only their own member (apiserverEtcd local, kubeadm's stacked etcd) nothing of theirs waits on the dead master.",
    article: '§2.2, §3',
    needs: '3 masters, 2 load balancers, 1 worker (probe)',
  },
  needs: (spec) => {
    const out: string[] = [];
    if (masterHosts(spec).length < 3) out.push(`${masterHosts(spec).length} master(s)`);
    if (workerHosts(spec).length === 0) out.push('no worker');
    if (lbNodes(spec).length < 1) out.push('no load balancer');
    return out;
  },
  predict: predictMasterDown,
  steps: [
    {
      id: 'choose',
      phase: 'explain',
      title: 'Choose the master to power off',
      explain:
        'The most instructive victim holds a leader lease (so the lease has to move) but is not the etcd leader (so this drill shows the API layer; an etcd leader election is what quorum-loss and the etcd drills show). Its power goes off at once: every process dies and its network goes dark, nothing shuts down cleanly.',
      run: async (ctx) => {
        const [ls, members] = await Promise.all([leases(ctx.lab), etcdEndpointsStatus(ctx.lab)]);
        const etcdLead = leaderOf(members);
        const holders = ls.map((l) => holderHost(l.holder)).filter((h): h is string => !!h);
        const masters = masterHosts(ctx.spec).map((m) => m.name);
        const pick =
          masters.find((m) => holders.includes(m) && m !== etcdLead) ??
          masters.find((m) => holders.includes(m)) ??
          masters.find((m) => m !== etcdLead) ??
          masters[0]!;
        const held = ls.filter((l) => holderHost(l.holder) === pick).map((l) => l.name);
        const why = [
          held.length
            ? `it holds the ${held.join(' and ')} lease${held.length > 1 ? 's' : ''}`
            : 'it holds no leader lease',
          pick === etcdLead
            ? 'it is also the etcd leader (both leases sit there): expect an etcd election too'
            : `it is an etcd follower (the leader is ${etcdLead ?? 'unknown'})`,
        ].join('; ');
        Object.assign(ctx.vars, { victim: pick, why, leasesHeld: held, etcdLeader: etcdLead } satisfies Partial<Vars>);
        ctx.log(`victim: ${pick}: ${why}`, pick);
      },
    },
    {
      id: 'power-off',
      phase: 'act',
      title: 'Power off the master',
      explain: (ctx) =>
        `Pull the power of ${v(ctx).victim} (${v(ctx).why}). Watch the probe: reads and writes through the VIP should keep working.`,
      run: async (ctx) => {
        const { victim } = v(ctx);
        const lb = masterLb(ctx.spec).name;
        const watch = watchOnHost(ctx, lb, haproxyServerCondition(victim, false), { timeoutS: 30, everyS: 0.05 });
        ctx.vars.haproxyWatch = watch;
        await ctx.sleep(300); // the watcher is running
        const t = ctx.mark(`${victim} powered off`, 'fault').t;
        ctx.vars.faultAt = t;
        await ctx.lab.provider.power(ctx.lab, victim, 'off');
        ctx.log(`powered off (${Date.now() - t} ms)`, victim);
      },
    },
    {
      id: 'observe',
      phase: 'observe',
      title: 'Watch HAProxy drop it and the leases move',
      explain: (ctx) =>
        `HAProxy on the active LB checks /readyz every ${ctx.spec.timers.haproxyCheckInterMs} ms; after ${ctx.spec.timers.haproxyCheckFall} failed checks it marks ${v(ctx).victim} DOWN. The lease${v(ctx).leasesHeld.length === 1 ? '' : 's'} ${v(ctx).leasesHeld.join(', ') || '(none)'} must be taken over by a live master.`,
      run: async (ctx) => {
        const { victim, faultAt, leasesHeld } = v(ctx);
        const down = await (ctx.vars.haproxyWatch as { result: Promise<number | undefined> }).result;
        if (down !== undefined) {
          ctx.mark(`HAProxy: ${victim} DOWN`, 'info', down);
          ctx.measure({
            id: 'haproxy-down',
            label: `HAProxy marks ${victim} DOWN`,
            value: down - faultAt,
            unit: 'ms',
            predictionId: 'haproxy-down',
            how: `HAProxy's server state on ${masterLb(ctx.spec).name}, polled every 50 ms on the LB`,
          });
        }
        const moved: Record<string, number> = {};
        const p = ctx.prediction('lease-takeover');
        await ctx.until(
          'the leader leases to move to a live master',
          async () => {
            const ls = await leases(ctx.lab);
            for (const l of ls) {
              const h = holderHost(l.holder);
              if (leasesHeld.includes(l.name) && h && h !== victim && moved[l.name] === undefined) {
                moved[l.name] = Date.now();
                ctx.mark(`${l.name} lease → ${h}`, 'recovery');
              }
            }
            return leasesHeld.every((l) => moved[l] !== undefined);
          },
          { timeoutMs: (p.value + p.margin + 20) * 1000, intervalMs: 250 },
        );
        for (const [name, at] of Object.entries(moved)) {
          ctx.measure({
            id: `lease-${name}`,
            label: `${name} lease taken over`,
            value: (at - faultAt) / 1000,
            unit: 's',
            predictionId: 'lease-takeover',
            how: 'the Lease object in kube-system, read through the VIP every 250 ms',
          });
        }
        // keep watching until the apiservers' etcd clients have had time to give up on the dead
        // member (quorum-stall), then make sure the probe has answers up to now
        const until = Math.max(Date.now() + 3000, faultAt + (ETCD_CLIENT_KEEPALIVE_TIMEOUT_S + 4) * 1000);
        await ctx.sleep(until - Date.now());
        await probeCaughtUp(ctx, until);
      },
    },
    {
      id: 'verify',
      phase: 'verify',
      title: 'Verify: API up through the VIP, etcd 2/3 with a leader, leases on live masters, HAProxy dropped it',
      explain: 'Each claim is checked against the lab itself.',
      run: async (ctx) => {
        const { victim, faultAt } = v(ctx);
        const now = Date.now();
        probeOutageCheck(
          ctx,
          'read',
          'read-outage',
          faultAt - 1000,
          now,
          'Reads through the VIP had no outage longer than predicted',
        );
        const rd = probeStats(ctx.samples(), 'read', { from: faultAt - 1000, to: now });
        ctx.measure({
          id: 'read-failures',
          label: 'Failed reads (all kinds)',
          value: rd.failures,
          unit: 'count',
          predictionId: 'read-failures',
          how: `probe reads from 1 s before the fault to the end of the drill (${rd.requests} reads)`,
        });
        const cache = probeStats(ctx.samples(), 'read', { from: faultAt - 1000, to: now }, 'GET configmap (cache)');
        ctx.measure({
          id: 'cache-read-failures',
          label: 'Failed reads served from the watch cache',
          value: cache.failures,
          unit: 'count',
          predictionId: 'cache-read-failures',
          how: `${cache.requests} GETs with resourceVersion=0`,
        });
        const quorumOps = ['GET configmap', 'PATCH configmap'];
        const stalled = ctx
          .samples()
          .filter((x) => x.t >= faultAt && x.t < now && quorumOps.includes(x.op) && x.ok !== true);
        const lastStall = stalled.reduce((m, x) => Math.max(m, x.t), faultAt);
        ctx.measure({
          id: 'quorum-stall',
          label: 'Quorum reads/writes stall after the fault (last failure)',
          value: (lastStall - faultAt) / 1000,
          unit: 's',
          predictionId: 'quorum-stall',
          how: `start of the last quorum GET or PATCH that failed or timed out after the fault (${stalled.length} of them)`,
        });
        const wr = probeStats(ctx.samples(), 'write', { from: faultAt - 1000, to: now });
        ctx.measure({
          id: 'write-outage',
          label: 'Longest write outage through the VIP',
          value: wr.longestOutageMs,
          unit: 'ms',
          how: `${wr.requests} writes, ${wr.failures} failed, ${wr.unknowns} unknown`,
        });
        ctx.check({
          id: 'writes-continue',
          title: 'Writes through the VIP succeeded after the loss',
          ok: ctx.samples().some((x) => x.kind === 'write' && x.ok && x.t > faultAt + 2000),
          expected: 'successful writes after the fault',
          observed: `${wr.requests - wr.failures - wr.unknowns}/${wr.requests} writes succeeded`,
        });
        const members = await etcdEndpointsStatus(ctx.lab);
        const healthy = members.filter((m) => m.healthy).map((m) => m.name);
        const leader = leaderOf(members);
        ctx.measure({
          id: 'etcd-members',
          label: 'Healthy etcd members after the loss',
          value: healthy.length,
          unit: 'count',
          predictionId: 'etcd-members',
          how: 'etcdctl endpoint health/status from a live master',
        });
        ctx.check({
          id: 'etcd-quorum',
          title: 'etcd keeps quorum: the others are healthy with a leader',
          ok: healthy.length === members.length - 1 && !!leader && leader !== victim,
          expected: `${members.length - 1}/${members.length} healthy, a leader other than ${victim}`,
          observed: `${healthy.length}/${members.length} healthy (${healthy.join(', ')}), leader ${leader ?? 'none'}`,
        });
        const ls = await leases(ctx.lab);
        const bad = ls.filter((l) => !l.holder || holderHost(l.holder) === victim);
        ctx.check({
          id: 'leases-live',
          title: 'Both leader leases are held by live masters',
          ok: bad.length === 0,
          expected: `holders other than ${victim}`,
          observed: ls.map((l) => `${l.name}: ${holderHost(l.holder) ?? 'none'}`).join(', '),
        });
        const views = await haproxyViews(ctx.lab);
        // a live apiserver may flap DOWN too: its /readyz asks etcd through the same stalled
        // connections (quorum-stall); what must hold is the dead one out, and a live one in
        const ok = views.every(
          ({ backends: b }) =>
            b.some((x) => x.server === victim && !x.up) && b.some((x) => x.server !== victim && x.up),
        );
        ctx.check({
          id: 'haproxy-dropped',
          title: `Every HAProxy marks ${victim} DOWN and keeps a live apiserver UP`,
          ok,
          expected: `${victim} DOWN, at least one other UP`,
          observed: describeViews(views),
        });
        const r = await kubectl(ctx.lab, ['get', '--raw', '/readyz'], { allowFail: true });
        ctx.check({
          id: 'api-via-vip',
          title: 'The API answers through the VIP',
          ok: r.stdout.trim() === 'ok',
          expected: 'ok',
          observed: (r.stdout.trim() || r.stderr.trim()).slice(0, 120),
        });
      },
    },
  ],
  cleanup: async (ctx) => {
    const victim = ctx.vars.victim as string | undefined;
    if (!victim) return;
    ctx.log('powering it on: s6 starts etcd (it rejoins with its data) and the control plane', victim);
    await ctx.lab.provider.power(ctx.lab, victim, 'on');
    ctx.mark(`${victim} powered on`, 'recovery');
  },
};
