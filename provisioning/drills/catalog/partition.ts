// partition: pull the network cable of one master (its link goes down; the machine keeps
// running). The isolated etcd member is alive but alone: it cannot reach a majority, so it cannot
// commit a write, even one sent to it locally. HAProxy's checks to its apiserver time out and it is
// taken out; the two others still form a majority and keep serving writes through the VIP. When the
// cable is back, the member catches up from the leader and everything converges.

import type { Prediction } from '../../api/drills.ts';
import type { LabSpec } from '../../api/types.ts';
import { HalabError } from '../../errors.ts';
import { shq } from '../../exec/types.ts';
import {
  etcdEndpointsStatus,
  etcdctlCommand,
  etcdctlExec,
  leaderOf,
  type EtcdMemberStatus,
} from '../../steps/etcd/etcdctl.ts';

import { describeViews, haproxyViews, type LbView } from '../../steps/lb/status.ts';
import { lbNodes, masterLb } from '../../steps/lb/model.ts';
import type { Drill, DrillContext } from '../engine.ts';
import { DEFAULT_PROBE, probeStats } from '../probe.ts';
import {
  ETCD_CLIENT_KEEPALIVE_TIMEOUT_S,
  checkConnectTimeoutMs,
  haproxyServerCondition,
  probeCaughtUp,
  s,
  watchOnHost,
} from './common.ts';
import { masterHosts, workerHosts } from '../../spec/roles.ts';

/** etcdctl --command-timeout of each write the isolated member is asked to commit. */
export const ISOLATED_PUT_TIMEOUT_S = 3;
/** How long the cable stays out (at least): the on-host recorder needs about this long. */
export const PARTITION_MIN_S = 14;
export const RECORDER_OUT = '/tmp/halab-partition-drill.out';
export const PARTITION_KEY = '/halab-drill/partition';

/**
 * The recorder that runs ON the isolated master (pure): it waits until its own eth0 loses carrier
 * (the cable is out), then asks its local etcd member (127.0.0.1) to commit a write, twice (at once
 * and after a few seconds, when an isolated leader has stepped down), and reads the key back
 * serializably (from the member's own copy, no majority needed). One line per attempt in RECORDER_OUT.
 */
export function partitionRecorderScript(): string {
  const put = (i: number) =>
    etcdctlCommand(['put', `${PARTITION_KEY}/isolated-${i}`, 'written on the isolated member'], {
      dialTimeoutS: 2,
      commandTimeoutS: ISOLATED_PUT_TIMEOUT_S,
    });
  const sget = etcdctlCommand(['get', '--consistency=s', '--keys-only', '--prefix', PARTITION_KEY], {
    dialTimeoutS: 2,
    commandTimeoutS: ISOLATED_PUT_TIMEOUT_S,
  });
  const attempt = (i: number) =>
    [
      't=$EPOCHREALTIME',
      `err=$(${put(i)} 2>&1 >/dev/null); rc=$?`,
      `echo "PUT ${i} $rc $t $EPOCHREALTIME $(echo "$err" | tail -n 1 | cut -c1-160)"`,
      `${sget} >/dev/null 2>&1; echo "SGET ${i} $?"`,
    ].join('\n');
  return [
    'end=$(( $(date +%s) + 60 ))',
    'until [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" = 0 ]; do [ "$(date +%s)" -ge "$end" ] && { echo TIMEOUT; exit 0; }; sleep 0.05; done',
    'echo "CUT $EPOCHREALTIME"',
    attempt(1),
    'sleep 3',
    attempt(2),
    'echo DONE',
  ].join('\n');
}

export interface IsolatedAttempt {
  n: number;
  exitCode: number;
  start: number;
  end: number;
  error: string;
  serializableRead: boolean;
}

/** Parse RECORDER_OUT (pure). */
export function parseRecorder(text: string): { cutAt?: number; attempts: IsolatedAttempt[]; done: boolean } {
  const attempts: IsolatedAttempt[] = [];
  let cutAt: number | undefined;
  for (const line of text.split('\n').map((l) => l.trim())) {
    const c = /^CUT (\d+(?:\.\d+)?)$/.exec(line);
    if (c) cutAt = Math.round(Number(c[1]) * 1000);
    const p = /^PUT (\d+) (\d+) (\d+(?:\.\d+)?) (\d+(?:\.\d+)?) ?(.*)$/.exec(line);
    if (p)
      attempts.push({
        n: Number(p[1]),
        exitCode: Number(p[2]),
        start: Math.round(Number(p[3]) * 1000),
        end: Math.round(Number(p[4]) * 1000),
        error: p[5] ?? '',
        serializableRead: false,
      });
    const g = /^SGET (\d+) (\d+)$/.exec(line);
    if (g) {
      const a = attempts.find((x) => x.n === Number(g[1]));
      if (a) a.serializableRead = g[2] === '0';
    }
  }
  return { cutAt, attempts, done: text.split('\n').some((l) => l.trim() === 'DONE') };
}

export function predictPartition(spec: LabSpec): Prediction[] {
  const t = spec.timers;
  const cto = checkConnectTimeoutMs(spec);
  const inter = t.haproxyCheckInterMs;
  const members = masterHosts(spec).length;
  return [
    {
      id: 'isolated-writes',
      label: 'Writes committed by the isolated member',
      unit: 'count',
      value: 0,
      margin: 0,
      formula: `a write commits only on ⌊${members}/2⌋ + 1 = ${Math.floor(members / 2) + 1} members; the isolated member reaches only itself, so each of its writes times out (etcdctl --command-timeout ${ISOLATED_PUT_TIMEOUT_S} s)`,
    },
    {
      id: 'haproxy-down',
      label: 'HAProxy marks the isolated apiserver DOWN',
      unit: 'ms',
      value: t.haproxyCheckFall * (cto + inter),
      min: t.haproxyCheckFall * cto + (t.haproxyCheckFall - 1) * inter,
      margin: 1000,
      formula: `fall ${t.haproxyCheckFall} × (check connect timeout ${cto} ms + inter ${inter} ms): packets to a host without a link are not refused, they vanish, so each check times out`,
    },
    {
      id: 'converge',
      label: 'Isolated member healthy and caught up after the cable is back',
      unit: 's',
      value: (2 * t.etcdElectionMs) / 1000 + 1,
      min: t.etcdHeartbeatMs / 1000,
      margin: 10,
      formula: `the peers reconnect (etcd redials every 100 ms) and the leader sends what was missed at the next heartbeat (${t.etcdHeartbeatMs} ms); without pre-vote the member comes back with a higher term from its failed elections and forces one new election (up to 2 × election timeout ${t.etcdElectionMs} ms); + ≈ 1 s for etcdctl over SSH on a loaded machine`,
    },
    {
      id: 'haproxy-up',
      label: 'HAProxy marks it UP again',
      unit: 'ms',
      value: (t.haproxyCheckRise + 1) * inter,
      min: (t.haproxyCheckRise - 1) * inter,
      margin: 3000,
      formula: `rise ${t.haproxyCheckRise} good checks, inter ${inter} ms apart (+ up to one inter until the next check), once the apiserver's /readyz passes again`,
    },
  ];
}

interface Vars {
  victim: string;
  via: string;
  faultAt: number;
  healAt?: number;
  linkDown: boolean;
  haproxyDownAt?: number;
  majorityRevision?: number;
  majorityTerm?: number;
  recorderStarted?: boolean;
  allUp?: string;
}
const v = (ctx: DrillContext) => ctx.vars as unknown as Vars;

const revisions = (ms: EtcdMemberStatus[]) =>
  ms
    .map((m) => `${m.name} ${m.healthy ? `rev ${m.revision ?? '?'}` : `unhealthy (${(m.error ?? '').slice(0, 60)})`}`)
    .join(', ');

export const partition: Drill = {
  info: {
    name: 'partition',
    title: 'A master is cut off the network',
    concept:
      "A machine that is running but unreachable is more treacherous than a dead one: its processes keep going and may believe they are still in charge. etcd is safe by construction: a member commits a write only with the agreement of a majority, so the cut-off member refuses writes even from a local client, while the two members that still see each other form a majority and carry on. The load balancer's health checks time out and route around the unreachable apiserver. When the link returns, the member learns what it missed from the leader and the cluster converges on one history.",
    article: '§4',
    needs: '3 masters, 1 load balancer, 1 worker (probe)',
  },
  needs: (spec) => {
    const out: string[] = [];
    if (masterHosts(spec).length < 3)
      out.push(`${masterHosts(spec).length} master(s): an isolated member needs a majority on the other side`);
    if (workerHosts(spec).length === 0) out.push('no worker');
    if (lbNodes(spec).length < 1) out.push('no load balancer');
    return out;
  },
  predict: predictPartition,
  steps: [
    {
      id: 'choose',
      phase: 'explain',
      title: 'Choose the master to isolate',
      explain:
        'The second master (m2 in the reference lab) loses its cable. Its processes keep running: only its network link goes down. A recorder started on it beforehand waits for the carrier to drop and then asks its local etcd member (127.0.0.1) to commit a write.',
      run: async (ctx) => {
        const masters = masterHosts(ctx.spec).map((m) => m.name);
        const victim = masters.includes('m2') ? 'm2' : masters[1]!;
        const via = masters.find((m) => m !== victim)!;
        const members = await etcdEndpointsStatus(ctx.lab, { via });
        const leader = leaderOf(members);
        Object.assign(ctx.vars, { victim, via, linkDown: false } satisfies Partial<Vars>);
        ctx.log(
          `isolating ${victim} (${leader === victim ? 'the etcd leader: it will step down once it misses a majority' : `an etcd follower; the leader is ${leader ?? 'unknown'}`})`,
          victim,
        );
      },
    },
    {
      id: 'cut',
      phase: 'act',
      title: 'Pull the network cable',
      explain: (ctx) =>
        `The link of ${v(ctx).victim} goes down (ip link set <its veth> down on the machine). A watcher on ${masterLb(ctx.spec).name} polls HAProxy's view of ${v(ctx).victim} every 50 ms.`,
      run: async (ctx) => {
        const { victim } = v(ctx);
        await ctx.command(
          victim,
          `rm -f ${RECORDER_OUT}; nohup bash -c ${shq(partitionRecorderScript())} >${RECORDER_OUT} 2>&1 </dev/null &`,
          'start a recorder on the master: once its cable is out it asks its own etcd member to commit a write (the script is in the drill source)',
          { timeoutMs: 20_000 },
        );
        v(ctx).recorderStarted = true;
        ctx.vars.haproxyWatch = watchOnHost(ctx, masterLb(ctx.spec).name, haproxyServerCondition(victim, false), {
          timeoutS: 40,
          everyS: 0.05,
        });
        await ctx.sleep(300);
        v(ctx).faultAt = ctx.mark(`${victim}: cable pulled`, 'fault').t;
        v(ctx).linkDown = true; // set first: the cleanup plugs it back in even if this throws half-way
        await ctx.lab.provider.power(ctx.lab, victim, 'link-down');
        ctx.note(
          'this machine',
          `ip link set <${victim}'s veth on the lab bridge> down`,
          'pull the cable: the host keeps running, its network is gone',
        );
        // the SSH connection to it is dead now: drop it, the next command reconnects after the heal
        await ctx.lab
          .remote(victim)
          .close()
          .catch(() => undefined);
      },
    },
    {
      id: 'observe',
      phase: 'observe',
      title: 'Watch HAProxy drop it while the majority keeps writing',
      explain: (ctx) =>
        `HAProxy's checks to ${v(ctx).victim} now time out; after ${ctx.spec.timers.haproxyCheckFall} of them it is DOWN. The other two etcd members still see each other: a majority, a leader, writes. The probe keeps writing through the VIP.`,
      run: async (ctx) => {
        const { victim, via, faultAt } = v(ctx);
        const down = await (ctx.vars.haproxyWatch as { result: Promise<number | undefined> }).result;
        if (down !== undefined) {
          v(ctx).haproxyDownAt = down;
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
        const r = await ctx.command(
          via,
          etcdctlCommand(['put', `${PARTITION_KEY}/majority`, `written during the partition (${ctx.runId})`], {
            commandTimeoutS: 8,
          }),
          'the majority side commits a write during the partition',
          { allowFail: true, timeoutMs: 40_000 },
        );
        ctx.check({
          id: 'majority-writes',
          title: 'The majority side commits a write during the partition',
          ok: r.exitCode === 0,
          expected: 'OK',
          observed: (r.stdout.trim() || r.stderr.trim()).slice(0, 120),
        });
        // keep the cable out until the recorder on the victim has finished its attempts
        const until = Math.max(Date.now() + 2000, faultAt + PARTITION_MIN_S * 1000);
        await ctx.sleep(until - Date.now());
        await probeCaughtUp(ctx, until);
      },
    },
    {
      id: 'verify-partition',
      phase: 'verify',
      title: 'Verify: the majority has a leader and serves the VIP, HAProxy dropped the isolated apiserver',
      explain: 'Each claim is checked from the majority side (the isolated master cannot be reached now).',
      run: async (ctx) => {
        const { victim, via, faultAt } = v(ctx);
        const members = await etcdEndpointsStatus(ctx.lab, { via });
        const leader = leaderOf(members);
        const healthy = members.filter((m) => m.healthy).map((m) => m.name);
        v(ctx).majorityRevision = Math.max(...members.filter((m) => m.healthy).map((m) => m.revision ?? 0));
        v(ctx).majorityTerm = Math.max(...members.filter((m) => m.healthy).map((m) => m.raftTerm ?? 0));
        ctx.check({
          id: 'majority-leader',
          title: 'The other members keep a majority with a leader; the isolated one is unreachable',
          ok: !!leader && leader !== victim && !healthy.includes(victim) && healthy.length === members.length - 1,
          expected: `${members.length - 1}/${members.length} healthy, a leader other than ${victim}`,
          observed: `${healthy.length}/${members.length} healthy (${healthy.join(', ')}), leader ${leader ?? 'none'}`,
        });
        const now = Date.now();
        const settled = (v(ctx).haproxyDownAt ?? faultAt) + 1000;
        const writes = ctx.samples().filter((x) => x.kind === 'write' && x.t >= faultAt && x.t < now);
        const okW = writes.filter((x) => x.ok === true);
        const lastWrites = writes.slice(-5);
        ctx.measure({
          id: 'vip-writes',
          label: 'Probe writes through the VIP that succeeded during the partition',
          value: okW.length,
          unit: 'count',
          how: `${writes.length} writes started between the cut and the check`,
        });
        ctx.check({
          id: 'vip-writes',
          title: 'Writes through the VIP kept succeeding during the partition',
          ok: okW.some((x) => x.t >= settled) && lastWrites.length > 0 && lastWrites.every((x) => x.ok === true),
          expected: 'successful writes after HAProxy dropped the isolated apiserver, the last ones all ok',
          observed: `${okW.length}/${writes.length} writes ok (${writes.filter((x) => x.ok === false).length} failed, ${writes.filter((x) => x.ok === null).length} unknown); last ${lastWrites.length}: ${lastWrites.map((x) => (x.ok ? 'ok' : x.ok === null ? 'unknown' : 'failed')).join(' ')}`,
        });
        const wr = probeStats(ctx.samples(), 'write', { from: faultAt - 1000, to: now, endAt: now });
        ctx.measure({
          id: 'write-outage',
          label: 'Longest write outage through the VIP',
          value: wr.longestOutageMs,
          unit: 'ms',
          how: `probe: ${wr.requests} writes (every ${DEFAULT_PROBE.tickMs * DEFAULT_PROBE.writeEvery} ms), ${wr.failures} failed, ${wr.unknowns} unknown`,
        });
        const wanted = (vs: LbView[]) =>
          vs.every(({ backends: b }) => b.length > 0 && b.every((x) => (x.server === victim ? !x.up : x.up)));
        // a live apiserver can drop out for a moment too: its /readyz asks etcd over connections
        // that may still point at the isolated member, until its etcd client gives up on them
        // (keepalive timeout); so the others must be UP again within that time, not at once
        let views = await haproxyViews(ctx.lab);
        await ctx
          .until('every HAProxy to see the others UP', async () => wanted((views = await haproxyViews(ctx.lab))), {
            timeoutMs: (ETCD_CLIENT_KEEPALIVE_TIMEOUT_S + 5) * 1000,
          })
          .catch((err: unknown) => {
            if (!(err instanceof HalabError && err.code === 'DRILL_TIMEOUT')) throw err;
          }); // judged below
        ctx.check({
          id: 'haproxy-dropped',
          title: `Every HAProxy marks ${victim} DOWN and the others UP`,
          ok: wanted(views),
          expected: `${victim} DOWN, the others UP`,
          observed: describeViews(views),
        });
      },
    },
    {
      id: 'heal',
      phase: 'act',
      title: 'Plug the cable back in',
      explain: (ctx) =>
        `The link of ${v(ctx).victim} comes back up. Its etcd member reconnects to its peers and receives what it missed; HAProxy's checks pass again.`,
      run: async (ctx) => {
        const { victim } = v(ctx);
        ctx.vars.haproxyUpWatch = watchOnHost(ctx, masterLb(ctx.spec).name, haproxyServerCondition(victim, true), {
          timeoutS: 60,
          everyS: 0.05,
        });
        await ctx.sleep(300);
        v(ctx).healAt = ctx.mark(`${victim}: cable back`, 'recovery').t;
        await ctx.lab.provider.power(ctx.lab, victim, 'link-up');
        v(ctx).linkDown = false;
        ctx.note('this machine', `ip link set <${victim}'s veth on the lab bridge> up`, 'plug the cable back in');
      },
    },
    {
      id: 'converge',
      phase: 'observe',
      title: 'Watch it converge',
      explain:
        'The member is converged when it answers health checks again and holds at least every revision the majority had committed during the partition; then all members report the same revision.',
      run: async (ctx) => {
        const { victim, via, healAt } = v(ctx);
        const target = v(ctx).majorityRevision ?? 0;
        const p = ctx.prediction('converge');
        let last: EtcdMemberStatus[] = [];
        const at = await ctx.until(
          `${victim} healthy and caught up`,
          async () => {
            last = await etcdEndpointsStatus(ctx.lab, { via });
            const m = last.find((x) => x.name === victim);
            return !!m?.healthy && (m.revision ?? 0) >= target && !!leaderOf(last);
          },
          { timeoutMs: (p.value + p.margin + 60) * 1000, intervalMs: 200 },
        );
        ctx.mark(`${victim} healthy and caught up`, 'recovery', at);
        ctx.measure({
          id: 'converge',
          label: `${victim} healthy and caught up after the cable is back`,
          value: (at - healAt!) / 1000,
          unit: 's',
          predictionId: 'converge',
          how: `etcdctl endpoint health/status from ${via} every 0.2 s until ${victim} was healthy with revision ≥ ${target} (the majority's at the end of the partition)`,
        });
        let same: EtcdMemberStatus[] | undefined;
        const t0 = Date.now();
        while (Date.now() - t0 < 20_000) {
          const ms = await etcdEndpointsStatus(ctx.lab, { via });
          last = ms;
          if (ms.every((m) => m.healthy) && new Set(ms.map((m) => m.revision)).size === 1) {
            same = ms;
            break;
          }
          await ctx.sleep(200);
        }
        ctx.vars.sameRevision = same ? `${revisions(same)} (${s(Date.now() - healAt!)} after the heal)` : undefined;
        ctx.vars.lastRevisions = revisions(last);
        const termAfter = Math.max(...last.map((m) => m.raftTerm ?? 0));
        if (v(ctx).majorityTerm !== undefined && termAfter > 0) {
          const elections = termAfter - v(ctx).majorityTerm!;
          ctx.measure({
            id: 'rejoin-elections',
            label: 'Raft terms started by the return of the isolated member',
            value: elections,
            unit: 'count',
            how: `raft term ${v(ctx).majorityTerm} at the end of the partition, ${termAfter} after it converged: without --pre-vote the isolated member raised its term with failed elections, and its return makes the leader step down for a new election (a short blip for every apiserver)`,
          });
          if (elections > 0)
            ctx.log(
              `the return of ${victim} forced ${elections} new raft term(s) (${v(ctx).majorityTerm} → ${termAfter}): a brief leader election, during which every apiserver's etcd check fails`,
              victim,
            );
        }
        const up = await (ctx.vars.haproxyUpWatch as { result: Promise<number | undefined> }).result;
        if (up !== undefined) {
          ctx.mark(`HAProxy: ${victim} UP`, 'recovery', up);
          ctx.measure({
            id: 'haproxy-up',
            label: `HAProxy marks ${victim} UP again`,
            value: up - healAt!,
            unit: 'ms',
            predictionId: 'haproxy-up',
            how: `HAProxy's server state on ${masterLb(ctx.spec).name}, polled every 50 ms on the LB`,
          });
        }
        // every HAProxy sees every apiserver UP (the election above can take the others out for a moment)
        const n = masterHosts(ctx.spec).length;
        let views = '';
        const allUpAt = await ctx
          .until(
            'every HAProxy to see every apiserver UP',
            async () => {
              const vs = await haproxyViews(ctx.lab);
              views = describeViews(vs);
              return vs.every(({ backends: b }) => b.length === n && b.every((x) => x.up));
            },
            { timeoutMs: 60_000, intervalMs: 250 },
          )
          .catch(() => undefined);
        if (allUpAt !== undefined) {
          ctx.mark(`HAProxy: ${n}/${n} UP on every LB`, 'recovery', allUpAt);
          ctx.measure({
            id: 'haproxy-all-up',
            label: `Every HAProxy sees ${n}/${n} apiservers UP`,
            value: (allUpAt - healAt!) / 1000,
            unit: 's',
            how: 'HAProxy server states on every LB, read every 0.25 s after the heal',
          });
          v(ctx).allUp = `${views} (${s(allUpAt - healAt!)} after the heal)`;
        } else {
          ctx.vars.lastViews = views;
        }
      },
    },
    {
      id: 'verify',
      phase: 'verify',
      title: 'Verify: the isolated member refused writes; now one history, 3/3 healthy, HAProxy 3/3 UP',
      explain: "The recorder's lines from the isolated master are read back now that it can be reached.",
      run: async (ctx) => {
        const { victim, via } = v(ctx);
        const out = await ctx.command(
          victim,
          `cat ${RECORDER_OUT}`,
          'read what the isolated member answered to its local writes',
          { allowFail: true, timeoutMs: 30_000 },
        );
        const rec = parseRecorder(out.stdout);
        const committed = rec.attempts.filter((a) => a.exitCode === 0).length;
        ctx.measure({
          id: 'isolated-writes',
          label: 'Writes committed by the isolated member',
          value: committed,
          unit: 'count',
          predictionId: 'isolated-writes',
          how: `etcdctl put against 127.0.0.1 on ${victim} while its cable was out (${rec.attempts.length} attempts, --command-timeout ${ISOLATED_PUT_TIMEOUT_S} s)`,
        });
        for (const a of rec.attempts) {
          ctx.measure({
            id: `isolated-put-${a.n}`,
            label: `Isolated write ${a.n}: time until etcdctl gave up`,
            value: a.end - a.start,
            unit: 'ms',
            how: `started ${s(a.start - v(ctx).faultAt)} after the cut; exit ${a.exitCode}: ${a.error || 'ok'}; serializable read of the member's own copy ${a.serializableRead ? 'worked' : 'failed'}`,
          });
        }
        ctx.check({
          id: 'isolated-refused',
          title: `The isolated member (${victim}) refused to commit writes sent to it locally`,
          ok: rec.done && rec.attempts.length >= 2 && committed === 0,
          expected: 'every local etcdctl put failed or timed out',
          observed: rec.attempts.length
            ? rec.attempts
                .map((a) => `put ${a.n}: exit ${a.exitCode} after ${s(a.end - a.start)} (${a.error || 'ok'})`)
                .join('; ')
            : `no record (${out.stdout.trim().slice(0, 80) || out.stderr.trim().slice(0, 80)})`,
        });
        const r = await etcdctlExec(
          ctx.lab,
          victim,
          ['get', '--consistency=s', '--print-value-only', `${PARTITION_KEY}/majority`],
          { allowFail: true, dialTimeoutS: 2, commandTimeoutS: 4 },
        );
        ctx.note(
          victim,
          etcdctlCommand(['get', '--consistency=s', '--print-value-only', `${PARTITION_KEY}/majority`]),
          "the key the majority wrote during the partition, from the rejoined member's own copy",
        );
        ctx.check({
          id: 'caught-up',
          title: `${victim} has the write the majority committed during the partition`,
          ok: r.exitCode === 0 && r.stdout.includes(ctx.runId),
          expected: `written during the partition (${ctx.runId})`,
          observed: (r.stdout.trim() || r.stderr.trim()).slice(0, 120) || 'empty',
        });
        const same = ctx.vars.sameRevision as string | undefined;
        ctx.check({
          id: 'same-revision',
          title: 'Every member reports the same revision (one history)',
          ok: !!same,
          expected: 'all healthy, equal revisions within 20 s',
          observed: same ?? `last seen: ${ctx.vars.lastRevisions as string}`,
        });
        ctx.check({
          id: 'haproxy-all-up',
          title: 'Every HAProxy sees every apiserver UP again',
          ok: !!v(ctx).allUp,
          expected: `${masterHosts(ctx.spec).length}/${masterHosts(ctx.spec).length} UP on every LB within 60 s of the heal`,
          observed: v(ctx).allUp ?? `last seen: ${ctx.vars.lastViews as string}`,
        });
        void via;
      },
    },
  ],
  cleanup: async (ctx) => {
    const victim = ctx.vars.victim as string | undefined;
    if (!victim) return;
    if (ctx.vars.linkDown) {
      await ctx.lab.provider
        .power(ctx.lab, victim, 'link-up')
        .catch((err: unknown) => ctx.log(`link-up failed: ${(err as Error).message}`, victim));
      ctx.mark(`${victim}: cable back`, 'recovery');
    }
    // the recorder ends by itself within a minute; its output and the test keys go
    const via =
      (ctx.vars.via as string | undefined) ??
      masterHosts(ctx.spec)
        .map((m) => m.name)
        .find((m) => m !== victim);
    await ctx.lab
      .remote(victim)
      .exec(`rm -f ${RECORDER_OUT}`, { allowFail: true, timeoutMs: 20_000 })
      .catch(() => undefined);
    if (via)
      await etcdctlExec(ctx.lab, via, ['del', '--prefix', PARTITION_KEY], {
        allowFail: true,
        commandTimeoutS: 8,
      }).catch(() => undefined);
  },
};
