// quorum-table: measure the article's failure-tolerance table instead of quoting it. On one lab
// host, throwaway etcd clusters of 1..7 members run as plain processes on the host's loopback
// (no TLS, data under /var/lib/halab-qt: clearly not the lab's etcd). For each size, members are killed one at
// a time until a write no longer commits; the number killed while writes still worked is the
// measured tolerance, next to the article's ⌊(n−1)/2⌋. Every process and directory goes at the end.

import type { Prediction } from '../../api/drills.ts';
import type { LabSpec } from '../../api/types.ts';
import { HalabError } from '../../errors.ts';
import { shq } from '../../exec/types.ts';
import { quorum } from '../../spec/quorum.ts';
import { ETCDCTL_BIN } from '../../steps/etcd/etcdctl.ts';
import { ETCD_BIN } from '../../steps/etcd/render.ts';
import type { Drill, DrillContext } from '../engine.ts';
import { workerHosts } from '../../spec/roles.ts';

/** Cluster sizes the drill builds. */
export const QT_SIZES = [1, 2, 3, 4, 5, 6, 7];
/**
 * Where the throwaway members live on the host: its own /var/lib (an overlay whose upper layer is
 * in the lab's state directory, so it goes with the lab). Not /tmp: a host's /tmp is a 256 MiB
 * tmpfs, and every etcd member preallocates two 64 MiB WAL segments (≈ 123 MiB measured), so
 * only two members would fit.
 */
export const QT_DIR = '/var/lib/halab-qt';
/**
 * Failure detection: quick, with some slack for a loaded 2-core machine where seven members
 * share the host with a whole lab.
 */
export const QT_HEARTBEAT_MS = 100;
export const QT_ELECTION_MS = 1000;
/**
 * One write: each attempt is an etcdctl put with this --command-timeout; attempts go on until one
 * commits or QT_WRITE_WINDOW_S have passed, so an election still in progress after a kill (or a
 * slow moment of the machine) is not mistaken for a lost majority. The same window for every
 * write, whatever the number of members left.
 */
export const QT_WRITE_TIMEOUT_S = 2;
export const QT_WRITE_WINDOW_S = 8;

/**
 * Ports below the kernel's ephemeral range (32768-60999 by default): a port in that range can be
 * taken by an outgoing connection's source port just before a member binds it.
 */
export const QT_CLIENT_BASE = 31000;
export const QT_PEER_BASE = 31500;
export const qtClientPort = (n: number, i: number) => QT_CLIENT_BASE + n * 10 + i;
export const qtPeerPort = (n: number, i: number) => QT_PEER_BASE + n * 10 + i;
export const qtName = (n: number, i: number) => `qt${n}-${i}`;

/**
 * The experiment for one cluster size, as one bash script run on the host (pure): start n members,
 * wait until every one is healthy, then repeat "write; if it committed, kill the next member" until
 * a write fails. Prints READY, WRITE k ok|fail, KILL i lines; kills and removes everything it
 * started on exit (EXIT trap), whatever happened.
 */
export function quorumTableScript(n: number): string {
  const members = Array.from({ length: n }, (_, k) => k + 1);
  const cluster = members.map((i) => `${qtName(n, i)}=http://127.0.0.1:${qtPeerPort(n, i)}`).join(',');
  const start = members.map((i) => {
    const c = `http://127.0.0.1:${qtClientPort(n, i)}`;
    const p = `http://127.0.0.1:${qtPeerPort(n, i)}`;
    return [
      `rm -rf ${QT_DIR}/${n}-${i}`,
      `nohup ${ETCD_BIN} --name=${qtName(n, i)} --data-dir=${QT_DIR}/${n}-${i} --listen-client-urls=${c} --advertise-client-urls=${c}` +
        ` --listen-peer-urls=${p} --initial-advertise-peer-urls=${p} --initial-cluster=${cluster} --initial-cluster-token=halab-qt-${n}` +
        ` --initial-cluster-state=new --heartbeat-interval=${QT_HEARTBEAT_MS} --election-timeout=${QT_ELECTION_MS}` +
        ` >${QT_DIR}/${n}-${i}.log 2>&1 </dev/null &`,
      `echo $! >${QT_DIR}/${n}-${i}.pid`,
    ].join('\n');
  });
  const ctl = `ETCDCTL_API=3 ${ETCDCTL_BIN} --dial-timeout=1s --command-timeout=${QT_WRITE_TIMEOUT_S}s`;
  return [
    'set -u',
    `N=${n}`,
    `mkdir -p ${QT_DIR}`,
    `cleanup() { for f in ${QT_DIR}/${n}-*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done; sleep 0.2; rm -rf ${QT_DIR}/${n}-*; }`,
    'trap cleanup EXIT',
    ...start,
    `eps() { local out=""; for i in $(seq "$1" ${n}); do out="$out\${out:+,}http://127.0.0.1:$((${qtClientPort(n, 0)} + i))"; done; echo "$out"; }`,
    // every member answers a linearizable read: the cluster is formed and has a leader
    'ready=0',
    `for t in $(seq 1 60); do if ${ctl} --endpoints="$(eps 1)" endpoint health >/dev/null 2>&1; then ready=1; break; fi; sleep 0.5; done`,
    // not formed: say so, with the end of each member's log (the drill shows it in its error)
    `[ "$ready" = 1 ] || { echo "NOTREADY"; for f in ${QT_DIR}/${n}-*.log; do echo "== $f"; tail -n 3 "$f" | cut -c1-300; done; exit 0; }`,
    'echo READY',
    'k=0',
    'while :; do',
    '  e=$(eps $((k + 1)))',
    '  ok=0; err="no member left"',
    '  if [ -n "$e" ]; then t0=$SECONDS; while :; do',
    `    if err=$(${ctl} --endpoints="$e" put /halab-qt/after-$k v 2>&1 >/dev/null); then ok=1; break; fi`,
    `    [ $((SECONDS - t0)) -ge ${QT_WRITE_WINDOW_S} ] && break; sleep 0.3`,
    '  done; fi',
    '  if [ "$ok" = 1 ]; then echo "WRITE $k ok"; else echo "WRITE $k fail $(echo "$err" | tail -n 1 | cut -c1-160)"; break; fi',
    `  [ "$k" -ge ${n} ] && break`,
    `  kill -9 "$(cat ${QT_DIR}/${n}-$((k + 1)).pid)" 2>/dev/null; wait "$(cat ${QT_DIR}/${n}-$((k + 1)).pid)" 2>/dev/null`,
    '  k=$((k + 1)); echo "KILL $k"',
    'done',
  ].join('\n');
}

export interface QuorumRun {
  members: number;
  ready: boolean;
  /** Writes attempted after 0, 1, ... kills, in order. */
  writes: { killed: number; ok: boolean; error?: string }[];
  /** Members killed while writes still committed (−1: not even the first write did). */
  tolerated: number;
}

/** Parse the output of quorumTableScript (pure). */
export function parseQuorumRun(members: number, stdout: string): QuorumRun {
  const writes: QuorumRun['writes'] = [];
  let ready = false;
  for (const line of stdout.split('\n')) {
    if (line.trim() === 'READY') ready = true;
    const m = /^WRITE (\d+) (ok|fail)(?: (.*))?$/.exec(line.trim());
    if (m) writes.push({ killed: Number(m[1]), ok: m[2] === 'ok', ...(m[2] === 'fail' ? { error: m[3] ?? '' } : {}) });
  }
  const ok = writes.filter((w) => w.ok).map((w) => w.killed);
  return { members, ready, writes, tolerated: ok.length ? Math.max(...ok) : -1 };
}

export interface QuorumRow {
  members: number;
  majority: number;
  measured: number;
  article: number;
}

/** The measured table next to the article's, as fixed-width text (pure). */
export function formatQuorumTable(rows: QuorumRow[]): string {
  const head = ['members', 'majority', 'tolerated (measured)', 'tolerated (article)', ''];
  const body = rows.map((r) => [
    String(r.members),
    String(r.majority),
    r.measured < 0 ? 'none' : String(r.measured),
    String(r.article),
    r.measured === r.article ? 'same' : 'DIFFERENT',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(w[i]!))
      .join('  ')
      .trimEnd();
  return [line(head), line(w.map((x) => '-'.repeat(x))), ...body.map(line)].join('\n');
}

export function predictQuorumTable(_spec: LabSpec): Prediction[] {
  return QT_SIZES.map((n) => {
    const q = quorum(n);
    return {
      id: `tolerated-${n}`,
      label: `${n} member${n > 1 ? 's' : ''} (majority ${q.majority}): failures tolerated`,
      unit: 'count' as const,
      value: q.tolerated,
      margin: 0,
      formula: `a write needs ⌊${n}/2⌋ + 1 = ${q.majority} members, so ${n} − ${q.majority} = ⌊(${n} − 1)/2⌋ = ${q.tolerated} may fail (the article's table)`,
    };
  });
}

/** The host the throwaway clusters run on: the last worker (the probe, when there is one, uses the first). */
export function quorumTableHost(spec: LabSpec): string | undefined {
  return workerHosts(spec).at(-1)?.name;
}

interface Vars {
  host: string;
  rows: QuorumRow[];
  started: boolean;
}
const v = (ctx: DrillContext) => ctx.vars as unknown as Vars;

async function leftovers(ctx: DrillContext, host: string): Promise<string> {
  const r = await ctx.lab
    .remote(host)
    .exec(
      `for f in ${QT_DIR}/*.pid; do [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && echo "process $(cat "$f") ($f)"; done; [ -e ${QT_DIR} ] && ls -A ${QT_DIR} | sed 's/^/file /'; true`,
      { allowFail: true, timeoutMs: 20_000 },
    );
  return r.stdout.trim();
}

export const quorumTable: Drill = {
  info: {
    name: 'quorum-table',
    title: 'Measure the quorum table: how many failures etcd survives',
    concept:
      'A Raft cluster commits a write only when more than half of its members have stored it, so a cluster of n keeps working while ⌊n/2⌋+1 members are alive and survives ⌊(n−1)/2⌋ failures. Adding a member to an odd-sized cluster raises the majority without raising the tolerance: 4 survives one failure like 3, 6 survives two like 5. This drill does not take the table on trust: it builds real throwaway clusters of 1 to 7 members and kills members until writes stop.',
    article: '§3',
    needs: '1 worker (the throwaway clusters run on it)',
  },
  needs: (spec) => (workerHosts(spec).length < 1 ? ['no worker to run the throwaway clusters on'] : []),
  predict: predictQuorumTable,
  // the lab itself is not touched; a probe would only add load that slows the throwaway elections
  probe: false,
  steps: [
    {
      id: 'prepare',
      phase: 'explain',
      title: 'Pick a host for the throwaway clusters',
      explain: (ctx) =>
        `The clusters run on ${quorumTableHost(ctx.spec)} as plain processes on its loopback (127.0.0.1, ports ${QT_CLIENT_BASE + 10}-${QT_CLIENT_BASE + 77} and ${QT_PEER_BASE + 10}-${QT_PEER_BASE + 77}), data under ${QT_DIR} (the host's own /var/lib; each member preallocates ≈ 128 MiB of WAL), no TLS: they share nothing with the lab's etcd. Heartbeat ${QT_HEARTBEAT_MS} ms and election timeout ${QT_ELECTION_MS} ms keep each run short.`,
      run: async (ctx) => {
        const host = quorumTableHost(ctx.spec)!;
        Object.assign(ctx.vars, { host, rows: [], started: false } satisfies Vars);
        const r = await ctx.lab
          .remote(host)
          .exec(`test -x ${ETCD_BIN} && test -x ${ETCDCTL_BIN} && ${ETCD_BIN} --version | head -1`, {
            allowFail: true,
            timeoutMs: 20_000,
          });
        if (r.exitCode !== 0)
          throw new HalabError('DRILL_NEEDS', `${host} has no ${ETCD_BIN} / ${ETCDCTL_BIN}`, {
            fix: 'the etcd binaries are installed on every host by `halab up`',
          });
        ctx.log(`${r.stdout.trim()} on ${host}`, host);
        await ctx.lab.remote(host).exec(`rm -rf ${QT_DIR} && mkdir -p ${QT_DIR}`, { timeoutMs: 20_000 });
      },
    },
    {
      id: 'measure',
      phase: 'act',
      title: 'For 1..7 members: kill members one at a time until a write fails',
      explain: `For each size: start every member, wait until each answers, then write a key (etcdctl put, --command-timeout ${QT_WRITE_TIMEOUT_S} s, retried for up to ${QT_WRITE_WINDOW_S} s so a leader election in progress is not mistaken for a lost majority); if it committed, kill -9 the next member and write again. The number of members killed while writes still committed is the measured tolerance.`,
      run: async (ctx) => {
        const { host } = v(ctx);
        v(ctx).started = true;
        for (const n of QT_SIZES) {
          const t0 = Date.now();
          const r = await ctx.command(
            host,
            quorumTableScript(n),
            `${n} member${n > 1 ? 's' : ''}: start them, then write / kill one / write ... until a write fails (everything is killed and removed at the end)`,
            { allowFail: true, timeoutMs: 180_000, signal: ctx.signal },
          );
          const run = parseQuorumRun(n, r.stdout);
          if (!run.ready)
            throw new HalabError(
              'DRILL_OBSERVE',
              `the throwaway ${n}-member cluster on ${host} did not become healthy`,
              { details: (r.stdout + r.stderr).trim().slice(-2000) },
            );
          const q = quorum(n);
          v(ctx).rows.push({ members: n, majority: q.majority, measured: run.tolerated, article: q.tolerated });
          const failed = run.writes.find((w) => !w.ok);
          ctx.measure({
            id: `tolerated-${n}`,
            label: `${n} member${n > 1 ? 's' : ''} (majority ${q.majority}): failures tolerated`,
            value: run.tolerated,
            unit: 'count',
            predictionId: `tolerated-${n}`,
            how: `writes committed after ${run.writes
              .filter((w) => w.ok)
              .map((w) => w.killed)
              .join(
                ', ',
              )} kill(s); after ${failed?.killed ?? '?'} the write failed (${failed?.error || 'no answer'}); ${((Date.now() - t0) / 1000).toFixed(1)} s`,
          });
          ctx.log(
            `${n} members: writes kept committing until ${run.tolerated} were killed; with ${failed?.killed ?? '?'} killed: ${failed?.error || 'failed'}`,
            host,
          );
        }
        ctx.log(`measured vs the article:\n${formatQuorumTable(v(ctx).rows)}`, host);
      },
    },
    {
      id: 'verify',
      phase: 'verify',
      title: "Verify: the measured table equals the article's, nothing left behind",
      explain: 'Every measured tolerance must equal ⌊(n−1)/2⌋; every throwaway process and directory must be gone.',
      run: async (ctx) => {
        const { rows, host } = v(ctx);
        for (const r of rows) {
          ctx.check({
            id: `table-${r.members}`,
            title: `${r.members} member${r.members > 1 ? 's' : ''}: measured tolerance equals the article's`,
            ok: r.measured === r.article,
            expected: `${r.article} (majority ${r.majority} of ${r.members})`,
            observed: `${r.measured < 0 ? 'no write committed at all' : r.measured}`,
          });
        }
        ctx.check({
          id: 'quorum-table',
          title: "The measured quorum table equals the article's",
          ok: rows.length === QT_SIZES.length && rows.every((r) => r.measured === r.article),
          expected: QT_SIZES.map((n) => `${n}:${quorum(n).tolerated}`).join(' '),
          observed: rows.map((r) => `${r.members}:${r.measured}`).join(' '),
        });
        const left = await leftovers(ctx, host);
        ctx.check({
          id: 'nothing-left',
          title: `No throwaway etcd process or data left on ${host}`,
          ok: left === '',
          expected: `nothing under ${QT_DIR}`,
          observed: left || 'nothing',
        });
      },
    },
  ],
  cleanup: async (ctx) => {
    const host = (ctx.vars.host as string | undefined) ?? quorumTableHost(ctx.spec);
    if (!host) return;
    // kill by the pid files each start wrote (the scripts' EXIT traps do it too, unless they were killed themselves)
    await ctx
      .command(
        host,
        `for f in ${QT_DIR}/*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done; sleep 0.3; rm -rf ${shq(QT_DIR)}`,
        'remove every throwaway member and its data',
        { allowFail: true, timeoutMs: 30_000 },
      )
      .catch(() => undefined);
    const left = await leftovers(ctx, host).catch(() => '?');
    if (left) ctx.log(`left after the cleanup: ${left}`, host);
  },
};
