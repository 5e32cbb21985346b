// disk-loss: one master's etcd data disk dies (etcd stopped, its data directory on disk A wiped).
// The other two members still form a majority, so the cluster keeps committing writes. The
// member cannot come back with an empty disk under its old identity: it is removed from the
// cluster and added again as a new member, started with an empty data dir and
// --initial-cluster-state=existing, and the leader streams it the current data.

import type { Prediction } from '../../api/drills.ts';
import type { LabSpec } from '../../api/types.ts';
import { HalabError } from '../../errors.ts';
import { kubectl } from '../../k8s/kubectl.ts';
import { quorum } from '../../spec/quorum.ts';
import {
  clusterHealthy,
  etcdEndpointsStatus,
  etcdctlCommand,
  etcdctlExec,
  leaderOf,
  parseJsonBigInts,
  type EtcdMemberStatus,
} from '../../steps/etcd/etcdctl.ts';

import { INITIAL_STATE_OVERRIDE } from '../../steps/etcd/render.ts';
import { ETCD_DATA_DIR, etcdPeerURL } from '../../steps/pki/kubeadm-config.ts';
import type { Drill, DrillContext } from '../engine.ts';
import { DEFAULT_PROBE, applyManifest, probeStats } from '../probe.ts';
import { probeCaughtUp, probeOutageCheck, s } from './common.ts';
import { masterHosts, workerHosts } from '../../spec/roles.ts';
import { sleep } from '../../util/poll.ts';

export const DISK_LOSS_NS = 'halab-disk-loss-drill';
export const DISK_LOSS_CONFIGMAP = 'written-during-outage';
export const DISK_LOSS_KEY = '/halab-drill/disk-loss/during-outage';
const QUORUM_POLL_KEY = '/halab-drill/disk-loss/quorum-poll';

export interface MemberEntry {
  id: string;
  hexId: string;
  name: string;
  peerURLs: string[];
}

/** `etcdctl member list -w json` (pure); IDs kept exact (as decimal strings) and in hex for `member remove`. */
export function parseMemberList(text: string): MemberEntry[] {
  const t = text.trim();
  if (!t) return [];
  const doc = parseJsonBigInts(t) as { members?: Record<string, unknown>[] };
  return (doc.members ?? []).map((m) => {
    const id = String(m.ID ?? '');
    return {
      id,
      hexId: id ? BigInt(id).toString(16) : '',
      name: String(m.name ?? ''),
      peerURLs: ((m.peerURLs as string[] | undefined) ?? []).map(String),
    };
  });
}

/** Shell commands of the recovery on the victim and a healthy member (pure; also the walkthrough). */
export function wipeCommand(): string {
  return `find ${ETCD_DATA_DIR} -mindepth 1 -delete && echo "files left in ${ETCD_DATA_DIR}: $(find ${ETCD_DATA_DIR} -mindepth 1 | wc -l)"`;
}

export function predictDiskLoss(spec: LabSpec): Prediction[] {
  const t = spec.timers;
  const members = masterHosts(spec).length;
  const q = quorum(members);
  const writeEvery = DEFAULT_PROBE.tickMs * DEFAULT_PROBE.writeEvery;
  return [
    {
      id: 'healthy-during',
      label: 'Healthy etcd members while the disk is lost',
      unit: 'count',
      value: members - 1,
      min: q.majority,
      margin: 0,
      formula: `${members} − 1 = ${members - 1}; the majority is ⌊${members}/2⌋ + 1 = ${q.majority}, so the cluster keeps a leader and commits (also while the member is removed, ${members - 1} of ${members - 1}, and re-added, ${members - 1} of ${members})`,
    },
    {
      id: 'write-outage',
      label: 'Longest write outage through the VIP',
      unit: 'ms',
      value: writeEvery,
      min: 0,
      margin: t.haproxyCheckFall * t.haproxyCheckInterMs + 6000,
      formula: `≈ one probe write interval (${writeEvery} ms): quorum is never lost; a stopped member closes its connections, so the apiservers' etcd clients move on at once. Margin: HAProxy dropping an apiserver that lost its local etcd (fall ${t.haproxyCheckFall} × inter ${t.haproxyCheckInterMs} ms) + 6 s for a loaded machine`,
    },
    {
      id: 'rejoin',
      label: 'Re-added member healthy (start → 3/3 healthy)',
      unit: 's',
      value: 1 + (2 * t.etcdElectionMs) / 1000 + 1,
      min: t.etcdHeartbeatMs / 1000,
      margin: 15,
      formula: `etcd start on an empty data dir (≈ 1 s) + the leader sends it a snapshot of the (small) database and the log since + its first heartbeat; if the member is not yet known to the followers' transport, up to 2 × election timeout (${t.etcdElectionMs} ms); + ≈ 1 s for etcdctl over SSH`,
    },
  ];
}

interface Vars {
  victim: string;
  via: string;
  oldId: string;
  oldHex: string;
  peerUrl: string;
  faultAt: number;
  stopped?: boolean;
  wiped?: boolean;
  removed?: boolean;
  added?: boolean;
  startedAt?: number;
  rejoinedAt?: number;
  polls: { t: number; ok: boolean; error?: string }[];
  polling?: Promise<void>;
  stopPoll?: boolean;
}
const v = (ctx: DrillContext) => ctx.vars as unknown as Vars;

async function memberList(ctx: DrillContext, via: string): Promise<MemberEntry[]> {
  const r = await etcdctlExec(ctx.lab, via, ['member', 'list', '-w', 'json'], { dialTimeoutS: 2, commandTimeoutS: 6 });
  return parseMemberList(r.stdout);
}

/**
 * Poll etcd from the healthy side twice a second with a linearizable read: etcd answers one only
 * when its leader confirms, with a majority, that it is still the leader. Every answer = quorum held.
 */
function startQuorumPoll(ctx: DrillContext) {
  const vars = v(ctx);
  vars.polls = [];
  vars.stopPoll = false;
  vars.polling = (async () => {
    while (!vars.stopPoll) {
      const t = Date.now();
      try {
        const r = await etcdctlExec(ctx.lab, vars.via, ['get', '--consistency=l', '--keys-only', QUORUM_POLL_KEY], {
          allowFail: true,
          dialTimeoutS: 1,
          commandTimeoutS: 2,
          timeoutMs: 10_000,
        });
        vars.polls.push({
          t,
          ok: r.exitCode === 0,
          error: r.exitCode === 0 ? undefined : r.stderr.trim().split('\n').pop()?.slice(0, 100),
        });
      } catch (err) {
        vars.polls.push({ t, ok: false, error: (err as Error).message.slice(0, 100) });
      }
      const wait = 500 - (Date.now() - t);
      if (wait > 0) await sleep(wait);
    }
  })();
}

export const diskLoss: Drill = {
  info: {
    name: 'disk-loss',
    title: 'A master loses its etcd data disk',
    concept:
      "etcd keeps a full copy of the data on every member, so losing one member's disk loses no data: the others still hold a majority and keep committing. What cannot happen is the member simply coming back with an empty disk under its old identity (it would claim to have acknowledged writes it no longer has). Instead it is removed from the cluster and added again as a brand-new member that joins the running cluster and receives the current data from the leader. With a single master there is no one to copy from: then the way back is to restore from the snapshot kept on the second disk (see the etcd-restore drill).",
    article: '§5',
    needs: '3 masters, 1 worker (probe)',
  },
  needs: (spec) => {
    const out: string[] = [];
    if (masterHosts(spec).length < 3)
      out.push(`${masterHosts(spec).length} master(s): a member can only be rebuilt from the others with at least 3`);
    if (workerHosts(spec).length === 0) out.push('no worker');
    return out;
  },
  predict: predictDiskLoss,
  healthTimeoutMs: 240_000,
  steps: [
    {
      id: 'choose',
      phase: 'explain',
      title: 'Choose the member whose disk dies',
      explain:
        'The last master (m3 in the reference lab) loses its disk A, unless it is the etcd leader (then another follower does, to keep the story about the data, not about an election). Its member ID is noted: the cluster must forget exactly that member.',
      run: async (ctx) => {
        const members = await etcdEndpointsStatus(ctx.lab);
        const leader = leaderOf(members);
        const masters = masterHosts(ctx.spec);
        const victimHost = [...masters].reverse().find((m) => m.name !== leader) ?? masters.at(-1)!;
        const via =
          leader && leader !== victimHost.name ? leader : masters.find((m) => m.name !== victimHost.name)!.name;
        const list = await memberList(ctx, via);
        const me = list.find((m) => m.name === victimHost.name);
        if (!me)
          throw new HalabError('DRILL_OBSERVE', `${victimHost.name} is not in the etcd member list`, {
            details: list.map((m) => m.name).join(', '),
          });
        Object.assign(ctx.vars, {
          victim: victimHost.name,
          via,
          oldId: me.id,
          oldHex: me.hexId,
          peerUrl: etcdPeerURL(victimHost.address),
          polls: [],
        } satisfies Partial<Vars>);
        ctx.note(
          via,
          etcdctlCommand(['member', 'list', '-w', 'table']),
          `note ${victimHost.name}'s member ID (${me.hexId})`,
        );
        ctx.log(
          `${victimHost.name} (member ${me.hexId}) loses its disk; etcdctl runs on ${via} (leader ${leader ?? 'unknown'})`,
          victimHost.name,
        );
      },
    },
    {
      id: 'destroy',
      phase: 'act',
      title: 'Destroy the data disk: stop etcd, wipe its data directory',
      explain: (ctx) =>
        `etcd on ${v(ctx).victim} stops and everything in ${ETCD_DATA_DIR} (disk A: the WAL and the snapshots of the member) is deleted. That is what a dead disk leaves: a member without any of its data.`,
      run: async (ctx) => {
        const { victim } = v(ctx);
        startQuorumPoll(ctx);
        v(ctx).faultAt = ctx.mark(`${victim}: etcd stopped, disk A wiped`, 'fault').t;
        await ctx.component(victim, 'etcd', 'stop', 'stop etcd (and keep it down)');
        v(ctx).stopped = true;
        const r = await ctx.command(
          victim,
          wipeCommand(),
          "wipe the member's data directory on disk A: its data is gone",
        );
        v(ctx).wiped = true;
        ctx.log(r.stdout.trim(), victim);
      },
    },
    {
      id: 'degraded',
      phase: 'observe',
      title: 'Keep writing while one member is gone',
      explain: `Two members remain: a majority. A ConfigMap (${DISK_LOSS_NS}/${DISK_LOSS_CONFIGMAP}) through the VIP and a plain etcd key (${DISK_LOSS_KEY}) are written now; the rebuilt member must have them later without ever having seen them being written.`,
      run: async (ctx) => {
        const { via, victim, faultAt } = v(ctx);
        await applyManifest(
          ctx.lab,
          JSON.stringify({
            apiVersion: 'v1',
            kind: 'List',
            items: [
              {
                apiVersion: 'v1',
                kind: 'Namespace',
                metadata: { name: DISK_LOSS_NS, labels: { 'halab.dev/drill': 'disk-loss' } },
              },
              {
                apiVersion: 'v1',
                kind: 'ConfigMap',
                metadata: { name: DISK_LOSS_CONFIGMAP, namespace: DISK_LOSS_NS },
                data: { run: ctx.runId },
              },
            ],
          }),
        );
        ctx.note(
          'this machine',
          `kubectl create namespace ${DISK_LOSS_NS}; kubectl -n ${DISK_LOSS_NS} create configmap ${DISK_LOSS_CONFIGMAP} --from-literal=run=${ctx.runId}`,
          'write through the VIP while a member is missing',
        );
        const put = await ctx.command(
          via,
          etcdctlCommand(['put', DISK_LOSS_KEY, `written while ${victim} had no disk (${ctx.runId})`], {
            commandTimeoutS: 8,
          }),
          'write a key straight into etcd while a member is missing',
          { timeoutMs: 40_000 },
        );
        ctx.check({
          id: 'write-degraded',
          title: 'etcd commits a write with one member gone',
          ok: put.stdout.trim() === 'OK',
          expected: 'OK',
          observed: put.stdout.trim() || put.stderr.trim().slice(0, 120),
        });
        const members = await etcdEndpointsStatus(ctx.lab, { via });
        const healthy = members.filter((m) => m.healthy).map((m) => m.name);
        ctx.measure({
          id: 'healthy-during',
          label: 'Healthy etcd members while the disk is lost',
          value: healthy.length,
          unit: 'count',
          predictionId: 'healthy-during',
          how: `etcdctl endpoint health from ${via}`,
        });
        ctx.check({
          id: 'majority-during',
          title: `The other members keep a majority with a leader while ${victim} has no data`,
          ok: !!leaderOf(members) && healthy.length === members.length - 1 && !healthy.includes(victim),
          expected: `${members.length - 1}/${members.length} healthy, a leader`,
          observed: `${healthy.length}/${members.length} healthy (${healthy.join(', ')}), leader ${leaderOf(members) ?? 'none'}`,
        });
        // a few seconds of degraded running for the timeline
        const until = Math.max(Date.now(), faultAt + 6000);
        await ctx.sleep(until - Date.now());
      },
    },
    {
      id: 'replace',
      phase: 'act',
      title: 'Remove the dead member, add it back as a new one',
      explain: (ctx) =>
        `From ${v(ctx).via}: etcdctl member remove ${v(ctx).oldHex} (the cluster forgets the member and its acknowledgements; 2 members, majority 2), then etcdctl member add ${v(ctx).victim} --peer-urls=${v(ctx).peerUrl} (3 members, majority 2, the new one not started yet). On ${v(ctx).victim}, "existing" goes into ${INITIAL_STATE_OVERRIDE}: its empty data dir must join the running cluster, not found a new one.`,
      run: async (ctx) => {
        const { via, victim, oldHex, peerUrl } = v(ctx);
        await ctx.command(
          via,
          etcdctlCommand(['member', 'remove', oldHex], { commandTimeoutS: 8 }),
          `forget the member whose data is gone (${oldHex})`,
          { timeoutMs: 40_000 },
        );
        v(ctx).removed = true;
        ctx.mark(`member ${oldHex} removed`, 'info');
        const add = await ctx.command(
          via,
          etcdctlCommand(['member', 'add', victim, `--peer-urls=${peerUrl}`], { commandTimeoutS: 8 }),
          `add ${victim} back as a new member (same name and peer URL)`,
          { timeoutMs: 40_000 },
        );
        v(ctx).added = true;
        ctx.log(add.stdout.trim().split('\n')[0] ?? '', via);
        ctx.mark(`${victim} added as a new member`, 'info');
        await ctx.command(
          victim,
          `mkdir -p $(dirname ${INITIAL_STATE_OVERRIDE}) && echo existing > ${INITIAL_STATE_OVERRIDE}`,
          'the run script starts an empty member with --initial-cluster-state=existing',
        );
      },
    },
    {
      id: 'rejoin',
      phase: 'act',
      title: 'Start the new member on the empty disk and wait for 3/3 healthy',
      explain: (ctx) =>
        `etcd starts on ${v(ctx).victim} with an empty ${ETCD_DATA_DIR}; the leader sends it a snapshot and the log since. Done when every member answers health checks and there is one leader.`,
      run: async (ctx) => {
        const { victim, via } = v(ctx);
        v(ctx).startedAt = Date.now();
        await ctx.component(victim, 'etcd', 'start', 'start etcd: an empty member that joins the existing cluster');
        const p = ctx.prediction('rejoin');
        let last: EtcdMemberStatus[] = [];
        const at = await ctx.until(
          '3/3 etcd members healthy',
          async () => clusterHealthy((last = await etcdEndpointsStatus(ctx.lab, { via }))),
          { timeoutMs: (p.value + p.margin + 60) * 1000, intervalMs: 200 },
        );
        v(ctx).rejoinedAt = at;
        ctx.mark(`${victim} rejoined: 3/3 healthy`, 'recovery', at);
        ctx.measure({
          id: 'rejoin',
          label: 'Re-added member healthy (start → 3/3 healthy)',
          value: (at - v(ctx).startedAt!) / 1000,
          unit: 's',
          predictionId: 'rejoin',
          how: `etcdctl endpoint health/status from ${via}, polled every 0.2 s`,
        });
        ctx.note(via, etcdctlCommand(['endpoint', 'health', '--cluster']), 'every member healthy again');
        v(ctx).stopPoll = true;
        await v(ctx).polling;
        void last;
      },
    },
    {
      id: 'verify',
      phase: 'verify',
      title: 'Verify: quorum was never lost, the new member has the data written during the outage',
      explain:
        'The rebuilt member is read on its own (serializable reads from 127.0.0.1 on it answer from its local copy, no majority involved): it must hold the key and the ConfigMap written while it had no disk.',
      run: async (ctx) => {
        const { victim, via, faultAt, oldId, polls } = v(ctx);
        const get = await ctx.command(
          victim,
          etcdctlCommand(['get', '--consistency=s', '--print-value-only', DISK_LOSS_KEY]),
          "read the key from the rebuilt member's own copy",
          { allowFail: true },
        );
        ctx.check({
          id: 'key-on-new-member',
          title: `The rebuilt ${victim} holds the key written while it had no disk`,
          ok: get.exitCode === 0 && get.stdout.includes(ctx.runId),
          expected: `…(${ctx.runId})`,
          observed: (get.stdout.trim() || get.stderr.trim()).slice(0, 120) || 'empty',
        });
        const cmKey = `/registry/configmaps/${DISK_LOSS_NS}/${DISK_LOSS_CONFIGMAP}`;
        const cm = await ctx.command(
          victim,
          etcdctlCommand(['get', '--consistency=s', '--keys-only', cmKey]),
          "the ConfigMap written through the VIP, from the rebuilt member's own copy",
          { allowFail: true },
        );
        ctx.check({
          id: 'configmap-on-new-member',
          title: `The rebuilt ${victim} holds the ConfigMap written through the VIP during the outage`,
          ok: cm.exitCode === 0 && cm.stdout.includes(cmKey),
          expected: cmKey,
          observed: cm.stdout.trim().slice(0, 120) || cm.stderr.trim().slice(0, 120) || 'not found',
        });
        const list = await memberList(ctx, via);
        const me = list.find((m) => m.name === victim);
        ctx.check({
          id: 'new-identity',
          title: `${victim} is a new member (new ID) and the cluster has ${masterHosts(ctx.spec).length} members`,
          ok: !!me && me.id !== oldId && list.length === masterHosts(ctx.spec).length,
          expected: `a member ID other than ${BigInt(oldId).toString(16)}`,
          observed: list.map((m) => `${m.name || '(unstarted)'} ${m.hexId}`).join(', '),
        });
        // one history: the same revision everywhere (the probe keeps writing: retry for a moment)
        let same = '';
        let seen = '';
        for (let i = 0; i < 50 && !same; i++) {
          const ms = await etcdEndpointsStatus(ctx.lab, { via });
          seen = ms.map((m) => `${m.name} ${m.revision ?? '?'}`).join(', ');
          if (ms.every((m) => m.healthy) && new Set(ms.map((m) => m.revision)).size === 1) same = seen;
          else await ctx.sleep(200);
        }
        ctx.check({
          id: 'same-revision',
          title: 'Every member reports the same revision',
          ok: !!same,
          expected: 'equal revisions',
          observed: same || `last seen: ${seen}`,
        });
        // quorum was never lost: every linearizable read from the healthy side was answered, and the VIP kept taking writes
        const bad = polls.filter((p) => !p.ok);
        ctx.measure({
          id: 'quorum-polls',
          label: 'Linearizable reads answered from the fault to the rejoin',
          value: polls.length - bad.length,
          unit: 'count',
          how: `etcdctl get --consistency=l on ${via} every 0.5 s (${polls.length} polls): the leader must confirm with a majority to answer`,
        });
        ctx.check({
          id: 'quorum-kept',
          title: 'etcd never lost quorum: every linearizable read from the fault to the rejoin was answered',
          ok: polls.length >= 5 && bad.length === 0,
          expected: 'every poll answered (≥ 5 polls)',
          observed: bad.length
            ? `${bad.length}/${polls.length} polls failed: ${bad
                .slice(0, 3)
                .map((p) => `${s(p.t - faultAt)}: ${p.error ?? 'failed'}`)
                .join('; ')}`
            : `${polls.length}/${polls.length} polls answered`,
        });
        const end = Date.now();
        await probeCaughtUp(ctx, end);
        probeOutageCheck(
          ctx,
          'write',
          'write-outage',
          faultAt,
          end,
          'Writes through the VIP never stopped for longer than predicted (no quorum loss)',
        );
        const wr = probeStats(ctx.samples(), 'write', { from: faultAt, to: end, endAt: end });
        ctx.check({
          id: 'vip-writes',
          title: 'Writes through the VIP succeeded throughout',
          ok: wr.requests > 0 && wr.requests - wr.failures - wr.unknowns > 0,
          expected: 'successful writes from the fault to the rejoin',
          observed: `${wr.requests - wr.failures - wr.unknowns}/${wr.requests} writes ok, ${wr.failures} failed, ${wr.unknowns} unknown`,
        });
      },
    },
  ],
  cleanup: async (ctx) => {
    const vars = ctx.vars as Partial<Vars>;
    vars.stopPoll = true;
    await vars.polling?.catch(() => undefined);
    const { victim, via } = vars;
    if (victim && via && vars.wiped) {
      // whatever step it stopped at: make sure the victim is a member again, with data
      const st = await etcdEndpointsStatus(ctx.lab, { via }).catch(() => [] as EtcdMemberStatus[]);
      if (!st.find((m) => m.name === victim)?.healthy) {
        ctx.log('the member is not back: rebuilding it', victim);
        await ctx
          .command(
            victim,
            `${ctx.lab.bootstrap.components.command(ctx.lab, victim, 'etcd', 'stop')}; ${wipeCommand()}`,
            'stop the half-joined member and empty its data dir',
            { allowFail: true },
          )
          .catch(() => undefined);
        const list = await memberList(ctx, via).catch(() => [] as MemberEntry[]);
        for (const m of list.filter((x) => x.name === victim || x.peerURLs.includes(vars.peerUrl!))) {
          await ctx
            .command(
              via,
              etcdctlCommand(['member', 'remove', m.hexId], { commandTimeoutS: 8 }),
              'remove the stale member entry',
              { allowFail: true, timeoutMs: 40_000 },
            )
            .catch(() => undefined);
        }
        await ctx
          .command(
            via,
            etcdctlCommand(['member', 'add', victim, `--peer-urls=${vars.peerUrl}`], { commandTimeoutS: 8 }),
            'add it back as a new member',
            { allowFail: true, timeoutMs: 40_000 },
          )
          .catch(() => undefined);
        await ctx
          .command(
            victim,
            `mkdir -p $(dirname ${INITIAL_STATE_OVERRIDE}) && echo existing > ${INITIAL_STATE_OVERRIDE}; ${ctx.lab.bootstrap.components.command(ctx.lab, victim, 'etcd', 'start')}`,
            'start it to join the existing cluster',
            { allowFail: true },
          )
          .catch(() => undefined);
      }
      // the override is only for this join: once the member has its data, it goes (a later start of an
      // empty member must not silently join instead of bootstrapping)
      const back = await ctx
        .until(
          `${victim} healthy`,
          async () => !!(await etcdEndpointsStatus(ctx.lab, { via })).find((m) => m.name === victim)?.healthy,
          { timeoutMs: 120_000, intervalMs: 500 },
        )
        .then(
          () => true,
          () => false,
        );
      if (back) {
        await ctx
          .command(
            victim,
            `rm -f ${INITIAL_STATE_OVERRIDE}`,
            'the member has its data again: drop the one-time override',
            { allowFail: true },
          )
          .catch(() => undefined);
      } else {
        ctx.log(
          `${victim} did not become healthy: ${INITIAL_STATE_OVERRIDE} is left in place for the next start`,
          victim,
        );
      }
    }
    if (via)
      await etcdctlExec(ctx.lab, via, ['del', DISK_LOSS_KEY], { allowFail: true, commandTimeoutS: 8 }).catch(
        () => undefined,
      );
    await kubectl(ctx.lab, ['delete', 'namespace', DISK_LOSS_NS, '--ignore-not-found', '--wait=false'], {
      allowFail: true,
    }).catch(() => undefined);
  },
};
