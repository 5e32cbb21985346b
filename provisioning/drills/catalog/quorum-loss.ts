// quorum-loss: stop etcd on two of the three members. One member cannot form a majority: etcd
// refuses to commit anything, so every write fails or hangs; the apiservers' /readyz turns false,
// HAProxy takes every apiserver out, and even reads that the apiservers could answer from their
// cache stop getting through. One member back = a majority again = writes again.

import type { Prediction } from '../../api/drills.ts';
import type { LabSpec } from '../../api/types.ts';
import { quorum } from '../../spec/quorum.ts';
import { etcdEndpointsStatus, leaderOf } from '../../steps/etcd/etcdctl.ts';
import { masterLb } from '../../steps/lb/model.ts';
import type { Drill, DrillContext } from '../engine.ts';
import { probeStats } from '../probe.ts';
import { firstSuccessAfter, haproxyAllDownCondition, probeCaughtUp, s, watchOnHost } from './common.ts';
import { masterHosts, workerHosts } from '../../spec/roles.ts';

/** How many members to stop so that the rest is one short of a majority. */
export function membersToStop(members: number): number {
  return members - quorum(members).majority + 1;
}

export function predictQuorumLoss(spec: LabSpec): Prediction[] {
  const t = spec.timers;
  const members = masterHosts(spec).length;
  const q = quorum(members);
  const stop = membersToStop(members);
  const checkTimeout = Math.max(1000, t.haproxyCheckInterMs);
  const inter = t.haproxyCheckInterMs;
  const allDown = t.haproxyCheckFall * checkTimeout + (t.haproxyCheckFall - 1) * inter;
  return [
    {
      id: 'writes-during-loss',
      label: 'Successful writes while quorum is lost',
      unit: 'count',
      value: 0,
      margin: 0,
      formula: `${members} members need ${q.majority} to commit; with ${stop} stopped only ${members - stop} answer, so no write can commit (a timed-out one is "unknown": it may commit once quorum returns)`,
    },
    {
      id: 'api-all-down',
      label: 'HAProxy takes every apiserver out',
      unit: 'ms',
      value: allDown + inter,
      min: allDown,
      margin: 2000,
      formula: `/readyz includes an etcd check that now hangs: each HAProxy check times out after timeout check ${checkTimeout} ms; fall ${t.haproxyCheckFall} of them, inter ${inter} ms apart: ${t.haproxyCheckFall} × ${checkTimeout} + ${t.haproxyCheckFall - 1} × ${inter} ms (+ up to one inter until the first check)`,
    },
    {
      id: 'write-recovery',
      label: 'First successful write after one member returns',
      unit: 's',
      value: (2 * t.etcdElectionMs + (t.haproxyCheckRise + 1) * inter) / 1000 + 1,
      min: (t.etcdElectionMs + t.haproxyCheckRise * inter) / 1000,
      margin: 8,
      formula: `etcd start (≈1 s) + a leader election (election timeout ${t.etcdElectionMs}–${2 * t.etcdElectionMs} ms) + HAProxy sees /readyz pass rise ${t.haproxyCheckRise} times (${t.haproxyCheckRise} × ${inter} ms, + up to one inter); margin 8 s: on a loaded machine etcd's start and the apiservers' /readyz (which asks etcd) each take seconds more`,
    },
  ];
}

interface Vars {
  stopped: string[];
  survivor: string;
  faultAt: number;
  restoredMember?: string;
  restoreAt?: number;
  allDownAt?: number;
}
const v = (ctx: DrillContext) => ctx.vars as unknown as Vars;

export const quorumLoss: Drill = {
  info: {
    name: 'quorum-loss',
    title: 'etcd loses its majority',
    concept:
      'etcd commits a change only when a majority of its members (⌊n/2⌋+1) has it: 2 of 3. Two members down means no majority: the survivor can still tell what it has, but cannot commit anything, so every write through the API fails or hangs. The apiservers then report not-ready, and HAProxy, which routes by /readyz, takes all of them out, so even reads they could answer from their cache stop reaching them. As soon as one member returns there is a majority again and writes resume.',
    article: '§2.2, §3',
    needs: '3 masters, 1 worker (probe)',
  },
  needs: (spec) => {
    const out: string[] = [];
    if (masterHosts(spec).length < 3)
      out.push(
        `${masterHosts(spec).length} master(s): a quorum loss needs at least 3 to show a recovery with one member back`,
      );
    if (workerHosts(spec).length === 0) out.push('no worker');
    return out;
  },
  predict: predictQuorumLoss,
  steps: [
    {
      id: 'choose',
      phase: 'explain',
      title: 'Choose the members to stop',
      explain: (ctx) =>
        `${masterHosts(ctx.spec).length} members, majority ${quorum(masterHosts(ctx.spec).length).majority}: stopping ${membersToStop(masterHosts(ctx.spec).length)} leaves one short. The etcd leader is kept running, so the survivor is a leader that loses its followers: it steps down once it has not heard from a majority for an election timeout.`,
      run: async (ctx) => {
        const members = await etcdEndpointsStatus(ctx.lab);
        const leader = leaderOf(members) ?? members[0]!.name;
        const others = members.map((m) => m.name).filter((m) => m !== leader);
        const stopped = others.slice(0, membersToStop(members.length));
        Object.assign(ctx.vars, { stopped, survivor: leader });
        ctx.log(`stopping etcd on ${stopped.join(' and ')}; ${leader} (the leader) stays`);
      },
    },
    {
      id: 'stop',
      phase: 'act',
      title: 'Stop etcd on two members',
      explain: (ctx) =>
        `etcd stops on ${v(ctx).stopped.join(' and ')} (SIGTERM: they leave cleanly, their clients see the connections close at once).`,
      run: async (ctx) => {
        const { stopped } = v(ctx);
        ctx.vars.allDownWatch = watchOnHost(ctx, masterLb(ctx.spec).name, haproxyAllDownCondition(), {
          timeoutS: 40,
          everyS: 0.05,
        });
        await ctx.sleep(300);
        ctx.vars.faultAt = ctx.mark(`etcd stopped on ${stopped.join(', ')}`, 'fault').t;
        await Promise.all(
          stopped.map((m) => ctx.component(m, 'etcd', 'stop', 'stop etcd (SIGTERM, and it is kept down)')),
        );
        ctx.vars.downAt = Date.now();
      },
    },
    {
      id: 'observe-loss',
      phase: 'observe',
      title: 'Watch writes fail and HAProxy drop the apiservers',
      explain:
        'Writes now hang until they time out; /readyz fails; HAProxy marks every apiserver DOWN and the VIP stops answering.',
      run: async (ctx) => {
        const { faultAt } = v(ctx);
        const at = await (ctx.vars.allDownWatch as { result: Promise<number | undefined> }).result;
        if (at !== undefined) {
          ctx.vars.allDownAt = at;
          ctx.mark('HAProxy: every apiserver DOWN', 'info', at);
          ctx.measure({
            id: 'api-all-down',
            label: 'HAProxy takes every apiserver out',
            value: at - faultAt,
            unit: 'ms',
            predictionId: 'api-all-down',
            how: `HAProxy's server states on ${masterLb(ctx.spec).name}, polled every 50 ms on the LB`,
          });
        }
        // a few seconds of total outage for the timeline
        const until = Math.max(Date.now(), (at ?? faultAt) + 4000);
        await ctx.sleep(until - Date.now());
        await probeCaughtUp(ctx, until);
      },
    },
    {
      id: 'verify-loss',
      phase: 'verify',
      title: 'Verify: no write succeeded during the loss; what reads did',
      explain:
        'A write counts as failed when the API refused it and as unknown when it timed out after it was sent (it may still commit later). None may have succeeded.',
      run: async (ctx) => {
        const { faultAt, allDownAt } = v(ctx);
        const now = Date.now();
        // a stopping member still acks until it is gone, and requests in flight at the fault may
        // still commit: count from when both were down (and at least a second after the fault)
        const from = Math.max(faultAt + 1000, (ctx.vars.downAt as number | undefined) ?? 0);
        const writes = ctx.samples().filter((x) => x.kind === 'write' && x.t >= from && x.t < now);
        const okW = writes.filter((x) => x.ok === true).length;
        ctx.measure({
          id: 'writes-during-loss',
          label: 'Successful writes while quorum is lost',
          value: okW,
          unit: 'count',
          predictionId: 'writes-during-loss',
          how: `probe writes started from 1 s after the fault to the return of a member (${writes.length})`,
        });
        ctx.check({
          id: 'writes-fail',
          title: 'Writes failed (or their outcome is unknown) while quorum was lost',
          ok: writes.length > 0 && okW === 0,
          expected: 'no successful write',
          observed: `${writes.length} writes: ${writes.filter((x) => x.ok === false).length} failed, ${writes.filter((x) => x.ok === null).length} unknown, ${okW} succeeded`,
        });
        const ops = ['GET /readyz', 'GET configmap', 'GET configmap (cache)'];
        const parts: string[] = [];
        for (const op of ops) {
          const st = probeStats(ctx.samples(), 'read', { from, to: now }, op);
          const lastOk = ctx
            .samples()
            .filter((x) => x.op === op && x.ok === true && x.t >= faultAt && x.t < now)
            .reduce((m, x) => Math.max(m, x.t + x.latencyMs), 0);
          parts.push(
            `${op}: ${st.requests - st.failures}/${st.requests} ok${lastOk ? `, last ok ${s(lastOk - faultAt)} after the fault` : ''}`,
          );
          if (lastOk)
            ctx.measure({
              id: `last-ok-${op}`,
              label: `${op}: last success after the fault`,
              value: lastOk - faultAt,
              unit: 'ms',
              how: 'probe: the answer of the last successful request of this kind during the loss',
            });
        }
        ctx.log(`reads during the loss: ${parts.join('; ')}`);
        const cacheAfter = ctx
          .samples()
          .filter((x) => x.op === 'GET configmap (cache)' && x.t >= (allDownAt ?? now) + 500 && x.t < now);
        ctx.check({
          id: 'reads-cut',
          title: 'Reads through the VIP stopped once HAProxy took every apiserver out (even cache reads)',
          ok: allDownAt !== undefined && cacheAfter.length > 0 && cacheAfter.every((x) => x.ok !== true),
          expected: 'every read started after all backends went DOWN fails',
          observed:
            allDownAt !== undefined
              ? `${cacheAfter.filter((x) => x.ok !== true).length}/${cacheAfter.length} cache reads failed after all backends went DOWN (${s(allDownAt - faultAt)} after the fault); ${parts.join('; ')}`
              : 'HAProxy never marked every apiserver DOWN',
        });
      },
    },
    {
      id: 'restore-one',
      phase: 'act',
      title: 'Bring one member back',
      explain: (ctx) =>
        `Start etcd on ${v(ctx).stopped[0]}: with it, ${masterHosts(ctx.spec).length - membersToStop(masterHosts(ctx.spec).length) + 1} of ${masterHosts(ctx.spec).length} members answer, a majority again.`,
      run: async (ctx) => {
        const m = v(ctx).stopped[0]!;
        ctx.vars.restoredMember = m;
        ctx.vars.restoreAt = ctx.mark(`etcd back on ${m}`, 'recovery').t;
        await ctx.component(m, 'etcd', 'start', 'start etcd again (it rejoins with its data)');
      },
    },
    {
      id: 'observe-recovery',
      phase: 'observe',
      title: 'Watch writes come back',
      explain:
        "The two members elect a leader, the apiservers become ready, HAProxy puts them back after `rise` good checks, and the probe's writes succeed again.",
      run: async (ctx) => {
        const restoreAt = v(ctx).restoreAt!;
        const p = ctx.prediction('write-recovery');
        const at = await ctx.until(
          'a successful write after the member returned',
          async () => !!firstSuccessAfter(ctx.samples(), 'write', restoreAt),
          { timeoutMs: (p.value + p.margin + 60) * 1000, intervalMs: 200 },
        );
        const first = firstSuccessAfter(ctx.samples(), 'write', restoreAt)!;
        ctx.mark('writes succeed again', 'recovery', first.t + first.latencyMs);
        ctx.measure({
          id: 'write-recovery',
          label: 'First successful write after one member returns',
          value: (first.t + first.latencyMs - restoreAt) / 1000,
          unit: 's',
          predictionId: 'write-recovery',
          how: 'probe: the answer of the first successful write started after etcd was started again',
        });
        void at;
        const until = Date.now() + 3000;
        await ctx.sleep(3000);
        await probeCaughtUp(ctx, until);
      },
    },
    {
      id: 'verify-recovery',
      phase: 'verify',
      title: 'Verify: writes succeed again with 2 of 3 members',
      explain:
        'The last writes of the probe must have succeeded, and etcd must report a leader with two healthy members.',
      run: async (ctx) => {
        const restoreAt = v(ctx).restoreAt!;
        const after = ctx.samples().filter((x) => x.kind === 'write' && x.t > restoreAt);
        const last = after.slice(-4);
        ctx.check({
          id: 'writes-back',
          title: 'Writes succeed again after one member returned',
          ok: last.length > 0 && last.every((x) => x.ok === true),
          expected: 'the last writes succeeded',
          observed: `${after.filter((x) => x.ok === true).length}/${after.length} writes after the return succeeded; last ${last.length}: ${last.map((x) => (x.ok ? 'ok' : x.ok === null ? 'unknown' : 'failed')).join(' ')}`,
        });
        const members = await etcdEndpointsStatus(ctx.lab);
        const healthy = members.filter((m) => m.healthy).map((m) => m.name);
        ctx.check({
          id: 'etcd-majority',
          title: 'etcd has a majority and a leader again',
          ok: healthy.length >= quorum(members.length).majority && !!leaderOf(members),
          expected: `≥ ${quorum(members.length).majority}/${members.length} healthy with a leader`,
          observed: `${healthy.length}/${members.length} healthy (${healthy.join(', ')}), leader ${leaderOf(members) ?? 'none'}`,
        });
        const rec = probeStats(ctx.samples(), 'write', {
          from: v(ctx).faultAt,
          to: Date.now(),
          faultAt: v(ctx).faultAt,
        });
        ctx.measure({
          id: 'write-outage',
          label: 'Longest write outage through the VIP',
          value: rec.longestOutageMs,
          unit: 'ms',
          how: `${rec.requests} writes: ${rec.failures} failed, ${rec.unknowns} unknown`,
        });
      },
    },
  ],
  cleanup: async (ctx) => {
    for (const m of (ctx.vars.stopped as string[] | undefined) ?? []) {
      await ctx
        .component(m, 'etcd', 'start', 'start etcd on the last stopped member: 3/3 again')
        .catch(() => undefined);
    }
  },
};
