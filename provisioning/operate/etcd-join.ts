// Joining masters to a running etcd cluster: a master without the cluster's data becomes a
// new member (`etcdctl member add`, then its etcd starts on an empty data dir with the one-time
// "existing" override its run script reads); one with its data rejoins as the member it is.
// Used by `halab add master` and `halab replace` (around the etcd steps of their plan) and by
// every `up` of a lab that exists (a master the spec has and the cluster does not: an `add`
// that was interrupted, finished by `halab start`).
import type { LabContext } from '../engine/context.ts';
import type { Step } from '../engine/runner.ts';
import { HalabError } from '../errors.ts';
import { parseMemberList, type MemberEntry } from '../drills/catalog/disk-loss.ts';
import { masterHosts } from '../spec/roles.ts';
import { ETCDCTL_BIN, etcdEndpointsStatus, etcdctlExec, type EtcdMemberStatus } from '../steps/etcd/etcdctl.ts';
import { INITIAL_STATE_OVERRIDE } from '../steps/etcd/render.ts';
import { ETCD_DATA_DIR, etcdPeerURL } from '../steps/pki/kubeadm-config.ts';
import { poll } from '../util/poll.ts';

export async function memberList(lab: LabContext, via: string): Promise<MemberEntry[]> {
  const r = await etcdctlExec(lab, via, ['member', 'list', '-w', 'json'], { dialTimeoutS: 2, commandTimeoutS: 8 });
  return parseMemberList(r.stdout);
}

/** A healthy member to run etcdctl on, other than those in `not`. */
export async function healthyVia(lab: LabContext, not: string[]): Promise<string> {
  const members = await etcdEndpointsStatus(lab).catch(() => [] as EtcdMemberStatus[]);
  const via = members.find((m) => m.healthy && !not.includes(m.name))?.name;
  if (!via)
    throw new HalabError('ETCD_UNHEALTHY', 'no healthy etcd member to change the membership through', {
      details: members.map((m) => `${m.name}: ${m.healthy ? 'healthy' : (m.error ?? 'unhealthy')}`).join('\n'),
      fix: 'etcd has lost quorum: `halab snapshot restore`',
    });
  return via;
}

/**
 * Does `master`'s disk A hold a member's data (its database has the cluster's keys)? A data dir
 * that etcd made again after its data was lost (it restarted on an empty dir) holds an empty
 * database: at most the few keys of a cluster that never formed. etcd must not run (the database
 * is locked while it does): this looks at a host made again, before its etcd starts.
 */
export async function memberData(lab: LabContext, master: string): Promise<boolean> {
  const db = `${ETCD_DATA_DIR}/member/snap/db`;
  const r = await lab
    .remote(master)
    .exec(`test -s ${db} && ETCDCTL_API=3 timeout 20 ${ETCDCTL_BIN} snapshot status ${db} -w json`, {
      allowFail: true,
      timeoutMs: 30_000,
    });
  const keys = Number(/"totalKey":(\d+)/.exec(r.stdout)?.[1] ?? 0);
  return r.exitCode === 0 && keys >= MIN_MEMBER_KEYS;
}

/** Fewer keys than this: the database of a member that never had the cluster's data (Kubernetes writes hundreds at once). */
export const MIN_MEMBER_KEYS = 10;

/**
 * Before the etcd step of `up`: every master in `hosts` that has no data on its disk A joins the
 * running cluster as a new member (a stale entry of it removed first, `member add`, and
 * "existing" in the one-time override its run script reads); one with data rejoins as the member
 * it is. Idempotent: a member already added and not started yet is left as it is.
 */
export function etcdJoinStep(hosts: string[], o: { lost?: string[] } = {}): Step<LabContext> {
  return {
    id: 'etcd:join',
    title: `Join ${hosts.join(', ')} to the running etcd cluster (member add for a host without data)`,
    run: async (lab, t) => {
      const masters = hosts.filter((h) => masterHosts(lab.state.spec).some((m) => m.name === h));
      for (const h of masters) {
        const peer = etcdPeerURL(lab.state.spec.hosts.find((x) => x.name === h)!.address);
        // a member known to have lost its data restarted on an empty dir and wrote a new (useless) one
        const hasData = !o.lost?.includes(h) && (await memberData(lab, h));
        // a member with its data needs nobody to rejoin (it may even be what brings quorum back)
        const via = await healthyVia(lab, masters).catch((err: unknown) => {
          if (hasData) return undefined;
          throw err;
        });
        if (!via) {
          t.log('its disk A has its data: it rejoins as the member it was', { host: h });
          continue;
        }
        const list = await memberList(lab, via);
        const entry = list.find((m) => m.name === h || m.peerURLs.includes(peer));
        if (hasData && entry && entry.name === h) {
          t.log(`its disk A has its data: it rejoins as member ${entry.hexId}`, { host: h });
          continue;
        }
        if (!hasData && entry && entry.name === '') {
          t.log(`already added as member ${entry.hexId}, not started yet`, { host: h });
        } else {
          if (entry) {
            t.log(`removing the member entry ${entry.hexId} whose data is gone`, { host: h });
            await etcdctlExec(lab, via, ['member', 'remove', entry.hexId], { commandTimeoutS: 8 });
          }
          await lab.remote(h).exec(`mkdir -p ${ETCD_DATA_DIR} && find ${ETCD_DATA_DIR} -mindepth 1 -delete`);
          const add = await etcdctlExec(lab, via, ['member', 'add', h, `--peer-urls=${peer}`], {
            commandTimeoutS: 8,
          });
          t.log(add.stdout.trim().split('\n')[0] ?? `member add ${h}`, { host: h });
        }
        await lab
          .remote(h)
          .exec(`mkdir -p $(dirname ${INITIAL_STATE_OVERRIDE}) && echo existing > ${INITIAL_STATE_OVERRIDE}`);
      }
    },
  };
}

/** After the etcd health step: the one-time "existing" override goes (a member with data never needs it). */
export function etcdOverrideCleanup(hosts: string[]): Step<LabContext> {
  return {
    id: 'etcd:join-done',
    title: 'Drop the one-time join override of the joined members',
    run: async (lab) => {
      for (const h of hosts.filter((x) => masterHosts(lab.state.spec).some((m) => m.name === x)))
        await lab.remote(h).exec(`rm -f ${INITIAL_STATE_OVERRIDE}`, { allowFail: true });
    },
  };
}

/** `plan` with the etcd join steps around the etcd steps (pure). */
export function withEtcdJoin(plan: Step<LabContext>[], hosts: string[], lost: string[] = []): Step<LabContext>[] {
  const out: Step<LabContext>[] = [];
  for (const s of plan) {
    if (s.id === 'etcd:members') out.push(etcdJoinStep(hosts, { lost }));
    out.push(s);
    if (s.id === 'etcd:healthy') out.push(etcdOverrideCleanup(hosts));
  }
  return out;
}

/**
 * Every `up` of a lab that exists: a master of the spec that the cluster does not know (its
 * `add` was interrupted) joins as a new member; one added and never started gets its override.
 * A known member is never touched (one that lost its data is the data check's business).
 */
export function etcdNewMembers(): { join: Step<LabContext>; done: Step<LabContext> } {
  const added: string[] = [];
  return {
    join: {
      id: 'etcd:new-members',
      title: 'Join any master the running etcd cluster does not know yet (an interrupted `halab add master`)',
      // done when a healthy member already lists every master by name (a member added and never
      // started has no name yet)
      done: async (lab) => {
        if (!lab.bootstrap.hasControlPlane(lab.state)) return true;
        const via = await healthyVia(lab, []).catch(() => undefined);
        const list = via && (await memberList(lab, via).catch(() => undefined));
        return !!list && masterHosts(lab.state.spec).every((m) => list.some((x) => x.name === m.name));
      },
      run: async (lab, t) => {
        // members start with their hosts: give them a moment to form the quorum again
        const via = await poll({
          what: 'a healthy etcd member',
          check: () => healthyVia(lab, []).catch(() => undefined),
          timeoutMs: 30_000,
          intervalMs: 1000,
          signal: t.signal,
        }).catch(() => undefined);
        if (!via) return t.log('no healthy etcd member to ask: the members are left as they are');
        const list = await memberList(lab, via);
        for (const m of masterHosts(lab.state.spec)) {
          const peer = etcdPeerURL(m.address);
          const entry = list.find((x) => x.name === m.name || x.peerURLs.includes(peer));
          if (entry?.name === m.name) continue;
          if (!entry) {
            t.log('not a member of the running cluster: added as a new member', { host: m.name });
            // whatever its etcd made on its own is not the cluster's
            await lab
              .remote(m.name)
              .exec(`${lab.services(m.name).command('etcd', 'stop')} 2>/dev/null; true`, { allowFail: true });
            await lab.remote(m.name).exec(`mkdir -p ${ETCD_DATA_DIR} && find ${ETCD_DATA_DIR} -mindepth 1 -delete`);
            await etcdctlExec(lab, via, ['member', 'add', m.name, `--peer-urls=${peer}`], { commandTimeoutS: 8 });
          } else t.log(`added as member ${entry.hexId} and never started: it starts now`, { host: m.name });
          await lab
            .remote(m.name)
            .exec(`mkdir -p $(dirname ${INITIAL_STATE_OVERRIDE}) && echo existing > ${INITIAL_STATE_OVERRIDE}`);
          added.push(m.name);
        }
      },
    },
    done: {
      id: 'etcd:new-members-done',
      title: 'Drop the one-time join override of the members that joined',
      done: async () => added.length === 0,
      run: async (lab) => {
        for (const h of added) await lab.remote(h).exec(`rm -f ${INITIAL_STATE_OVERRIDE}`, { allowFail: true });
      },
    },
  };
}

/** `plan` with the new-members steps around the etcd steps, `after` after them (pure): `up` of a lab that exists. */
export function withNewMembers(plan: Step<LabContext>[], after: Step<LabContext>[] = []): Step<LabContext>[] {
  const s = etcdNewMembers();
  return plan.flatMap((x) =>
    x.id === 'etcd:members' ? [s.join, x] : x.id === 'etcd:healthy' ? [x, s.done, ...after] : [x],
  );
}
