// etcd snapshots on each master's snapshot disk (disk B): save, list (with re-verification),
// and the scheduled s6 service. The work happens in the shell of script.ts, ON the master.

import { createHash } from 'node:crypto';
import type { LabSpec } from '../api/types.ts';
import { forEachLimit, type Step, type StepTools } from '../engine/runner.ts';
import { HalabError, toErrorInfo } from '../errors.ts';
import { shjoin, type Remote } from '../exec/types.ts';
import { LOG_DIR, SCAN_DIR, SV_DIR, Supervisor, serviceFiles, type ServiceDef } from '../hosts/supervisor.ts';
import type { LabContext } from '../providers/types.ts';
import { ETCDCTL_BIN, LOCAL_CLIENT_URL, etcdEndpointsStatus } from '../steps/etcd/etcdctl.ts';
import { masterHosts } from '../steps/pki/kubeadm-config.ts';
import { ETCD_TLS } from '../steps/pki/paths.ts';
import { SNAPSHOT_NAME_RE, renderSnapshotScript, type SnapshotScriptOptions } from './script.ts';

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
    error: good ? undefined : (s.error || (s.ok ? 'no status recorded' : 'verification failed')),
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
      out.push({ master, file: '?', sizeBytes: 0, createdAt: '', ageS: 0, status: 'bad', origin: 'unknown',
        error: `unreadable sidecar: ${(err as Error).message}: ${l.slice(0, 120)}` });
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
export async function saveSnapshot(ctx: LabContext, master?: string, o: { signal?: AbortSignal } = {}): Promise<SnapshotInfo> {
  const m = master ?? (await pickMaster(ctx));
  const r = await ctx.remote(m).exec(scriptCommand(snapshotScript(ctx.state.spec, m), ['save', 'manual']), {
    timeoutMs: 400_000, allowFail: true, signal: o.signal,
  });
  const [info] = parseSnapshotList(m, r.stdout);
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
}

/** Every snapshot on every reachable master's disk B, re-verified where the file changed. */
export async function listSnapshotsReport(ctx: LabContext, o: { masters?: string[]; signal?: AbortSignal } = {}): Promise<SnapshotListing> {
  const masters = o.masters ?? masterHosts(ctx.state.spec).map((h) => h.name);
  const snapshots: SnapshotInfo[] = [];
  const unreachable: { master: string; error: string }[] = [];
  await forEachLimit(masters, 3, async (m) => {
    try {
      if (!(await ctx.provider.isPoweredOn(ctx.state, m))) throw new HalabError('POWERED_OFF', `${m} is powered off`);
      const r = await ctx.remote(m).exec(scriptCommand(snapshotScript(ctx.state.spec, m), ['list']), { timeoutMs: 120_000, signal: o.signal });
      snapshots.push(...parseSnapshotList(m, r.stdout));
    } catch (err) {
      unreachable.push({ master: m, error: toErrorInfo(err).message });
    }
  });
  snapshots.sort((a, b) => a.master.localeCompare(b.master) || a.createdAt.localeCompare(b.createdAt) || a.file.localeCompare(b.file));
  return { snapshots, unreachable };
}

/** Like listSnapshotsReport, but any master that cannot be read is an error. */
export async function listSnapshots(ctx: LabContext, o: { masters?: string[]; signal?: AbortSignal } = {}): Promise<SnapshotInfo[]> {
  const r = await listSnapshotsReport(ctx, o);
  if (r.unreachable.length) {
    throw new HalabError('SNAPSHOT_LIST', `cannot list the snapshots of ${r.unreachable.map((u) => u.master).join(', ')}`, {
      details: r.unreachable.map((u) => `${u.master}: ${u.error}`).join('\n'),
      fix: 'use listSnapshotsReport to get the others anyway',
    });
  }
  return r.snapshots;
}

// ---------------------------------------------------------------------------------------------
// The schedule: an s6 service per master
// ---------------------------------------------------------------------------------------------

export function snapshotServiceDef(): ServiceDef {
  return {
    name: SNAPSHOT_SERVICE,
    command: ['/bin/sh', SNAPSHOT_SCRIPT_PATH, 'loop'],
  };
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const EMPTY_SHA = sha('');

export interface ScheduleState { script?: string; definedRun?: string; liveRun?: string; up: boolean }

export function scheduleStateScript(): string {
  const live = `${SCAN_DIR}/${SNAPSHOT_SERVICE}`;
  return [
    `echo "script $(sha256sum < ${SNAPSHOT_SCRIPT_PATH} 2>/dev/null | cut -c1-64)"`,
    `echo "defined $( [ -f ${SV_DIR}/${SNAPSHOT_SERVICE}/run ] && sha256sum < ${SV_DIR}/${SNAPSHOT_SERVICE}/run | cut -c1-64)"`,
    `echo "live $( [ -f ${live}/run ] && sha256sum < ${live}/run | cut -c1-64)"`,
    `echo "svstat $(s6-svstat -o up ${live} 2>/dev/null)"`,
  ].join('\n');
}

export function parseScheduleState(text: string): ScheduleState {
  const get = (k: string) => new RegExp(`^${k} ?(.*)$`, 'm').exec(text)?.[1]?.trim() ?? '';
  const h = (v: string) => (/^[0-9a-f]{64}$/.test(v) && v !== EMPTY_SHA ? v : undefined);
  return { script: h(get('script')), definedRun: h(get('defined')), liveRun: h(get('live')), up: get('svstat') === 'true' };
}

function serviceRunSha(): string {
  const run = serviceFiles(snapshotServiceDef()).find((f) => f.path.endsWith(`/${SNAPSHOT_SERVICE}/run`));
  return sha(run?.content ?? '');
}

async function scheduleState(remote: Remote): Promise<ScheduleState> {
  return parseScheduleState((await remote.exec(scheduleStateScript(), { timeoutMs: 15_000 })).stdout);
}

/** Shell that removes the service (intervalS = 0): stop it, take it out of the scan dir, forget it. */
export function removeServiceScript(name: string): string {
  const live = `${SCAN_DIR}/${name}`;
  const gone = `${SCAN_DIR}/.${name}.removed`;
  return [
    `rm -rf ${SV_DIR}/${name}`,
    `if [ -d ${live} ]; then`,
    `  rm -rf ${gone} && mv ${live} ${gone}`,
    `  s6-svc -dx ${gone} 2>/dev/null; s6-svc -dx ${gone}/log 2>/dev/null`,
    `  s6-svwait -D -t 10000 ${gone} 2>/dev/null; sleep 1`,
    `  rm -rf ${gone}`,
    `  s6-svscanctl -a ${SCAN_DIR}`,
    `fi`,
    `rm -f ${SNAPSHOT_SCRIPT_PATH}`,
  ].join('\n');
}

export async function scheduleConverged(ctx: LabContext): Promise<boolean> {
  const spec = ctx.state.spec;
  for (const m of masterHosts(spec)) {
    const s = await scheduleState(ctx.remote(m.name));
    if (spec.snapshots.intervalS === 0) {
      if (s.definedRun || s.liveRun) return false;
      continue;
    }
    const run = serviceRunSha();
    if (s.script !== sha(snapshotScript(spec, m.name)) || s.definedRun !== run || s.liveRun !== run || !s.up) return false;
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
    const remote = ctx.remote(m.name);
    const s = await scheduleState(remote);
    if (spec.snapshots.intervalS === 0) {
      if (s.definedRun || s.liveRun || s.script) {
        t.log('snapshot schedule disabled (intervalS = 0): removing the etcd-snapshot service', { host: m.name });
        await remote.exec(removeServiceScript(SNAPSHOT_SERVICE), { timeoutMs: 30_000 });
      }
      return;
    }
    const script = snapshotScript(spec, m.name);
    const scriptChanged = s.script !== sha(script);
    if (scriptChanged) {
      await remote.exec(`mkdir -p ${SNAPSHOT_SCRIPT_PATH.replace(/\/[^/]+$/, '')} ${LOG_DIR}`, { timeoutMs: 15_000 });
      await remote.upload(SNAPSHOT_SCRIPT_PATH, script, 0o755);
    }
    const run = serviceRunSha();
    const sup = new Supervisor(remote);
    if (s.definedRun !== run || s.liveRun !== run) {
      t.log(`etcd-snapshot: every ${spec.snapshots.intervalS} s, keeping ${spec.snapshots.retain} good snapshots`, { host: m.name });
      await sup.install(snapshotServiceDef(), { restart: !!s.liveRun });
      if (s.liveRun && !s.up) await sup.start(SNAPSHOT_SERVICE);
    } else if (scriptChanged && s.up) {
      t.log('etcd-snapshot: script changed, restarting the loop', { host: m.name });
      await sup.restart(SNAPSHOT_SERVICE);
    } else if (!s.up) {
      await sup.start(SNAPSHOT_SERVICE);
    }
  });
}

export function snapshotSteps(_spec: LabSpec): Step<LabContext>[] {
  return [
    {
      id: 'snapshots:schedule',
      title: 'Schedule etcd snapshots onto every master\'s snapshot disk (s6 service etcd-snapshot)',
      done: async (ctx) => scheduleConverged(ctx),
      run: async (ctx, t) => installSchedule(ctx, t),
    },
  ];
}

