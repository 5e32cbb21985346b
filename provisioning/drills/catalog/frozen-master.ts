// frozen-master: every process of the master that holds the leader leases stops (SIGSTOP) for
// 30 s, then continues: a VM paused by its hypervisor, a host swapping itself to a standstill,
// a process stuck in the kernel. Nothing crashes and no connection is closed: the frozen host's
// kernel still accepts TCP connections and acknowledges data, so only timeouts notice. HAProxy's
// checks time out and it takes the apiserver out; the leases expire and move to a live master;
// reads through the VIP keep working. When the host thaws, its controller-manager and scheduler
// find the lease taken and give up, but only after retrying for their renew deadline: until then
// they keep running their controllers beside the new leader's (leader election guards the lease,
// not each action).

import type { Prediction } from '../../api/drills.ts';
import type { LabSpec } from '../../api/types.ts';
import type { Component } from '../../bootstraps/types.ts';
import { holderHost, kubectl, leaseExpiry, leases } from '../../k8s/kubectl.ts';
import { masterHosts, workerHosts } from '../../spec/roles.ts';
import { etcdEndpointsStatus, leaderOf } from '../../steps/etcd/etcdctl.ts';
import { lbModel, lbNodes, masterLb } from '../../steps/lb/model.ts';
import { ETCD_CLIENT_KEEPALIVE_TIMEOUT_S, ETCD_CLIENT_KEEPALIVE_TIME_S, checkConnectTimeoutMs } from './common.ts';
import { describeViews, haproxyViews } from '../../steps/lb/status.ts';
import type { Drill, DrillContext } from '../engine.ts';
import { DEFAULT_PROBE, READ_OPS, probeStats } from '../probe.ts';
import { haproxyServerCondition, n, probeCaughtUp, probeOutageCheck, s, watchOnHost } from './common.ts';

/** How long the master stays frozen at least (longer while the leases have not moved, up to their predicted bound + 10 s). */
export const FREEZE_S = 30;
/** The leader-elected components, by the lease each holds. */
export const LEASE_COMPONENTS: Record<string, Component> = {
  'kube-controller-manager': 'kube-controller-manager',
  'kube-scheduler': 'kube-scheduler',
};

const round1 = (x: number) => Math.round(x * 10) / 10;

export function predictFrozenMaster(spec: LabSpec): Prediction[] {
  const t = spec.timers;
  const members = masterHosts(spec).length;
  const inter = t.haproxyCheckInterMs;
  // HAProxy's check connect timeout covers the TLS handshake (check-ssl), which a frozen apiserver
  // never answers: each check fails after it, like one to a powered-off host
  const cto = checkConnectTimeoutMs(spec);
  const downMs = t.haproxyCheckFall * (cto + inter);
  const electionClientS = Math.max(1, t.renewDeadlineS / 2);
  // apiserverEtcd all: a lease attempt (a read, then a write) hangs if either goes to the frozen
  // member (round robin over `members`): geometric number of hung attempts before one succeeds
  const stallP = spec.apiserverEtcd === 'local' ? 0 : 1 - ((members - 1) / members) ** 2;
  const stallCostS = electionClientS + t.retryPeriodS;
  const expectedStalls = stallP / (1 - stallP);
  const likelyStalls = stallP > 0 ? Math.ceil(Math.log(0.1) / Math.log(stallP)) : 0;
  // the stalls end when the apiservers' etcd clients give up on the frozen member: their gRPC
  // keepalive pings it after keepaliveTime without an answer and drops it keepaliveTimeout later
  const keepaliveS = ETCD_CLIENT_KEEPALIVE_TIME_S + ETCD_CLIENT_KEEPALIVE_TIMEOUT_S;
  const readRate = 1000 / DEFAULT_PROBE.tickMs;
  const opRate = readRate / READ_OPS.length;
  const local = spec.apiserverEtcd === 'local';
  // connections HAProxy hands to the frozen apiserver before it is marked DOWN hang: its kernel
  // accepts them, so HAProxy's connect timeout does not help
  const hung = (readRate * downMs) / 1000 / members;
  // apiserverEtcd all: each live apiserver sends 1 in `members` quorum reads to the frozen member,
  // and they hang for the whole freeze (the kernel acknowledges them; no TCP timeout fires)
  const stalled = local ? 0 : (opRate * FREEZE_S) / members;
  return [
    {
      id: 'haproxy-down',
      label: 'HAProxy marks the frozen apiserver DOWN',
      unit: 'ms',
      value: downMs,
      min: t.haproxyCheckFall * cto + (t.haproxyCheckFall - 1) * inter,
      margin: 1000,
      formula: `the frozen host's kernel completes the TCP handshake, but nobody answers the TLS hello; a check's connect timeout (min(timeout connect, inter) = ${cto} ms) covers the TLS handshake, so each check fails after it, the next starts inter ${inter} ms later: fall ${t.haproxyCheckFall} × (${cto} + ${inter}) ms`,
    },
    {
      id: 'lease-takeover',
      label: 'Leader lease moves to a live master',
      unit: 's',
      value: round1(t.leaseDurationS + t.retryPeriodS + expectedStalls * stallCostS),
      min: t.leaseDurationS - t.retryPeriodS,
      margin: local
        ? 1
        : round1(
            Math.max(
              (likelyStalls - expectedStalls) * stallCostS + 1,
              keepaliveS + t.retryPeriodS - (t.leaseDurationS + t.retryPeriodS + expectedStalls * stallCostS),
            ),
          ),
      formula: local
        ? `the frozen leader stops renewing; the lease expires leaseDuration ${n(t.leaseDurationS)} s after its last renewal (every retryPeriod ${n(t.retryPeriodS)} s) and a candidate retries every ${n(t.retryPeriodS)} s: ${n(t.leaseDurationS - t.retryPeriodS)}–${n(t.leaseDurationS + t.retryPeriodS)} s (apiserverEtcd local: the candidates' requests never reach the frozen etcd member); margin 1 s`
        : `the lease expires leaseDuration ${n(t.leaseDurationS)} s after the frozen leader's last renewal and a candidate retries every ${n(t.retryPeriodS)} s (${n(t.leaseDurationS + t.retryPeriodS)} s at most), but apiserverEtcd all: each attempt's read and write each go to the frozen etcd member 1 time in ${members}, so ${Math.round(stallP * 100)} % of the attempts hang until the election client's timeout (renewDeadline / 2 = ${n(electionClientS)} s) and cost ${n(stallCostS)} s with the retry: + ${n(round1(expectedStalls))} such attempts on average (${n(round1(expectedStalls * stallCostS))} s); margin: until the apiservers' etcd clients drop the frozen member (their keepalive: ${ETCD_CLIENT_KEEPALIVE_TIME_S} s without an answer + ${ETCD_CLIENT_KEEPALIVE_TIMEOUT_S} s, the kernel of a frozen host still acknowledges every byte) and one more retry: ${keepaliveS + t.retryPeriodS} s at most`,
    },
    {
      id: 'read-outage',
      label: 'Longest read outage through the VIP',
      unit: 'ms',
      value: DEFAULT_PROBE.tickMs,
      margin: DEFAULT_PROBE.connectTimeoutS * 1000 + 1000,
      formula: `≈ one probe interval (${DEFAULT_PROBE.tickMs} ms): most reads go to the live apiservers; margin: a read that HAProxy hands to the frozen apiserver hangs until the probe's connect timeout (${DEFAULT_PROBE.connectTimeoutS} s), + 1 s for a loaded machine`,
    },
    {
      id: 'read-failures',
      label: 'Failed reads (all kinds)',
      unit: 'count',
      value: Math.round(hung + stalled),
      min: 0,
      margin: Math.round(Math.max(10, (hung + stalled) / 2)),
      formula: local
        ? `apiserverEtcd local: the live apiservers never ask the frozen etcd member; what fails are the reads HAProxy hands to the frozen apiserver until it is DOWN: ${n(readRate)} reads/s × ${n(downMs / 1000)} s ÷ ${members} = ${n(hung)}`
        : `${n(hung)} handed to the frozen apiserver until HAProxy marks it DOWN (${n(readRate)} reads/s × ${n(downMs / 1000)} s ÷ ${members}), + the quorum GETs the live apiservers send to the frozen etcd member, which hang for the whole freeze (its kernel acknowledges them, so no TCP timeout fires): ${n(opRate)} quorum GETs/s × ${FREEZE_S} s ÷ ${members} = ${n(stalled)}`,
    },
    {
      id: 'old-leader-exit',
      label: 'The old leader exits after the thaw',
      unit: 's',
      value: t.renewDeadlineS,
      min: 0,
      margin: t.retryPeriodS + 1,
      formula: `on the thaw its renew loop wakes up and finds the lease held by another, not yet expired; it retries every retryPeriod ${n(t.retryPeriodS)} s until its renewDeadline (${n(t.renewDeadlineS)} s) runs out, then logs "failed to renew lease" and exits (0 s if the deadline had already started before the freeze); the service manager starts it again as a follower. Until it exits, its controllers keep running beside the new leader's`,
    },
  ];
}

interface Vars {
  victim: string;
  held: string[];
  etcdLeader?: string;
  pids: Record<string, number | undefined>;
  faultAt: number;
  frozen?: boolean;
  thawAt?: number;
}
const v = (ctx: DrillContext) => ctx.vars as unknown as Vars;

async function componentPids(ctx: DrillContext, host: string, names: string[]) {
  const out: Record<string, number | undefined> = {};
  for (const c of names) {
    const st = await ctx.lab.bootstrap.components.status(ctx.lab, host, LEASE_COMPONENTS[c]!);
    out[c] = st.up ? st.pid : undefined;
  }
  return out;
}

export const frozenMaster: Drill = {
  info: {
    name: 'frozen-master',
    title: 'The lease-holding master freezes for 30 s, then resumes',
    concept:
      "A frozen host is the gray failure: it is not dead, its connections stay open and its kernel still accepts new ones, so nothing fails fast; only timeouts notice. HAProxy's checks time out and take its apiserver out; its leader leases are not renewed and expire, and live masters take them over. The dangerous moment is the thaw: the old leaders wake up believing they still lead. Their next renewal finds the lease taken; they keep retrying until their renew deadline runs out and then exit, so for up to that deadline two controller-managers run at once: leader election protects the lease, not every action the old leader takes.",
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
  predict: predictFrozenMaster,
  healthTimeoutMs: 240_000,
  steps: [
    {
      id: 'choose',
      phase: 'explain',
      title: 'Choose the master that holds the leader leases',
      explain:
        'The victim is the master whose controller-manager and scheduler lead (a leader that freezes is the interesting case: followers just wait). Every process on it stops at once: etcd, the apiserver, the controllers, sshd.',
      run: async (ctx) => {
        const [ls, members] = await Promise.all([leases(ctx.lab), etcdEndpointsStatus(ctx.lab)]);
        const masters = masterHosts(ctx.spec).map((m) => m.name);
        const count = (m: string) => ls.filter((l) => holderHost(l.holder) === m).length;
        const victim = [...masters].sort((a, b) => count(b) - count(a))[0]!;
        const held = ls.filter((l) => holderHost(l.holder) === victim).map((l) => l.name);
        const pids = await componentPids(ctx, victim, held);
        Object.assign(ctx.vars, { victim, held, pids, etcdLeader: leaderOf(members) } satisfies Partial<Vars>);
        ctx.log(
          `victim: ${victim} (${held.length ? `holds the ${held.join(' and ')} lease${held.length > 1 ? 's' : ''}` : 'holds no lease'}; etcd leader ${leaderOf(members) ?? 'unknown'})`,
          victim,
        );
      },
    },
    {
      id: 'freeze',
      phase: 'act',
      title: 'Freeze every process of the master',
      explain: (ctx) =>
        `SIGSTOP to every process of ${v(ctx).victim} (its containers too) for ${FREEZE_S} s, longer if its leases have not moved yet. A watcher on ${masterLb(ctx.spec).name} records when HAProxy marks its apiserver DOWN.`,
      run: async (ctx) => {
        const { victim } = v(ctx);
        const lb = masterLb(ctx.spec).name;
        ctx.vars.haproxyWatch = watchOnHost(ctx, lb, haproxyServerCondition(victim, false), {
          timeoutS: 30,
          everyS: 0.05,
        });
        await ctx.sleep(300);
        ctx.vars.frozen = true;
        ctx.vars.faultAt = ctx.mark(`${victim} frozen`, 'fault').t;
        ctx.note(victim, `kill -STOP <every process of ${victim}>`, 'the host freezes: nothing exits, nothing answers');
        await ctx.lab.provider.power(ctx.lab, victim, 'freeze');
      },
    },
    {
      id: 'observe-frozen',
      phase: 'observe',
      title: 'Watch HAProxy take it out and the leases move',
      explain: (ctx) =>
        `HAProxy's checks to ${v(ctx).victim} time out (${lbModel(ctx.spec).check.timeoutMs} ms each); the lease${v(ctx).held.length === 1 ? '' : 's'} ${v(ctx).held.join(', ') || '(none)'} expire${v(ctx).held.length === 1 ? 's' : ''} ${ctx.spec.timers.leaseDurationS} s after the last renewal and a live master takes ${v(ctx).held.length === 1 ? 'it' : 'them'}. The probe keeps reading and writing through the VIP.`,
      run: async (ctx) => {
        const { victim, faultAt, held } = v(ctx);
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
        // frozen FREEZE_S at least, and until the leases moved (the thaw is about what the old
        // leader does once another leads), but never past the prediction's upper bound + 10 s
        const cap = faultAt + (p.value + p.margin + 10) * 1000;
        await ctx
          .until(
            'the leader leases to move to a live master',
            async () => {
              const ls = await Promise.race([leases(ctx.lab), ctx.sleep(Math.max(0, cap - Date.now()))]);
              if (!ls) return true; // the cap: thaw now, moved or not
              for (const l of ls) {
                const h = holderHost(l.holder);
                if (held.includes(l.name) && h && h !== victim && moved[l.name] === undefined) {
                  moved[l.name] = Date.now();
                  ctx.mark(`${l.name} lease → ${h}`, 'recovery');
                }
              }
              return held.every((l) => moved[l] !== undefined);
            },
            { timeoutMs: Math.max(0, cap - Date.now()) + 1000, intervalMs: 250 },
          )
          .catch((err) => ctx.log(`leases: ${(err as Error).message}`));
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
        ctx.check({
          id: 'leases-moved',
          title: 'The leases moved to live masters while the leader was frozen',
          ok: held.every((l) => moved[l] !== undefined),
          expected: `${held.join(', ') || 'no lease'} held by another master`,
          observed:
            held.map((l) => `${l}: ${moved[l] ? `moved after ${s(moved[l]! - faultAt)}` : 'not moved'}`).join(', ') ||
            'none held',
        });
        const rest = faultAt + FREEZE_S * 1000 - Date.now();
        if (rest > 0) await ctx.sleep(rest);
      },
    },
    {
      id: 'thaw',
      phase: 'act',
      title: 'Thaw the master',
      explain: (ctx) =>
        `SIGCONT to every process of ${v(ctx).victim}: they continue exactly where they stopped, as if no time had passed. Its controller-manager and scheduler still believe they lead.`,
      run: async (ctx) => {
        const { victim } = v(ctx);
        ctx.vars.thawAt = ctx.mark(`${victim} thawed`, 'recovery').t;
        ctx.note(victim, `kill -CONT <every process of ${victim}>`, 'the host resumes');
        await ctx.lab.provider.power(ctx.lab, victim, 'thaw');
        ctx.vars.frozen = false;
      },
    },
    {
      id: 'observe-thaw',
      phase: 'observe',
      title: 'What the old leader does after the thaw',
      explain: (ctx) =>
        `The old leaders' next renewal finds the lease held by another master. They retry until their renew deadline (${ctx.spec.timers.renewDeadlineS} s) runs out, still running their controllers meanwhile, then exit; the service manager starts them again, as followers.`,
      run: async (ctx) => {
        const { victim, held, pids, thawAt } = v(ctx);
        const exited: Record<string, number> = {};
        await ctx
          .until(
            `the old leaders on ${victim} to give up`,
            async () => {
              const now = await componentPids(ctx, victim, held);
              for (const c of held) {
                if (exited[c] === undefined && now[c] !== pids[c]) {
                  exited[c] = Date.now();
                  ctx.mark(`${victim}: ${c} restarted as a follower`, 'recovery');
                }
              }
              return held.every((c) => exited[c] !== undefined);
            },
            { timeoutMs: 40_000, intervalMs: 200 },
          )
          .catch((err) => ctx.log(`old leaders: ${(err as Error).message}`, victim));
        for (const [c, at] of Object.entries(exited)) {
          ctx.measure({
            id: `exit-${c}`,
            label: `${c} on ${victim} exits after the thaw`,
            value: (at - thawAt!) / 1000,
            unit: 's',
            predictionId: 'old-leader-exit',
            how: `its process id on ${victim}, read every 200 ms after the thaw (a new one = it exited and was started again)`,
          });
        }
        const log = await ctx
          .command(
            victim,
            held
              .map(
                (c) =>
                  `grep -h -m 1 -i 'leaderelection lost\\|failed to renew lease' ${ctx.lab.bootstrap.components.logPath(ctx.lab, victim, LEASE_COMPONENTS[c]!)}* 2>/dev/null | tail -n 1`,
              )
              .join('; ') || 'true',
            'what the old leaders logged when they found out (their own logs)',
            { allowFail: true },
          )
          .catch(() => undefined);
        if (log?.stdout.trim()) ctx.log(log.stdout.trim().slice(0, 400), victim);
        const ls = await leases(ctx.lab);
        const back = ls.filter((l) => held.includes(l.name) && holderHost(l.holder) === victim);
        ctx.check({
          id: 'old-leader-gave-up',
          title: `The old leaders on ${victim} did not take their leases back: they exited and came back as followers`,
          ok: held.every((c) => exited[c] !== undefined) && back.length === 0,
          expected: `${held.join(', ') || 'nothing'} restarted on ${victim}, leases kept by the new holders`,
          observed:
            `${held.map((c) => `${c}: ${exited[c] ? `exited ${s(exited[c]! - thawAt!)} after the thaw` : 'still running'}`).join(', ') || 'no leader here'}; ` +
            ls.map((l) => `${l.name} held by ${holderHost(l.holder) ?? 'nobody'}`).join(', '),
        });
      },
    },
    {
      id: 'verify',
      phase: 'verify',
      title: 'Verify: reads kept working, the master is back in HAProxy and etcd',
      explain: 'Each claim is checked against the lab itself.',
      run: async (ctx) => {
        const { victim, faultAt, thawAt } = v(ctx);
        await probeCaughtUp(ctx, thawAt!);
        const now = Date.now();
        probeOutageCheck(ctx, 'read', 'read-outage', faultAt - 1000, now, 'Reads through the VIP kept working');
        const rd = probeStats(ctx.samples(), 'read', { from: faultAt - 1000, to: now });
        ctx.measure({
          id: 'read-failures',
          label: 'Failed reads (all kinds)',
          value: rd.failures,
          unit: 'count',
          predictionId: 'read-failures',
          how: `probe reads from 1 s before the freeze to now (${rd.requests} reads)`,
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
          title: 'Writes through the VIP succeeded while the master was frozen',
          ok: ctx.samples().some((x) => x.kind === 'write' && x.ok && x.t > faultAt + 2000 && x.t < thawAt!),
          expected: 'successful writes during the freeze',
          observed: `${wr.requests - wr.failures - wr.unknowns}/${wr.requests} writes succeeded`,
        });
        let views = await haproxyViews(ctx.lab);
        await ctx
          .until(
            `HAProxy to count ${victim} UP again`,
            async () => {
              views = await haproxyViews(ctx.lab);
              return views.every((x) => x.backends.some((b) => b.server === victim && b.up));
            },
            { timeoutMs: 30_000, intervalMs: 500 },
          )
          .catch(() => undefined);
        ctx.check({
          id: 'haproxy-back',
          title: `Every HAProxy counts ${victim} UP again`,
          ok: views.every((x) => x.backends.some((b) => b.server === victim && b.up)),
          expected: `${victim} UP on every LB`,
          observed: describeViews(views),
        });
        let members = await etcdEndpointsStatus(ctx.lab);
        await ctx
          .until(
            `etcd member ${victim} healthy again`,
            async () => {
              members = await etcdEndpointsStatus(ctx.lab);
              return members.every((m) => m.healthy) && !!leaderOf(members);
            },
            { timeoutMs: 30_000, intervalMs: 500 },
          )
          .catch(() => undefined);
        ctx.check({
          id: 'etcd-whole',
          title: `etcd is whole again: ${victim}'s member caught up`,
          ok: members.every((m) => m.healthy) && !!leaderOf(members),
          expected: `${members.length}/${members.length} healthy with a leader`,
          observed: `${members.filter((m) => m.healthy).length}/${members.length} healthy, leader ${leaderOf(members) ?? 'none'}`,
        });
        // the thawed etcd member (and a new leader's first renewals) can hold things up a moment
        let ls = await leases(ctx.lab);
        await ctx
          .until(
            'both leader leases held',
            async () => {
              ls = await leases(ctx.lab);
              return ls.every((l) => leaseExpiry(l).held);
            },
            { timeoutMs: 30_000, intervalMs: 500 },
          )
          .catch(() => undefined);
        ctx.check({
          id: 'leases-held',
          title: 'Both leader leases are held (renewed within their duration)',
          ok: ls.every((l) => leaseExpiry(l).held),
          expected: 'both held',
          observed: ls
            .map((l) => {
              const e = leaseExpiry(l);
              return `${l.name}: ${holderHost(l.holder) ?? 'none'}${e.held ? '' : ` (expired ${e.expiredS ?? '?'} s ago)`}`;
            })
            .join(', '),
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
    const { victim, frozen } = v(ctx);
    if (!victim || !frozen) return;
    ctx.log('thawing it', victim);
    await ctx.lab.provider.power(ctx.lab, victim, 'thaw');
    ctx.vars.frozen = false;
  },
};
