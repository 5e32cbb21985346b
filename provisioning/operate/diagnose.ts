// What no restart repairs: an etcd member whose data is gone. A member restarted on an empty data
// dir starts a new raft log while the cluster still expects the member it was; the leader's first
// heartbeat asks it to commit an index it never had, and etcd panics ("tocommit(288) is out of
// range [lastIndex(0)]. Was the raft log corrupted, truncated, or lost?"), again at every
// restart. A member stopped with an empty data dir is the same loss, not started yet. Neither is
// fixed by `up` or `heal`: status names it, and the fix (the disk-loss procedure, or a restore).
import type { ControlPlaneStatus, ServiceStatus } from '../api/types.ts';
import type { LabContext } from '../engine/context.ts';
import type { Step } from '../engine/runner.ts';
import { HalabError } from '../errors.ts';
import { quorum } from '../spec/quorum.ts';
import { masterHosts } from '../spec/roles.ts';
import type { EtcdMemberStatus } from '../steps/etcd/etcdctl.ts';
import { ETCD_DATA_DIR, etcdPeerURL } from '../steps/pki/kubeadm-config.ts';

/** The raft panic of a member that lost its log (etcd 3.4's words). */
export const LOST_LOG_RE = /out of range \[lastIndex\(0\)\]|raft log corrupted, truncated, or lost/;
/** A member restarted at least this often, dying of the lost log, is crash-looping. */
export const CRASH_LOOP_EXITS = 3;

export interface DataLoss {
  master: string;
  kind: 'crash-loop' | 'stopped-empty' | 'foreign';
  /** One sentence: what is wrong, for status's PROBLEMS. */
  problem: string;
  /** What to do about it. */
  fix: string;
}

/** The shell that gathers what the diagnosis needs on one master (pure): its data dir and its log's tail. */
export function dataLossProbe(logPath: string): string {
  return [
    `echo "member $(test -d ${ETCD_DATA_DIR}/member && echo yes || echo no)"`,
    `echo "files $(find ${ETCD_DATA_DIR} -mindepth 1 -maxdepth 3 2>/dev/null | wc -l)"`,
    `echo "panic $(tail -n 200 ${logPath} 2>/dev/null | grep -cE 'out of range \\[lastIndex\\(0\\)\\]|raft log corrupted, truncated, or lost')"`,
    `echo "mismatch $(tail -n 200 ${logPath} 2>/dev/null | grep -c 'ignored by remote peer due to cluster ID mismatch')"`,
  ].join('\n');
}

export interface ProbeFacts {
  member: boolean;
  files: number;
  panics: number;
  /**
   * Its peers ignore it: it runs a cluster of its own (started "new" on an empty data dir). Its
   * own words ("request sent was ignored by remote peer"), not its peers' ("request cluster ID
   * mismatch", which they log about it).
   */
  mismatches: number;
  /** From the service manager: it wants etcd up, how long it has been up (undefined: down), exits so far. */
  wantedUp?: boolean;
  uptimeS?: number;
  restarts: number;
}

export function parseDataLossProbe(text: string, svc?: ServiceStatus): ProbeFacts {
  const get = (k: string) => new RegExp(`^${k} (.*)$`, 'm').exec(text)?.[1]?.trim() ?? '';
  return {
    member: get('member') === 'yes',
    files: Number(get('files')) || 0,
    panics: Number(get('panic')) || 0,
    mismatches: Number(get('mismatch')) || 0,
    wantedUp: svc?.wantedUp,
    uptimeS: svc?.up ? svc.uptimeS : undefined,
    restarts: svc?.restarts ?? 0,
  };
}

/** The fix for lost members, given how many members are healthy (pure). */
export function dataLossFix(masters: string[], lost: string[], healthy: number): string {
  const q = quorum(masters.length);
  const restore = '`halab snapshot restore` (every member from one snapshot: what was written after it is lost)';
  if (healthy >= q.majority) {
    const who = lost.join(', ');
    return `the disk-loss procedure: remove the member and add it back as a new one that receives the data from the others (etcdctl member remove, member add, then start it on the empty data dir): \`halab replace ${lost[0]}\` does it${lost.length > 1 ? ` (for each of ${who})` : ''}, on a new host with ${lost.length > 1 ? 'their' : `${lost[0]}'s`} disks; or ${restore}`;
  }
  return `quorum is lost (${healthy} of ${masters.length} members healthy, a majority is ${q.majority}): ${restore}`;
}

/** Judge one master's facts (pure): lost data, or not. */
export function judge(f: ProbeFacts): DataLoss['kind'] | undefined {
  // restarted again and again, and the last runs died of the lost log (it lives a second or so)
  const short = f.uptimeS === undefined || f.uptimeS < 30;
  if (f.panics > 0 && f.restarts >= CRASH_LOOP_EXITS && f.wantedUp !== false && short) return 'crash-loop';
  // after a restore the members carry the restore's identity: an empty member that starts "new"
  // with the spec's token makes a cluster of its own, which its peers ignore (it does not crash)
  if (f.mismatches >= 3 && f.uptimeS !== undefined) return 'foreign';
  if (!f.member && f.files === 0 && f.wantedUp === false) return 'stopped-empty';
  return undefined;
}

/**
 * The masters whose etcd member lost its data, with the problem and the fix. Looks only at
 * masters that are powered on, and (when `members` is given) whose member is not healthy.
 * A master that cannot be asked is skipped: its own problem is reported elsewhere.
 */
export async function diagnoseDataLoss(lab: LabContext, members?: EtcdMemberStatus[]): Promise<DataLoss[]> {
  const masters = masterHosts(lab.state.spec).map((m) => m.name);
  const suspects = masters.filter((m) => !members || !members.find((x) => x.name === m)?.healthy);
  const found: { master: string; kind: DataLoss['kind'] }[] = [];
  await Promise.all(
    suspects.map(async (m) => {
      if (!(await lab.provider.isPoweredOn(lab, m).catch(() => false))) return;
      const services = lab.services(m);
      const [r, svcs] = await Promise.all([
        lab
          .remote(m)
          .exec(dataLossProbe(services.logPath('etcd')), { allowFail: true, timeoutMs: 10_000 })
          .catch(() => undefined),
        services.status().catch(() => undefined),
      ]);
      if (!r || !svcs) return;
      const kind = judge(
        parseDataLossProbe(
          r.stdout,
          svcs.find((x) => x.name === 'etcd'),
        ),
      );
      if (kind) found.push({ master: m, kind });
    }),
  );
  if (!found.length) return [];
  found.sort((a, b) => masters.indexOf(a.master) - masters.indexOf(b.master));
  const healthy = members
    ? members.filter((x) => x.healthy).length
    : masters.length - found.length; /* without a reading: the others, at best */
  const fix = dataLossFix(
    masters,
    found.map((f) => f.master),
    healthy,
  );
  return found.map(({ master, kind }) => ({
    master,
    kind,
    fix,
    problem:
      kind === 'crash-loop'
        ? `etcd member ${master} is crash-looping on an empty data dir: its data (disk A) is gone, and the cluster still expects the member it was (etcd: "raft log corrupted, truncated, or lost"); no restart repairs it`
        : kind === 'foreign'
          ? `etcd on ${master} started a cluster of its own on an empty data dir: its data (disk A) is gone, and its peers ignore it (etcd: "cluster ID mismatch"); no restart repairs it`
          : `etcd on ${master} is stopped and its data dir (disk A) is empty: its data is gone; starting it would not bring it back`,
  }));
}

/**
 * A control plane's status with every lost member named in its problems (the generic "etcd member
 * m3 is unhealthy" line of that member gives way to what is wrong and the fix). Unchanged when
 * every member is healthy (nothing is asked then).
 */
export async function withDataLoss(lab: LabContext, cp: ControlPlaneStatus): Promise<ControlPlaneStatus> {
  if (!cp.etcd.length || cp.etcd.every((m) => m.healthy)) return cp;
  const members = cp.etcd.map((m) => ({ name: m.name, healthy: m.healthy }) as EtcdMemberStatus);
  const lost = await diagnoseDataLoss(lab, members).catch(() => [] as DataLoss[]);
  if (!lost.length) return cp;
  const problems = [...cp.problems];
  for (const l of lost) {
    const line = `${l.problem}; fix: ${l.fix}`;
    const i = problems.findIndex((p) => p.startsWith(`etcd member ${l.master} is unhealthy`));
    if (i >= 0) problems[i] = line;
    else problems.push(line);
  }
  return { ...cp, problems };
}

/**
 * The first step of `up` on a lab that exists: a member that lost its data stops `up` at once
 * with the problem and the fix (no step of `up` repairs it, and etcd would never become healthy).
 */
export const etcdDataCheck: Step<LabContext> = {
  id: 'etcd:data-check',
  title: 'Check that no etcd member of this lab lost its data (no step of `up` can repair that)',
  done: async (lab) => !lab.bootstrap.hasControlPlane(lab.state),
  run: async (lab, t) => {
    let lost = await diagnoseDataLoss(lab);
    if (!lost.length) return;
    // a master the cluster never knew (an interrupted `halab add master`) lost nothing: the
    // new-members step of this `up` makes it join
    const { healthyVia, memberList } = await import('./etcd-join.ts');
    const list = await healthyVia(lab, [])
      .then((via) => memberList(lab, via))
      .catch(() => undefined);
    // (a crash loop is always a member's: only a member gets the heartbeat that makes it panic)
    if (list)
      lost = lost.filter((l) => {
        if (l.kind === 'crash-loop') return true;
        const peer = etcdPeerURL(lab.state.spec.hosts.find((h) => h.name === l.master)!.address);
        return list.some((m) => m.name === l.master || m.peerURLs.includes(peer));
      });
    if (!lost.length) return;
    for (const l of lost) t.log(l.problem, { host: l.master, level: 'error' });
    throw new HalabError(
      'ETCD_DATA_LOST',
      lost.length === 1
        ? `etcd member ${lost[0]!.master} lost its data: \`up\` cannot repair that, and changed nothing`
        : `etcd members ${lost.map((l) => l.master).join(', ')} lost their data: \`up\` cannot repair that, and changed nothing`,
      { details: lost.map((l) => l.problem).join('\n'), fix: lost[0]!.fix },
    );
  },
};
