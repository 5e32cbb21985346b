// A probe that runs INSIDE the cluster, as a pod: a loop of HTTP requests (a Service by its DNS
// name, or the API through kubernetes.default.svc) every few hundred ms, one line per request on
// its stdout. What it saw is read from the container's log file ON its node over SSH, not through
// the API: so it can be read while the control plane is down (that is the point of two drills).
import type { LabContext } from '../engine/context.ts';
import { AGNHOST_IMAGE } from '../artifacts/images.ts';
import { applyManifest, kubectl, kubectlJson } from '../k8s/kubectl.ts';
import { poll } from '../util/poll.ts';

export const POD_PROBE_NS = 'halab-drill-probe';

export interface PodProbeSample {
  /** When the line was written (the runtime's timestamp), ms since the epoch. */
  t: number;
  ok: boolean;
  /** What the server answered (ok) or why not (failed). */
  detail: string;
}

export interface PodProbeOptions {
  /** The pod's name (in POD_PROBE_NS). */
  name: string;
  /** The node it runs on (masters too: it tolerates every taint). */
  node: string;
  /** What each request fetches, e.g. "http://web.ns.svc.cluster.local/hostname". */
  url: string;
  /** Send the pod's service-account token (for the API). */
  bearer?: boolean;
  /** Pause between requests, ms (default 200). */
  intervalMs?: number;
  /** A request that takes longer fails, s (default 2). */
  timeoutS?: number;
}

/**
 * The loop (pure): busybox's `wget` under `timeout` (its own -T crashes), "ok <answer>" or
 * "fail <error>" per line.
 */
export function podProbeScript(o: PodProbeOptions): string {
  const auth = o.bearer
    ? `--no-check-certificate --header "Authorization: Bearer $(cat /var/run/secrets/kubernetes.io/serviceaccount/token)"`
    : '';
  const sleepS = (o.intervalMs ?? 200) / 1000;
  return [
    'while true; do',
    `  if r=$(timeout ${o.timeoutS ?? 2} wget -qO- ${auth} '${o.url}' 2>&1); then echo "ok $(echo $r | head -c 80)"; else echo "fail $(echo $r | head -c 80)"; fi`,
    `  sleep ${sleepS}`,
    'done',
  ].join('\n');
}

export function podProbeManifest(o: PodProbeOptions): unknown {
  return {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: POD_PROBE_NS, labels: { 'halab.dev/drill': 'probe' } } },
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: o.name, namespace: POD_PROBE_NS, labels: { app: 'halab-pod-probe' } },
        spec: {
          nodeName: o.node,
          tolerations: [{ operator: 'Exists' }],
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'probe', image: AGNHOST_IMAGE, command: ['/bin/sh', '-c', podProbeScript(o)] }],
        },
      },
    ],
  };
}

/** Parse a CRI log file ("<RFC3339Nano> stdout F <line>") into samples (pure). */
export function parsePodProbeLog(text: string): PodProbeSample[] {
  const out: PodProbeSample[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\S+) stdout [FP] (ok|fail) ?(.*)$/.exec(line);
    if (!m) continue;
    const t = Date.parse(m[1]!);
    if (Number.isFinite(t)) out.push({ t, ok: m[2] === 'ok', detail: m[3] ?? '' });
  }
  return out;
}

export interface PodProbe {
  readonly options: PodProbeOptions;
  /** Every sample so far, read from the node (works without the API). */
  samples(): Promise<PodProbeSample[]>;
  /** Delete the pod (and its namespace when `last`). */
  stop(o?: { last?: boolean }): Promise<void>;
}

/** Start the pod and wait until it has answered once. Errors: DRILL_TIMEOUT-like TIMEOUT after 90 s. */
export async function startPodProbe(lab: LabContext, o: PodProbeOptions, signal?: AbortSignal): Promise<PodProbe> {
  await applyManifest(lab, JSON.stringify(podProbeManifest(o)));
  const probe: PodProbe = {
    options: o,
    async samples() {
      const r = await lab.remote(o.node).exec(`cat /var/log/pods/${POD_PROBE_NS}_${o.name}_*/probe/*.log 2>/dev/null`, {
        allowFail: true,
        timeoutMs: 15_000,
      });
      return parsePodProbeLog(r.stdout);
    },
    async stop(s = {}) {
      await kubectl(lab, ['-n', POD_PROBE_NS, 'delete', 'pod', o.name, '--ignore-not-found', '--wait=false'], {
        allowFail: true,
      });
      if (s.last) {
        await kubectl(lab, ['delete', 'namespace', POD_PROBE_NS, '--ignore-not-found', '--wait=false'], {
          allowFail: true,
        });
      }
    },
  };
  await poll({
    what: `the probe pod ${o.name} on ${o.node} answering`,
    check: async () => (await probe.samples()).some((s) => s.ok),
    timeoutMs: 90_000,
    intervalMs: 500,
    signal,
    detail: () => undefined,
    fix: `kubectl -n ${POD_PROBE_NS} describe pod ${o.name}`,
  });
  return probe;
}

export interface PodProbeStats {
  requests: number;
  failures: number;
  /** Longest time without a successful answer, ms (from the first sample in the window). */
  longestGapMs: number;
  /** The last failure in the window, ms since the epoch. */
  lastFailure?: number;
}

/** Figures of the samples in [from, to] (pure). */
export function podProbeStats(samples: PodProbeSample[], from: number, to: number): PodProbeStats {
  const w = samples.filter((s) => s.t >= from && s.t <= to);
  let lastOk = w[0]?.t ?? from;
  let gap = 0;
  let lastFailure: number | undefined;
  for (const s of w) {
    if (s.ok) {
      gap = Math.max(gap, s.t - lastOk);
      lastOk = s.t;
    } else lastFailure = s.t;
  }
  if (w.length) gap = Math.max(gap, (w.at(-1)!.ok ? w.at(-1)!.t : to) - lastOk);
  return { requests: w.length, failures: w.filter((s) => !s.ok).length, longestGapMs: gap, lastFailure };
}

/** The pod's phase through the API (for the drills' preflight); undefined when the API does not answer. */
export async function podPhase(lab: LabContext, name: string): Promise<string | undefined> {
  const p = await kubectlJson<{ status?: { phase?: string } }>(lab, ['-n', POD_PROBE_NS, 'get', 'pod', name]).catch(
    () => undefined,
  );
  return p?.status?.phase;
}
