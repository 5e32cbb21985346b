// Helpers shared by the drills: watchers that run ON a host (so an event is timed where it
// happens, not one SSH round trip later), waiting for the probe, and probe-based checks.

import type { CheckResult, ProbeKind, ProbeSample } from '../../api/drills.ts';
import type { LabSpec } from '../../api/types.ts';
import { HalabError } from '../../errors.ts';
import { shq } from '../../exec/types.ts';
import { hostProblem } from '../../hosts/host-errors.ts';
import { HAPROXY_CONNECT_TIMEOUT_MS } from '../../steps/lb/haproxy.ts';
import { BACKEND_NAME, LB_INTERFACE, LB_PATHS } from '../../steps/lb/model.ts';
import type { DrillContext } from '../engine.ts';
import { probeStats } from '../probe.ts';

export const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** Seconds from the spec timer to a readable number ("0.2", "1"). */
export const n = (v: number) => String(Number(v.toFixed(3)));

/** kube-apiserver's etcd client (k8s.io/apiserver storagebackend/factory/etcd3.go): keepaliveTime, keepaliveTimeout. */
export const ETCD_CLIENT_KEEPALIVE_TIME_S = 30;
export const ETCD_CLIENT_KEEPALIVE_TIMEOUT_S = 10;

/** HAProxy's connect timeout for health checks: min(timeout connect, inter) when "timeout check" is set. */
export function checkConnectTimeoutMs(spec: LabSpec): number {
  return Math.min(HAPROXY_CONNECT_TIMEOUT_MS, spec.timers.haproxyCheckInterMs);
}

export interface Watcher {
  /** Resolves with the time (ms since the epoch, the host's clock) the condition became true; undefined on timeout. */
  result: Promise<number | undefined>;
}

/**
 * Start a loop ON `host` that polls a shell condition every `everyS` seconds and prints the time it
 * first held. The netns hosts share this machine's clock; a VM's clock is kept in sync by the guest.
 */
export function watchOnHost(
  ctx: DrillContext,
  host: string,
  condition: string,
  o: { timeoutS: number; everyS?: number },
): Watcher {
  const script = [
    `end=$(( $(date +%s) + ${Math.ceil(o.timeoutS)} ))`,
    `until ${condition}; do`,
    `  [ "$(date +%s)" -ge "$end" ] && { echo TIMEOUT; exit 0; }`,
    `  sleep ${o.everyS ?? 0.02}`,
    'done',
    'echo "AT $EPOCHREALTIME"',
  ].join('\n');
  const result = ctx.lab
    .remote(host)
    .exec(`bash -c ${shq(script)}`, { timeoutMs: (o.timeoutS + 20) * 1000, allowFail: true })
    .then(
      (r) => {
        const m = /AT (\d+(?:\.\d+)?)/.exec(r.stdout);
        return m ? Math.round(Number(m[1]) * 1000) : undefined;
      },
      (err) => {
        ctx.log(`watcher on ${host} failed: ${hostProblem(host, err, { timeoutMs: (o.timeoutS + 20) * 1000 })}`, host);
        return undefined;
      },
    );
  return { result };
}

/** Shell condition: the VIP is on this LB's interface. */
export function vipPresentCondition(vip: string): string {
  return `ip -4 -o addr show dev ${LB_INTERFACE} | grep -q ${shq(` inet ${vip}/`)}`;
}

/**
 * Shell condition on an LB: HAProxy's server `server` is (`up` true) or is not (false) running
 * with its last check passed (srv_op_state 2 = running; column positions found from the header).
 */
export function haproxyServerCondition(server: string, up: boolean): string {
  const awk = `NR==2{for(i=1;i<=NF;i++)h[$i]=i-1} NR>2 && $(h["srv_name"])=="${server}" {st=$(h["srv_op_state"])} END{exit !(st ${up ? '==' : '!='} 2 && st != "")}`;
  return `echo "show servers state ${BACKEND_NAME}" | socat -t 2 - UNIX-CONNECT:${LB_PATHS.adminSocket} 2>/dev/null | awk ${shq(awk)}`;
}

/** Shell condition on an LB: HAProxy sees no apiserver running (every backend DOWN). */
export function haproxyAllDownCondition(): string {
  const awk =
    'NR==2{for(i=1;i<=NF;i++)h[$i]=i-1} NR>2 && NF>5 {n++; if ($(h["srv_op_state"])==2) up++} END{exit !(n>0 && up==0)}';
  return `echo "show servers state ${BACKEND_NAME}" | socat -t 2 - UNIX-CONNECT:${LB_PATHS.adminSocket} 2>/dev/null | awk ${shq(awk)}`;
}

/** Wait until the probe has answers for requests started at or after `t` (so stats cover it). */
export async function probeCaughtUp(ctx: DrillContext, t: number, timeoutMs = 15_000): Promise<void> {
  if (!ctx.probe) return;
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (ctx.samples().some((x) => x.t >= t)) return;
    await ctx.sleep(200);
  }
}

/** First successful request of a kind (or op) that started at or after `t`. */
export function firstSuccessAfter(
  samples: ProbeSample[],
  kind: ProbeKind,
  t: number,
  op?: string,
): ProbeSample | undefined {
  return samples
    .filter((x) => x.kind === kind && x.t >= t && x.ok === true && (op === undefined || x.op === op))
    .sort((a, b) => a.t - b.t)[0];
}

/** Record the probe's longest outage for a kind against a prediction, and return a check of it. */
export function probeOutageCheck(
  ctx: DrillContext,
  kind: ProbeKind,
  predictionId: string,
  from: number,
  to: number,
  title: string,
): CheckResult {
  const p = ctx.prediction(predictionId);
  const st = probeStats(ctx.samples(), kind, { from, to });
  ctx.measure({
    id: `${kind}-outage`,
    label: `Longest ${kind} outage through the VIP`,
    value: st.longestOutageMs,
    unit: 'ms',
    predictionId,
    how: `probe on ${ctx.probe?.host}: longest stretch without a successful ${kind} (${st.requests} requests, ${st.failures} failed, ${st.unknowns} unknown)`,
  });
  const limit = p.value + p.margin;
  return ctx.check({
    id: `${kind}-outage`,
    title,
    ok: st.requests > 0 && st.longestOutageMs <= limit,
    expected: `no ${kind} outage longer than ${s(limit)} (predicted ${s(p.value)} + margin ${s(p.margin)})`,
    observed: `longest ${s(st.longestOutageMs)}; ${st.requests} ${kind}s, ${st.failures} failed, ${st.unknowns} unknown`,
  });
}

export function requireAt(t: number | undefined, what: string): number {
  if (t === undefined) throw new HalabError('DRILL_OBSERVE', `${what} was not observed`);
  return t;
}
