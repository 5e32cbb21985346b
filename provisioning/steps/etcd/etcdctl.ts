// etcdctl, run ON a master over SSH with the healthcheck-client certificate (kubeadm's probe
// identity), and the parsers of its JSON output.
//
// Why on a master and not from the machine's root namespace (which has the bridge address .1
// and could reach every member): the client certificate then never leaves the hosts, the
// etcdctl used is the one next to the etcd it talks to, and it works the same for a provider
// whose hosts the machine cannot route to (VMs behind NAT). The cost is one SSH round trip on an
// already open connection (a few ms).

import type { LabSpec } from '../../api/types.ts';
import { HalabError, toErrorInfo } from '../../errors.ts';
import type { ExecResult } from '../../exec/types.ts';
import { hostProblem } from '../../hosts/host-errors.ts';
import { shjoin } from '../../exec/types.ts';
import type { LabContext } from '../../providers/types.ts';
import { etcdClientURL } from '../pki/kubeadm-config.ts';
import { ETCD_TLS } from '../pki/paths.ts';
import { masterHosts } from '../../spec/roles.ts';
import { poll } from '../../util/poll.ts';

export const ETCDCTL_BIN = '/usr/bin/etcdctl';
export const LOCAL_CLIENT_URL = 'https://127.0.0.1:2379';

export interface EtcdctlOptions {
  /** Default: the member on the same master (https://127.0.0.1:2379). */
  endpoints?: string[];
  /** etcdctl --dial-timeout / --command-timeout, seconds. */
  dialTimeoutS?: number;
  commandTimeoutS?: number;
  /** SSH command timeout (ms). */
  timeoutMs?: number;
  /** Return non-zero exits instead of throwing. */
  allowFail?: boolean;
  signal?: AbortSignal;
}

/**
 * The shell command line (pure). `args` must not carry --endpoints (pass `endpoints`): etcdctl's
 * --endpoints is a string slice, and a second occurrence appends instead of replacing.
 */
export function etcdctlCommand(
  args: string[],
  o: Pick<EtcdctlOptions, 'endpoints' | 'dialTimeoutS' | 'commandTimeoutS'> = {},
): string {
  if (args.some((a) => a === '--endpoints' || a.startsWith('--endpoints='))) {
    throw new HalabError('ETCDCTL_ARGS', 'pass endpoints through the endpoints option, not as an argument');
  }
  const argv = [
    ETCDCTL_BIN,
    `--endpoints=${(o.endpoints ?? [LOCAL_CLIENT_URL]).join(',')}`,
    `--cacert=${ETCD_TLS.ca}`,
    `--cert=${ETCD_TLS.clientCert}`,
    `--key=${ETCD_TLS.clientKey}`,
    `--dial-timeout=${o.dialTimeoutS ?? 3}s`,
    `--command-timeout=${o.commandTimeoutS ?? 10}s`,
    ...args,
  ];
  return `ETCDCTL_API=3 ${shjoin(argv)}`;
}

/** Run etcdctl on `master`; the whole result (for callers that look at the exit code and stderr). */
export async function etcdctlExec(
  ctx: LabContext,
  master: string,
  args: string[],
  o: EtcdctlOptions = {},
): Promise<ExecResult> {
  return ctx.remote(master).exec(etcdctlCommand(args, o), {
    timeoutMs: o.timeoutMs ?? ((o.commandTimeoutS ?? 10) + (o.dialTimeoutS ?? 3)) * 1000 + 20_000,
    allowFail: o.allowFail,
    signal: o.signal,
  });
}

/** Run etcdctl on `master` with the proper TLS flags; its stdout. Throws on a non-zero exit. */
export async function etcdctl(
  ctx: LabContext,
  master: string,
  args: string[],
  o: Omit<EtcdctlOptions, 'allowFail'> = {},
): Promise<string> {
  return (await etcdctlExec(ctx, master, args, o)).stdout;
}

// ---------------------------------------------------------------------------------------------
// Parsers
// ---------------------------------------------------------------------------------------------

/**
 * JSON.parse that keeps 64-bit integers (member and cluster IDs) exact, as strings: etcdctl prints
 * them as bare numbers, which a double would round (two IDs could compare equal).
 */
export function parseJsonBigInts(text: string): unknown {
  return JSON.parse(text.replace(/([:[,]\s*)(-?\d{16,})(?=\s*[,}\]])/g, '$1"$2"'));
}

const str = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : String(v));
const num = (v: unknown): number | undefined =>
  v === undefined || v === null || v === '' || Number.isNaN(Number(v)) ? undefined : Number(v);

export interface EndpointStatus {
  endpoint: string;
  memberId: string;
  leaderId: string;
  clusterId?: string;
  revision?: number;
  raftTerm?: number;
  raftIndex?: number;
  dbSize?: number;
  dbSizeInUse?: number;
  version?: string;
}

/** `etcdctl endpoint status -w json` (etcd 3.4): [{Endpoint, Status: {header, version, dbSize, leader, ...}}]. */
export function parseEndpointStatus(text: string): EndpointStatus[] {
  const t = text.trim();
  if (!t) return [];
  const arr = parseJsonBigInts(t);
  if (!Array.isArray(arr)) throw new HalabError('ETCDCTL_OUTPUT', 'endpoint status: expected a JSON array');
  return arr.map((e: Record<string, unknown>) => {
    const s = (e.Status ?? {}) as Record<string, unknown>;
    const h = (s.header ?? {}) as Record<string, unknown>;
    return {
      endpoint: String(e.Endpoint ?? ''),
      memberId: str(h.member_id) ?? '',
      leaderId: str(s.leader) ?? '',
      clusterId: str(h.cluster_id),
      revision: num(h.revision),
      raftTerm: num(s.raftTerm ?? h.raft_term),
      raftIndex: num(s.raftIndex),
      dbSize: num(s.dbSize),
      dbSizeInUse: num(s.dbSizeInUse),
      version: str(s.version),
    };
  });
}

export interface EndpointHealth {
  endpoint: string;
  healthy: boolean;
  took?: string;
  error?: string;
}

/** `etcdctl endpoint health -w json` (etcd 3.4): [{endpoint, health, took, error?}]. */
export function parseEndpointHealth(text: string): EndpointHealth[] {
  const t = text.trim();
  if (!t) return [];
  const arr = JSON.parse(t) as unknown;
  if (!Array.isArray(arr)) throw new HalabError('ETCDCTL_OUTPUT', 'endpoint health: expected a JSON array');
  return arr.map((e: Record<string, unknown>) => ({
    endpoint: String(e.endpoint ?? ''),
    healthy: e.health === true || e.health === 'true',
    took: str(e.took),
    error: str(e.error) || undefined,
  }));
}

/** etcdctl's per-endpoint failures on stderr: "Failed to get the status of endpoint URL (why)". */
export function parseStatusErrors(stderr: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of stderr.matchAll(/^Failed to get the status of endpoint (\S+) \((.*)\)\s*$/gm))
    out.set(m[1] as string, m[2] as string);
  return out;
}

export interface EtcdMemberStatus {
  /** The master's name (= the etcd member name). */
  name: string;
  address: string;
  endpoint: string;
  /** `endpoint health`: a linearizable read through this member succeeded. */
  healthy: boolean;
  /** This member says it is the leader. */
  isLeader: boolean;
  memberId?: string;
  leaderId?: string;
  dbSize?: number;
  dbSizeInUse?: number;
  raftTerm?: number;
  raftIndex?: number;
  revision?: number;
  version?: string;
  /** Why it is unhealthy or has no status. */
  error?: string;
}

/** One entry per master, in spec order (pure). */
export function combineMemberStatus(
  spec: LabSpec,
  status: EndpointStatus[],
  health: EndpointHealth[],
  errors: Map<string, string> = new Map(),
  fallbackError?: string,
): EtcdMemberStatus[] {
  return masterHosts(spec).map((m) => {
    const endpoint = etcdClientURL(m.address);
    const s = status.find((x) => x.endpoint === endpoint);
    const h = health.find((x) => x.endpoint === endpoint);
    const healthy = h?.healthy ?? false;
    const error = healthy
      ? undefined
      : (h?.error ?? errors.get(endpoint) ?? (s ? undefined : fallbackError) ?? 'no answer');
    return {
      name: m.name,
      address: m.address,
      endpoint,
      healthy,
      isLeader: !!s && s.memberId !== '' && s.memberId === s.leaderId,
      memberId: s?.memberId,
      leaderId: s?.leaderId || undefined,
      dbSize: s?.dbSize,
      dbSizeInUse: s?.dbSizeInUse,
      raftTerm: s?.raftTerm,
      raftIndex: s?.raftIndex,
      revision: s?.revision,
      version: s?.version,
      error,
    };
  });
}

function lastLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('{"level"'))
      .pop() ?? ''
  );
}

// ---------------------------------------------------------------------------------------------
// Cluster views
// ---------------------------------------------------------------------------------------------

export interface StatusOptions {
  /** Run etcdctl on this master (default: the first master that answers over SSH). */
  via?: string;
  signal?: AbortSignal;
}

/**
 * Status of every member, as seen by etcdctl on one master (status + health, in parallel over
 * one SSH connection). Unreachable members are reported unhealthy with the reason. Throws only
 * when no master can run etcdctl at all.
 */
export async function etcdEndpointsStatus(ctx: LabContext, o: StatusOptions = {}): Promise<EtcdMemberStatus[]> {
  const spec = ctx.state.spec;
  const endpoints = masterHosts(spec).map((m) => etcdClientURL(m.address));
  const candidates = o.via ? [o.via] : masterHosts(spec).map((m) => m.name);
  const failures: string[] = [];
  for (const via of candidates) {
    if (!o.via && !(await ctx.provider.isPoweredOn(ctx, via).catch(() => true))) {
      failures.push(`${via}: powered off`);
      continue;
    }
    try {
      const opts = { endpoints, allowFail: true, dialTimeoutS: 2, commandTimeoutS: 4, signal: o.signal };
      const [st, he] = await Promise.all([
        etcdctlExec(ctx, via, ['endpoint', 'status', '-w', 'json'], opts),
        etcdctlExec(ctx, via, ['endpoint', 'health', '-w', 'json'], opts),
      ]);
      const status = safe(() => parseEndpointStatus(st.stdout), []);
      const health = safe(() => parseEndpointHealth(he.stdout), []);
      return combineMemberStatus(spec, status, health, parseStatusErrors(st.stderr), lastLine(st.stderr) || undefined);
    } catch (err) {
      if (o.via) throw err;
      failures.push(hostProblem(via, err, { timeoutMs: 26_000, what: 'running etcdctl' }));
    }
  }
  throw new HalabError('ETCD_UNREACHABLE', 'no master could run etcdctl', {
    details: failures.join('\n'),
    fix: 'check the masters with `halab status`',
  });
}

function safe<T>(fn: () => T, dflt: T): T {
  try {
    return fn();
  } catch {
    return dflt;
  }
}

/** The leader's name: the member that says it leads, in the highest raft term; undefined if none. */
export function leaderOf(members: EtcdMemberStatus[]): string | undefined {
  return members.filter((m) => m.isLeader).sort((a, b) => (b.raftTerm ?? 0) - (a.raftTerm ?? 0))[0]?.name;
}

export async function etcdLeader(ctx: LabContext, o: StatusOptions = {}): Promise<string | undefined> {
  return leaderOf(await etcdEndpointsStatus(ctx, o));
}

/** Every member healthy and one leader. */
export function clusterHealthy(members: EtcdMemberStatus[]): boolean {
  return members.length > 0 && members.every((m) => m.healthy) && leaderOf(members) !== undefined;
}

/** Wait until every member is healthy and there is a leader. */
export async function waitEtcdHealthy(
  ctx: LabContext,
  o: { timeoutMs?: number; signal?: AbortSignal; log?: (m: string) => void } = {},
): Promise<EtcdMemberStatus[]> {
  const timeoutMs = o.timeoutMs ?? 180_000;
  let last: EtcdMemberStatus[] = [];
  let lastErr = '';
  let lastReport = 0;
  const report = () => {
    if (Date.now() - lastReport < 5000) return;
    lastReport = Date.now();
    const why =
      lastErr ||
      last
        .filter((m) => !m.healthy)
        .map((m) => `${m.name}: ${m.error}`)
        .join('; ');
    o.log?.(
      `etcd: ${last.filter((m) => m.healthy).length}/${masterHosts(ctx.state.spec).length} healthy${why ? ` (${why})` : ''}`,
    );
  };
  try {
    return await poll({
      what: 'etcd healthy',
      check: async () => {
        try {
          last = await etcdEndpointsStatus(ctx, { signal: o.signal });
          lastErr = '';
        } catch (err) {
          lastErr = toErrorInfo(err).message;
        }
        if (clusterHealthy(last)) return last;
        report();
        return undefined;
      },
      timeoutMs,
      intervalMs: 1000,
      signal: o.signal,
    });
  } catch (err) {
    if (!(err instanceof HalabError) || err.code !== 'TIMEOUT') throw err;
    throw new HalabError('ETCD_UNHEALTHY', `etcd did not become healthy within ${Math.round(timeoutMs / 1000)} s`, {
      details: [...last.map((m) => `${m.name}: ${m.healthy ? 'healthy' : `unhealthy: ${m.error}`}`), lastErr]
        .filter(Boolean)
        .join('\n'),
      fix: `see the etcd log on the masters: ${ctx.services(masterHosts(ctx.state.spec)[0]!.name).logPath('etcd')}`,
    });
  }
}
