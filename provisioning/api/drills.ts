// Drill contract: what a drill is, what it predicts, what the probe records, and the events a
// drill run emits (types), and the DrillName schema that checks a name coming in. Shared by the
// drill engine, the CLI, the bridge and the renderer (which imports types only).
import { z } from 'zod';

/**
 * A drill's name as it comes in (IPC, the WebSocket bridge, the CLI): kebab-case words of
 * lower-case letters and digits, the first starting with a letter, at most 40 characters
 * ("master-down", "lb-failover"). It checks the form only: a well-formed name that is not in
 * the catalogue is the drill engine's NO_DRILL, which lists the drills.
 */
export const DrillName = z
  .string()
  .max(40, 'not a drill name (at most 40 characters)')
  .regex(/^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/, 'not a drill name (kebab-case, like master-down)');

export type DrillPhase = 'explain' | 'act' | 'observe' | 'verify' | 'cleanup';

export interface DrillInfo {
  name: string;
  title: string;
  /** The idea it teaches, in two or three sentences (our words, from the HA article). */
  concept: string;
  /** The article section it comes from, e.g. "§4". */
  article: string;
  /** Hosts/roles it needs, e.g. "2 LBs", "3 masters": a drill refuses a lab that lacks them. */
  needs: string;
  steps: { id: string; phase: DrillPhase; title: string }[];
}

/** A figure the drill predicts from the lab's own configuration before it acts. */
export interface Prediction {
  id: string;
  label: string;
  /** Predicted value; unit given by `unit`. */
  value: number;
  unit: 's' | 'ms' | 'count';
  /** How it was computed, with the lab's numbers in it ("3 × 0.2 s + (256−100)/256 × 0.2 s"). */
  formula: string;
  /** Measured value allowed above the prediction before the verdict says "worse than predicted". */
  margin: number;
  /**
   * The lowest value the formula allows (e.g. a node that renewed its lease just before the fault
   * goes NotReady a full grace period later, one that was about to renew sooner). A measurement
   * below it is "better than predicted"; without it, below value − margin is.
   */
  min?: number;
}

export type ProbeKind = 'read' | 'write';

/** One request of the probe through the VIP. ok: true = succeeded, false = failed, null = outcome unknown (timed out). */
export interface ProbeSample {
  /** Start time, ms since the epoch. */
  t: number;
  kind: ProbeKind;
  /** e.g. "GET /readyz", "GET configmap", "PUT configmap". */
  op: string;
  ok: boolean | null;
  latencyMs: number;
  error?: string;
  /** The probe's tick number (a write's seq is the value it wrote into the ConfigMap). */
  seq?: number;
}

export interface ProbeStats {
  kind: ProbeKind;
  requests: number;
  failures: number;
  unknowns: number;
  /** Longest time with no successful request of this kind (ms). */
  longestOutageMs: number;
  /** From the fault mark to the first success after the last failure (ms); 0 if nothing failed. */
  recoveryMs: number;
  p50LatencyMs: number;
  p99LatencyMs: number;
  /** Set when these are the stats of one op (e.g. "GET /readyz") rather than of the whole kind. */
  op?: string;
  /** false: still failing when the probe stopped (recoveryMs then runs to the end). */
  recovered?: boolean;
}

export interface CheckResult {
  id: string;
  title: string;
  ok: boolean;
  expected: string;
  observed: string;
}

export interface Measurement {
  id: string;
  label: string;
  value: number;
  unit: 's' | 'ms' | 'count';
  /** The prediction this compares with, if any. */
  predictionId?: string;
  /** How it was measured ("VIP seen on lb2's eth0, polled every 10 ms on lb2"). */
  how?: string;
  verdict?: 'as predicted' | 'better than predicted' | 'worse than predicted';
}

export interface DrillMark {
  t: number;
  label: string;
  kind: 'fault' | 'recovery' | 'info';
}

export interface DrillResult {
  runId: string;
  drill: string;
  lab: string;
  startedAt: string;
  durationMs: number;
  ok: boolean;
  predictions: Prediction[];
  measurements: Measurement[];
  probe: ProbeStats[];
  checks: CheckResult[];
  marks: DrillMark[];
  /** Commands the drill ran that a user could repeat by hand (etcd-restore's walkthrough). */
  walkthrough: { host: string; command: string; why: string }[];
  error?: string;
  /** Probe stats per op (GET /readyz, GET configmap, GET configmap (cache), PATCH configmap). */
  probeByOp?: ProbeStats[];
  /** The drill's concept and what it acted on, for the report. */
  concept?: string;
  title?: string;
  /** Where the probe ran (a worker) and the window its stats cover (ms since the epoch). */
  probeHost?: string;
  probeWindow?: { from: number; to: number };
}

export type DrillEvent =
  | {
      type: 'drill:start';
      runId: string;
      drill: string;
      lab: string;
      predictions: Prediction[];
      steps: DrillInfo['steps'];
      at: number;
    }
  | {
      type: 'drill:step';
      runId: string;
      stepId: string;
      phase: DrillPhase;
      title: string;
      status: 'start' | 'done' | 'failed' | 'waiting';
      text?: string;
      at: number;
    }
  | { type: 'drill:log'; runId: string; message: string; host?: string; at: number }
  | { type: 'drill:mark'; runId: string; mark: DrillMark }
  | { type: 'drill:samples'; runId: string; samples: ProbeSample[] }
  | { type: 'drill:check'; runId: string; check: CheckResult }
  | { type: 'drill:command'; runId: string; host: string; command: string; why: string }
  | { type: 'drill:end'; runId: string; ok: boolean; result: DrillResult; reportDir?: string; at: number };

export interface ReportInfo {
  runId: string;
  drill: string;
  lab: string;
  startedAt: string;
  ok: boolean;
  /** Files of the report: report.json, report.md, timeline.svg. */
  dir: string;
}
