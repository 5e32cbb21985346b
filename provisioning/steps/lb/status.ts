// What the load-balancer layer looks like right now, read over SSH from every LB: who holds the
// VIP, keepalived's VRRP state, and HAProxy's view of the apiservers. Used by the readiness gates,
// by `halab status` and by the drills.

import { HalabError } from '../../errors.ts';
import { hostProblem } from '../../hosts/host-errors.ts';
import type { LabContext } from '../../providers/types.ts';
import { BACKEND_NAME, LB_INTERFACE, LB_PATHS, lbNodes } from './model.ts';
import { poll } from '../../util/poll.ts';

// ---------------------------------------------------------------------------------------------
// HAProxy: `show servers state` and `show stat` over the admin socket
// ---------------------------------------------------------------------------------------------

/** srv_op_state (HAProxy enum srv_state). */
export const SRV_OP = { STOPPED: 0, STARTING: 1, RUNNING: 2, STOPPING: 3 } as const;
/** srv_check_result (HAProxy enum chk_result). */
export const CHK_RES = { UNKNOWN: 0, NEUTRAL: 1, FAILED: 2, PASSED: 3, CONDPASS: 4 } as const;

export interface ServerState {
  backend: string;
  server: string;
  address: string;
  /** srv_op_state: 2 = running. */
  opState: number;
  /** srv_admin_state: 0 = no maintenance or drain flag. */
  adminState: number;
  /** srv_check_result: 3 = the last check passed. */
  checkResult: number;
  /** srv_check_health: the rise/fall counter (>= rise while up). */
  checkHealth: number;
}

/**
 * A server is UP when it is running, not in maintenance or drain, AND its last health check
 * passed. HAProxy starts every server as running before its first check (srv_op_state 2 with
 * srv_check_result 0 = "unknown"), so op_state alone proves nothing.
 */
export function isServerUp(s: ServerState): boolean {
  return s.opState === SRV_OP.RUNNING && s.adminState === 0 && s.checkResult === CHK_RES.PASSED;
}

/**
 * Parse `show servers state [backend]` (format version 1):
 *   1
 *   # be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight
 *     srv_time_since_last_change srv_check_status srv_check_result srv_check_health ...
 *   3 apiservers 1 m1 10.213.0.21 2 0 1 1 5 15 3 3 6 0 0 0 - 6443 - 0 0 - - 0
 * Columns are located by the header line, not by position.
 */
export function parseServersState(text: string): ServerState[] {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const header = lines.find((l) => l.startsWith('#'));
  if (!header) return [];
  const cols = header.replace(/^#\s*/, '').split(/\s+/);
  const at = (name: string) => {
    const i = cols.indexOf(name);
    if (i < 0)
      throw new HalabError('LB_PARSE', `HAProxy "show servers state" has no column ${name}`, { details: header });
    return i;
  };
  const idx = {
    be: at('be_name'),
    srv: at('srv_name'),
    addr: at('srv_addr'),
    op: at('srv_op_state'),
    admin: at('srv_admin_state'),
    result: at('srv_check_result'),
    health: at('srv_check_health'),
  };
  const out: ServerState[] = [];
  for (const l of lines) {
    if (l.startsWith('#') || /^\d+$/.test(l)) continue; // header, format version
    const f = l.split(/\s+/);
    if (f.length < cols.length) continue;
    out.push({
      backend: f[idx.be] as string,
      server: f[idx.srv] as string,
      address: f[idx.addr] as string,
      opState: Number(f[idx.op]),
      adminState: Number(f[idx.admin]),
      checkResult: Number(f[idx.result]),
      checkHealth: Number(f[idx.health]),
    });
  }
  return out;
}

export interface StatRow {
  proxy: string;
  server: string;
  /** "UP", "DOWN", "UP 1/2" (going down), "DOWN 1/2" (going up), "MAINT", "no check"... */
  status: string;
  /** "L7OK", "L4CON", "L7STS", "INI" (no check yet)... */
  checkStatus: string;
  checkCode: string;
  /** The last check's description, e.g. "Connection refused". */
  lastCheck: string;
}

/** Parse `show stat` CSV (the "# pxname,svname,..." header names the columns). */
export function parseStatCsv(text: string): StatRow[] {
  const lines = text.split('\n').filter((l) => l.trim());
  const header = lines.find((l) => l.startsWith('# '));
  if (!header) return [];
  const cols = header.slice(2).split(',');
  const i = (n: string) => cols.indexOf(n);
  const get = (f: string[], n: string) => (i(n) >= 0 ? (f[i(n)] ?? '') : '');
  return lines
    .filter((l) => !l.startsWith('#'))
    .map((l) => {
      const f = l.split(',');
      return {
        proxy: get(f, 'pxname'),
        server: get(f, 'svname'),
        status: get(f, 'status'),
        checkStatus: get(f, 'check_status'),
        checkCode: get(f, 'check_code'),
        lastCheck: get(f, 'last_chk'),
      };
    });
}

export interface BackendStatus {
  server: string;
  up: boolean;
  /** e.g. "L7OK 200", "L4CON: Connection refused", "INI" (not checked yet). */
  lastCheck?: string;
}

function describeCheck(row: StatRow | undefined): string | undefined {
  if (!row?.checkStatus) return undefined;
  return `${row.checkStatus}${row.checkCode ? ` ${row.checkCode}` : ''}${row.lastCheck ? `: ${row.lastCheck}` : ''}`;
}

/** Merge the two views: `up` from the server state, `lastCheck` from the stats. */
export function backendStatuses(serversState: string, statCsv: string, backend = BACKEND_NAME): BackendStatus[] {
  const stats = parseStatCsv(statCsv).filter((r) => r.proxy === backend);
  return parseServersState(serversState)
    .filter((s) => s.backend === backend)
    .map((s) => ({
      server: s.server,
      up: isServerUp(s),
      lastCheck: describeCheck(stats.find((r) => r.server === s.server)),
    }));
}

const STAT_MARK = '@@halab-stat@@';

function adminScript(): string {
  const sock = LB_PATHS.adminSocket;
  return [
    `test -S ${sock} || { echo "no HAProxy admin socket at ${sock}" >&2; exit 3; }`,
    `echo "show servers state ${BACKEND_NAME}" | socat -t 2 - UNIX-CONNECT:${sock}`,
    `echo ${STAT_MARK}`,
    `echo "show stat" | socat -t 2 - UNIX-CONNECT:${sock}`,
  ].join('\n');
}

/** HAProxy's view of the apiservers on one LB. Throws when HAProxy cannot be asked. */
export async function haproxyBackends(ctx: LabContext, lb: string): Promise<BackendStatus[]> {
  const r = await ctx.remote(lb).exec(adminScript(), { timeoutMs: 10_000, allowFail: true });
  if (r.exitCode !== 0) {
    throw new HalabError('LB_HAPROXY_UNREACHABLE', `cannot read HAProxy's backend states on ${lb}`, {
      details: `${r.stderr}${r.stdout}`.trim() || undefined,
      fix: `see /var/log/halab/haproxy/current on ${lb} (\`halab ssh ${lb}\`)`,
    });
  }
  const [state = '', stat = ''] = r.stdout.split(`${STAT_MARK}\n`);
  return backendStatuses(state, stat);
}

/** One LB's view of the apiservers; an LB whose HAProxy cannot be asked has none, and the error. */
export interface LbView {
  lb: string;
  backends: BackendStatus[];
  error?: string;
}

/** Every load balancer's HAProxy view, read at the same moment (one SSH round trip per LB). */
export async function haproxyViews(ctx: LabContext): Promise<LbView[]> {
  return Promise.all(
    lbNodes(ctx.state.spec).map(async ({ name: lb }) => {
      try {
        return { lb, backends: await haproxyBackends(ctx, lb) };
      } catch (err) {
        return { lb, backends: [], error: hostProblem(lb, err, { timeoutMs: 10_000, what: "reading HAProxy's view" }) };
      }
    }),
  );
}

/** "lb1: m1 UP m2 DOWN; lb2: ..." (with each last check when `checks`), for checks and errors. */
export function describeViews(views: LbView[], o: { checks?: boolean; sep?: string } = {}): string {
  return views
    .map(
      ({ lb, backends, error }) =>
        `${lb}: ${
          error ??
          (backends
            .map((b) => `${b.server} ${b.up ? 'UP' : 'DOWN'}${o.checks && b.lastCheck ? ` (${b.lastCheck})` : ''}`)
            .join(o.checks ? ', ' : ' ') ||
            'no servers')
        }`,
    )
    .join(o.sep ?? '; ');
}

/**
 * Gate for the control plane: resolves once EVERY load balancer's HAProxy sees at least
 * `expected` apiservers UP (running and last check passed, see isServerUp), with the views that
 * showed it (one read of each LB, at the same moment); throws a HalabError with every LB's view
 * in `details` after `timeoutMs`.
 */
export async function waitBackendsUp(
  ctx: LabContext,
  expected: number,
  timeoutMs: number,
  opts: { signal?: AbortSignal; intervalMs?: number } = {},
): Promise<Record<string, BackendStatus[]>> {
  let views: LbView[] = [];
  const enough = () => views.every((v) => !v.error && v.backends.filter((b) => b.up).length >= expected);
  try {
    await poll({
      what: 'the apiservers UP behind every HAProxy',
      check: async () => {
        views = await haproxyViews(ctx);
        return enough();
      },
      timeoutMs,
      intervalMs: opts.intervalMs ?? 250,
      signal: opts.signal,
    });
    return Object.fromEntries(views.map((v) => [v.lb, v.backends]));
  } catch (err) {
    if (!(err instanceof HalabError) || err.code !== 'TIMEOUT') throw err;
  }
  const details = describeViews(views, { checks: true, sep: '\n' });
  throw new HalabError(
    'LB_BACKENDS_DOWN',
    `HAProxy does not see ${expected} apiserver(s) UP on every load balancer after ${Math.round(timeoutMs / 1000)} s`,
    {
      details,
      fix: `check an apiserver from an LB: curl --cacert ${LB_PATHS.caFile} https://<master>:6443/readyz (its certificate must carry the DNS name "kubernetes")`,
    },
  );
}

// ---------------------------------------------------------------------------------------------
// keepalived / VIP
// ---------------------------------------------------------------------------------------------

export type VrrpStateName = 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP';

export interface VrrpEvent {
  /** Seconds since the epoch, microsecond resolution (the host's clock). */
  at: number;
  host: string;
  state: VrrpStateName;
}

/** Lines "EPOCHREALTIME host STATE" written by the notify script. */
export function parseVrrpEvents(text: string): VrrpEvent[] {
  const out: VrrpEvent[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+(?:[.,]\d+)?)\s+(\S+)\s+(MASTER|BACKUP|FAULT|STOP)\b/.exec(line.trim());
    if (m)
      out.push({ at: Number((m[1] as string).replace(',', '.')), host: m[2] as string, state: m[3] as VrrpStateName });
  }
  return out;
}

export interface VrrpStatus {
  lb: string;
  /** false: SSH to the LB failed (powered off?); every other field is then unknown. */
  reachable: boolean;
  error?: string;
  /** keepalived's processes on the LB: running, frozen (SIGSTOP), or none. */
  process: 'running' | 'frozen' | 'absent' | 'unknown';
  /**
   * The last state the running keepalived reported through its notify script; undefined when
   * it is not running or has not reported yet. A frozen process keeps its last state.
   */
  state?: VrrpStateName;
  /** When that state was entered (epoch seconds). */
  since?: number;
  /** The VIP is configured on the LB's eth0 (a crashed MASTER keeps a stale one: keepalived killed without cleanup leaves the address). */
  hasVip: boolean;
}

const MARK = '@@halab@@';

/** One SSH command: eth0's addresses, keepalived's processes, the notify log, the host's clock (read with the uptime). */
export function lbProbeScript(): string {
  return [
    `ip -4 -o addr show dev ${LB_INTERFACE}`,
    `echo ${MARK}`,
    // the host has its own PID namespace: pidof sees this LB's keepalived only
    // "pid state seconds-since-start" (10 ms resolution: /proc/uptime and the start time in ticks)
    `now=$(date +%s.%N); up=$(cut -d' ' -f1 /proc/uptime); tck=$(getconf CLK_TCK)`,
    `for p in $(pidof keepalived); do`,
    `  st=$(awk '/^State:/{print $2}' /proc/$p/status 2>/dev/null); t=$(awk '{print $22}' /proc/$p/stat 2>/dev/null)`,
    `  [ -n "$st" ] && [ -n "$t" ] && awk -v p=$p -v s=$st -v u=$up -v t=$t -v k=$tck 'BEGIN{printf "%s %s %.2f\\n", p, s, u - t / k}'`,
    `done`,
    `echo ${MARK}`,
    `tail -n 50 ${LB_PATHS.vrrpEventsLog} 2>/dev/null`,
    `echo ${MARK}`,
    'echo $now',
  ].join('\n');
}

export function hasAddress(ipAddrOutput: string, address: string): boolean {
  return ipAddrOutput
    .split('\n')
    .some((l) => new RegExp(`\\sinet ${address.replace(/\./g, '\\.')}/\\d+\\s`).test(`${l} `));
}

/** Pure part of vrrpStates (tested on captured output). */
export function parseLbProbe(lb: string, vip: string, stdout: string): VrrpStatus {
  const [addrs = '', procs = '', events = '', now = ''] = stdout.split(`${MARK}\n`);
  const ps = procs
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 3 && /^\d+$/.test(f[0] as string))
    .map(([, st, et]) => ({ state: st as string, elapsed: Number(et) }))
    .filter((p) => p.state !== 'Z' && p.state !== 'X');
  const process: VrrpStatus['process'] =
    ps.length === 0 ? 'absent' : ps.some((p) => p.state === 'T' || p.state === 't') ? 'frozen' : 'running';
  const status: VrrpStatus = { lb, reachable: true, process, hasVip: hasAddress(addrs, vip) };
  if (process === 'absent') return status;
  // only what this very process reported counts: it started `elapsed` s ago (10 ms resolution)
  const startedAt = Number(now.trim()) - Math.max(...ps.map((p) => p.elapsed)) - 0.2;
  const last = parseVrrpEvents(events)
    .filter((e) => e.host === lb)
    .pop();
  if (last && last.at >= startedAt) {
    status.state = last.state;
    status.since = last.at;
  }
  return status;
}

/** keepalived's state on every LB (in spec order). Never throws for an unreachable LB. */
export async function vrrpStates(ctx: LabContext): Promise<VrrpStatus[]> {
  const vip = ctx.state.spec.vip;
  return Promise.all(
    lbNodes(ctx.state.spec).map(async ({ name }): Promise<VrrpStatus> => {
      try {
        const r = await ctx.remote(name).exec(lbProbeScript(), { timeoutMs: 10_000 });
        return parseLbProbe(name, vip, r.stdout);
      } catch (err) {
        return {
          lb: name,
          reachable: false,
          error: hostProblem(name, err, { timeoutMs: 10_000, what: "reading keepalived's state" }),
          process: 'unknown',
          hasVip: false,
        };
      }
    }),
  );
}

/**
 * Who has the VIP, from every LB's state (pure):
 *  - `holders`: every reachable LB with the VIP on its interface (spec order);
 *  - `stale`: those of them whose keepalived is not running as MASTER (killed without cleanup or
 *    frozen: the address stays, and the host's kernel still answers ARP for it);
 *  - `splitBrain`: more than one live keepalived MASTER holds it (they cannot hear each other);
 *  - `holder`: THE holder: the only one, or the only live one among several; undefined when no
 *    LB has it or when several live ones do (split brain).
 */
export interface VipView {
  holders: string[];
  holder?: string;
  splitBrain: boolean;
  stale: string[];
}

export function vipView(states: VrrpStatus[]): VipView {
  const holders = states.filter((s) => s.reachable && s.hasVip);
  const live = holders.filter((s) => s.process === 'running' && (s.state === 'MASTER' || s.state === undefined));
  const stale = holders.filter((s) => !live.includes(s)).map((s) => s.lb);
  const holder = holders.length === 1 ? holders[0]!.lb : live.length === 1 ? live[0]!.lb : undefined;
  return { holders: holders.map((s) => s.lb), holder, splitBrain: live.length > 1, stale };
}

/** "lb1", "lb1 AND lb2 (split brain)", "lb2 (stale on lb1: its keepalived is not running)", "no LB". */
export function describeVip(v: VipView): string {
  if (v.holders.length === 0) return 'no load balancer';
  if (v.splitBrain) return `${v.holders.join(' AND ')} (split brain)`;
  const stale = v.stale.filter((x) => x !== v.holder);
  const staleText = stale.length
    ? ` (a stale copy on ${stale.join(', ')}: its keepalived is not running as MASTER, its kernel still answers ARP for it)`
    : '';
  return `${v.holder ?? v.holders.join(' AND ')}${staleText}`;
}

/** Every reachable LB that has the VIP on its eth0 (more than one = a stale VIP or split brain). */
export async function vipHolders(ctx: LabContext): Promise<string[]> {
  return vipView(await vrrpStates(ctx)).holders;
}

/**
 * THE LB that holds the VIP (see vipView): undefined if none does or if several live ones do
 * (split brain). A crashed MASTER's stale copy does not count when a live one exists.
 */
export async function vipHolder(ctx: LabContext): Promise<string | undefined> {
  return vipView(await vrrpStates(ctx)).holder;
}
