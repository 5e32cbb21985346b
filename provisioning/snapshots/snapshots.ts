// etcd snapshots on each master's snapshot disk (disk B): save, list (with re-verification),
// and the scheduled service. The work happens in the shell of script.ts, ON the master.

import type { LabSpec } from '../api/types.ts';
import { forEachLimit, type Step, type StepTools } from '../engine/runner.ts';
import { HalabError } from '../errors.ts';
import { hostProblem } from '../hosts/host-errors.ts';
import { shjoin } from '../exec/types.ts';
import type { ServiceDef } from '../hosts/services.ts';
import type { LabContext } from '../providers/types.ts';
import { ETCDCTL_BIN, LOCAL_CLIENT_URL, etcdEndpointsStatus } from '../steps/etcd/etcdctl.ts';
import { ETCD_TLS } from '../steps/pki/paths.ts';
import { SNAPSHOT_NAME_RE, renderSnapshotScript, type SnapshotScriptOptions } from './script.ts';
import { masterHosts } from '../spec/roles.ts';

/** Disk B's mountpoint on a master. */
export const SNAPSHOT_DIR = '/var/lib/etcd-snapshots';
export const SNAPSHOT_SERVICE = 'etcd-snapshot';
/** Where the service's copy of the script lives on each master. */
export const SNAPSHOT_SCRIPT_PATH = '/etc/halab/etcd-snapshot.sh';

export function snapshotScriptOptions(spec: LabSpec, master: string): SnapshotScriptOptions {
  return {
    master,
    dir: SNAPSHOT_DIR,
    intervalS: spec.snapshots.intervalS,
    retain: spec.snapshots.retain,
    etcdctl: ETCDCTL_BIN,
    endpoint: LOCAL_CLIENT_URL,
    cacert: ETCD_TLS.ca,
    cert: ETCD_TLS.clientCert,
    key: ETCD_TLS.clientKey,
  };
}

export function snapshotScript(spec: LabSpec, master: string): string {
  return renderSnapshotScript(snapshotScriptOptions(spec, master));
}

/** The command line that runs one script command ad hoc (the script travels as sh -c's argument). */
export function scriptCommand(script: string, args: string[]): string {
  return shjoin(['/bin/sh', '-c', script, SNAPSHOT_SERVICE, ...args]);
}

// ---------------------------------------------------------------------------------------------
// Sidecars and the listing
// ---------------------------------------------------------------------------------------------

/** What the script writes next to each snapshot (<file>.json). */
export interface SnapshotSidecar {
  v: 1;
  file: string;
  master: string;
  origin: 'manual' | 'schedule' | 'unknown' | string;
  createdAt: string;
  sizeBytes: number;
  /** mtime (s.ns) of the file when it was checked: a different one means "check again". */
  mtime: string;
  checkedAt: string;
  ok: boolean;
  status?: { hash: number; revision: number; totalKey: number; totalSize: number };
  /** The cluster's revision a quorum confirmed through this member just before the save. */
  clusterRevision?: number;
  error?: string;
}

export interface SnapshotInfo {
  master: string;
  /** Absolute path on the master. */
  file: string;
  sizeBytes: number;
  createdAt: string;
  ageS: number;
  status: 'good' | 'bad';
  /** etcd's hash of the database (crc32), revision, number of keys, database size. */
  hash?: number;
  revision?: number;
  keys?: number;
  totalSize?: number;
  origin: string;
  checkedAt?: string;
  /**
   * The cluster's revision a quorum confirmed through the member just before the save (the
   * snapshot holds at least that); absent for snapshots saved before HA Lab recorded it.
   */
  clusterRevision?: number;
  /** Revisions between this snapshot and the cluster's current one (set by the listing when etcd answers). */
  behind?: number;
  error?: string;
}

function createdFromName(name: string): string | undefined {
  const m = SNAPSHOT_NAME_RE.exec(name);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z` : undefined;
}

export function sidecarToInfo(master: string, s: SnapshotSidecar, nowMs: number): SnapshotInfo {
  const createdAt = s.createdAt || createdFromName(s.file) || '';
  const t = Date.parse(createdAt);
  const good = s.ok === true && !!s.status;
  return {
    master,
    file: `${SNAPSHOT_DIR}/${s.file}`,
    sizeBytes: Number(s.sizeBytes),
    createdAt,
    ageS: Number.isNaN(t) ? 0 : Math.max(0, Math.round((nowMs - t) / 1000)),
    status: good ? 'good' : 'bad',
    hash: s.status?.hash,
    revision: s.status?.revision,
    keys: s.status?.totalKey,
    totalSize: s.status?.totalSize,
    origin: s.origin || 'unknown',
    checkedAt: s.checkedAt,
    clusterRevision: typeof s.clusterRevision === 'number' ? s.clusterRevision : undefined,
    error: good ? undefined : s.error || (s.ok ? 'no status recorded' : 'verification failed'),
  };
}

/** The output of the script's `list`: one sidecar per line (pure). */
export function parseSnapshotList(master: string, text: string, nowMs: number = Date.now()): SnapshotInfo[] {
  const out: SnapshotInfo[] = [];
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (!l) continue;
    let s: SnapshotSidecar;
    try {
      s = JSON.parse(l) as SnapshotSidecar;
    } catch (err) {
      out.push({
        master,
        file: '?',
        sizeBytes: 0,
        createdAt: '',
        ageS: 0,
        status: 'bad',
        origin: 'unknown',
        error: `unreadable sidecar: ${(err as Error).message}: ${l.slice(0, 120)}`,
      });
      continue;
    }
    if (typeof s.file !== 'string' || !SNAPSHOT_NAME_RE.test(s.file)) continue;
    out.push(sidecarToInfo(master, s, nowMs));
  }
  return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

// ---------------------------------------------------------------------------------------------
// Save / list
// ---------------------------------------------------------------------------------------------

async function pickMaster(ctx: LabContext): Promise<string> {
  const members = await etcdEndpointsStatus(ctx);
  // a follower if possible: the snapshot stream costs the member that serves it
  const healthy = members.filter((m) => m.healthy);
  const pick = healthy.find((m) => !m.isLeader) ?? healthy[0];
  if (!pick) {
    throw new HalabError('ETCD_UNHEALTHY', 'no healthy etcd member to take a snapshot from', {
      details: members.map((m) => `${m.name}: ${m.error ?? 'unhealthy'}`).join('\n'),
    });
  }
  return pick.name;
}

/**
 * Take a snapshot on `master` (default: a healthy follower) into its disk B, verify it and record
 * the sidecar. Returns the verified snapshot; a snapshot that was written but fails verification
 * is returned with status 'bad' (and kept on disk for inspection). Throws when etcdctl cannot
 * save at all (etcd down, disk B missing).
 */
export async function saveSnapshot(
  ctx: LabContext,
  master?: string,
  o: { signal?: AbortSignal } = {},
): Promise<SnapshotInfo> {
  const m = master ?? (await pickMaster(ctx));
  const r = await ctx.remote(m).exec(scriptCommand(snapshotScript(ctx.state.spec, m), ['save', 'manual']), {
    timeoutMs: 400_000,
    allowFail: true,
    signal: o.signal,
  });
  const [info] = parseSnapshotList(m, r.stdout);
  if (!info && r.exitCode === 3) {
    throw new HalabError(
      'SNAPSHOT_NO_QUORUM',
      `${m}'s etcd member is not part of a quorum: no snapshot taken from it`,
      {
        details: r.stderr.trim() || undefined,
        fix: `a member cut off from the others still answers with what it had, so its snapshot could be behind the cluster; take it from another master (\`halab snapshot save\` picks a healthy one) or heal ${m} first`,
      },
    );
  }
  if (!info) {
    throw new HalabError('SNAPSHOT_FAILED', `etcd snapshot on ${m} failed`, {
      details: r.stderr.trim() || r.stdout.trim() || `exit code ${r.exitCode}`,
      fix: `check etcd on ${m} (halab status) and that ${SNAPSHOT_DIR} is mounted`,
    });
  }
  return info;
}

export interface SnapshotListing {
  snapshots: SnapshotInfo[];
  /** Masters whose disk B could not be read (powered off, unreachable). */
  unreachable: { master: string; error: string }[];
  /** The cluster's current revision (the highest a healthy member reports); undefined when etcd does not answer. */
  clusterRevision?: number;
}

/**
 * Every snapshot on every reachable master's disk B, re-verified where the file changed, each
 * with how many revisions it is behind the cluster's current one (`clusterRevision`: false skips
 * asking etcd, for a caller that knows the revision already).
 */
export async function listSnapshotsReport(
  ctx: LabContext,
  o: { masters?: string[]; signal?: AbortSignal; clusterRevision?: boolean } = {},
): Promise<SnapshotListing> {
  const masters = o.masters ?? masterHosts(ctx.state.spec).map((h) => h.name);
  const snapshots: SnapshotInfo[] = [];
  const unreachable: { master: string; error: string }[] = [];
  const current =
    o.clusterRevision === false
      ? Promise.resolve(undefined)
      : etcdEndpointsStatus(ctx, { signal: o.signal }).then(
          (ms) => Math.max(0, ...ms.filter((x) => x.healthy).map((x) => x.revision ?? 0)) || undefined,
          () => undefined,
        );
  await forEachLimit(masters, 3, async (m) => {
    try {
      if (!(await ctx.provider.isPoweredOn(ctx, m))) throw new HalabError('POWERED_OFF', `${m} is powered off`);
      const r = await ctx
        .remote(m)
        .exec(scriptCommand(snapshotScript(ctx.state.spec, m), ['list']), { timeoutMs: 120_000, signal: o.signal });
      snapshots.push(...parseSnapshotList(m, r.stdout));
    } catch (err) {
      unreachable.push({
        master: m,
        error: hostProblem(m, err, { timeoutMs: 120_000, what: 'listing its snapshots' }),
      });
    }
  });
  const clusterRevision = await current;
  if (clusterRevision !== undefined)
    for (const s of snapshots) if (s.revision !== undefined) s.behind = Math.max(0, clusterRevision - s.revision);
  snapshots.sort(
    (a, b) =>
      a.master.localeCompare(b.master) || a.createdAt.localeCompare(b.createdAt) || a.file.localeCompare(b.file),
  );
  return { snapshots, unreachable, clusterRevision };
}

/** Like listSnapshotsReport, but any master that cannot be read is an error. */
export async function listSnapshots(
  ctx: LabContext,
  o: { masters?: string[]; signal?: AbortSignal } = {},
): Promise<SnapshotInfo[]> {
  const r = await listSnapshotsReport(ctx, o);
  if (r.unreachable.length) {
    throw new HalabError(
      'SNAPSHOT_LIST',
      `cannot list the snapshots of ${r.unreachable.map((u) => u.master).join(', ')}`,
      {
        details: r.unreachable.map((u) => `${u.master}: ${u.error}`).join('\n'),
        fix: 'use listSnapshotsReport to get the others anyway',
      },
    );
  }
  return r.snapshots;
}

// ---------------------------------------------------------------------------------------------
// The schedule: a supervised service per master
// ---------------------------------------------------------------------------------------------

export function snapshotServiceDef(): ServiceDef {
  return {
    name: SNAPSHOT_SERVICE,
    command: ['/bin/sh', SNAPSHOT_SCRIPT_PATH, 'loop'],
  };
}

/** The schedule's service and its one input, the script (pure). */
function scheduleInputs(spec: LabSpec, master: string) {
  return [{ path: SNAPSHOT_SCRIPT_PATH, content: snapshotScript(spec, master), mode: 0o755 }];
}

/** done(): every master runs the current script (or, with intervalS = 0, has no schedule). */
export async function scheduleConverged(ctx: LabContext): Promise<boolean> {
  const spec = ctx.state.spec;
  for (const m of masterHosts(spec)) {
    const c = await ctx.services(m.name).check(snapshotServiceDef(), scheduleInputs(spec, m.name));
    if (spec.snapshots.intervalS === 0 ? c.state !== 'absent' : c.state !== 'current' || !c.up) return false;
  }
  return true;
}

/**
 * Install (or refresh, or remove when intervalS = 0) the etcd-snapshot service on every master.
 * A service that already runs the current script and definition is left alone; a changed script
 * restarts the loop.
 */
export async function installSchedule(ctx: LabContext, t: Pick<StepTools, 'log'>): Promise<void> {
  const spec = ctx.state.spec;
  await forEachLimit(masterHosts(spec), 3, async (m) => {
    const services = ctx.services(m.name);
    if (spec.snapshots.intervalS === 0) {
      if ((await services.check(snapshotServiceDef())).state !== 'absent') {
        t.log('snapshot schedule disabled (intervalS = 0): removing the etcd-snapshot service', { host: m.name });
        await services.remove(SNAPSHOT_SERVICE);
      }
      await ctx.remote(m.name).exec(`rm -f ${SNAPSHOT_SCRIPT_PATH}`);
      return;
    }
    const what = await services.ensure(snapshotServiceDef(), scheduleInputs(spec, m.name));
    if (what !== 'unchanged') {
      t.log(
        `etcd-snapshot ${what}: every ${spec.snapshots.intervalS} s, keeping ${spec.snapshots.retain} good snapshots`,
        {
          host: m.name,
        },
      );
    }
  });
}

export const snapshotSchedule: Step<LabContext> = {
  id: 'snapshots:schedule',
  title: "Schedule etcd snapshots onto every master's snapshot disk (the etcd-snapshot service)",
  done: async (ctx) => scheduleConverged(ctx),
  run: async (ctx, t) => installSchedule(ctx, t),
};
