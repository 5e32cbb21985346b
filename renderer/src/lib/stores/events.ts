// The event reducer: every LabEvent the engine pushes, folded into what the screens show —
// runs (steps with status, progress and durations; logs per host), drill runs (steps, probe
// samples, marks, checks, commands, result), the latest status of each lab, errors. Pure: the
// same events give the same state; the input state is never modified.
import type {
  CheckResult,
  DrillEvent,
  DrillMark,
  DrillPhase,
  DrillResult,
  Prediction,
  ProbeSample,
} from '../../../../provisioning/api/drills.ts';
import type { LabEvent } from '../../../../provisioning/api/lab-api.ts';
import type { ErrorInfo, LabStatus } from '../../../../provisioning/api/types.ts';

export const MAX_LOGS = 3000;
export const MAX_SAMPLES = 20000;
export const MAX_ERRORS = 20;

export type StepState = 'pending' | 'running' | 'done' | 'skipped' | 'failed' | 'cancelled';

export interface StepView {
  id: string;
  title: string;
  status: StepState;
  startedAt?: number;
  durationMs?: number;
  progress?: { done: number; total: number; detail?: string };
  error?: ErrorInfo;
}

export interface LogLine {
  at: number;
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  host?: string;
  stepId?: string;
}

export interface RunView {
  runId: string;
  lab: string;
  action: string;
  startedAt: number;
  endedAt?: number;
  ok?: boolean;
  durationMs?: number;
  error?: ErrorInfo;
  cancelled?: boolean;
  steps: StepView[];
  logs: LogLine[];
  /** Hosts that appear in the logs, in order of first appearance. */
  hosts: string[];
}

export interface DrillStepView {
  id: string;
  phase: DrillPhase;
  title: string;
  status: 'pending' | 'running' | 'waiting' | 'done' | 'failed';
  text?: string;
  at?: number;
}

export interface DrillView {
  runId: string;
  drill: string;
  lab: string;
  startedAt: number;
  endedAt?: number;
  predictions: Prediction[];
  steps: DrillStepView[];
  logs: LogLine[];
  marks: DrillMark[];
  samples: ProbeSample[];
  checks: CheckResult[];
  commands: { host: string; command: string; why: string }[];
  /** The step waiting for "continue" (stepwise runs). */
  waiting?: string;
  ok?: boolean;
  result?: DrillResult;
  reportDir?: string;
}

export interface EventsState {
  runs: Record<string, RunView>;
  /** Run ids, oldest first. */
  runOrder: string[];
  drills: Record<string, DrillView>;
  drillOrder: string[];
  statuses: Record<string, { status: LabStatus; at: number }>;
  errors: (ErrorInfo & { at: number })[];
  /** Terminals that ended, with their exit code. */
  terminalExits: Record<string, number>;
}

export function initialEvents(): EventsState {
  return { runs: {}, runOrder: [], drills: {}, drillOrder: [], statuses: {}, errors: [], terminalExits: {} };
}

const cap = <T>(a: T[], n: number): T[] => (a.length > n ? a.slice(a.length - n) : a);

function updateRun(s: EventsState, runId: string, f: (r: RunView) => RunView): EventsState {
  const r = s.runs[runId];
  if (!r) return s;
  return { ...s, runs: { ...s.runs, [runId]: f(r) } };
}

function updateStep(r: RunView, stepId: string, f: (st: StepView) => StepView): RunView {
  let found = false;
  const steps = r.steps.map((st) => {
    if (st.id !== stepId) return st;
    found = true;
    return f(st);
  });
  if (!found) steps.push(f({ id: stepId, title: stepId, status: 'pending' }));
  return { ...r, steps };
}

function updateDrill(s: EventsState, runId: string, f: (d: DrillView) => DrillView): EventsState {
  const d = s.drills[runId];
  if (!d) return s;
  return { ...s, drills: { ...s.drills, [runId]: f(d) } };
}

function reduceDrill(s: EventsState, e: DrillEvent): EventsState {
  switch (e.type) {
    case 'drill:start': {
      const d: DrillView = {
        runId: e.runId,
        drill: e.drill,
        lab: e.lab,
        startedAt: e.at,
        predictions: e.predictions,
        steps: e.steps.map((st) => ({ ...st, status: 'pending' })),
        logs: [],
        marks: [],
        samples: [],
        checks: [],
        commands: [],
      };
      return {
        ...s,
        drills: { ...s.drills, [e.runId]: d },
        drillOrder: [...s.drillOrder.filter((x) => x !== e.runId), e.runId],
      };
    }
    case 'drill:step':
      return updateDrill(s, e.runId, (d) => {
        const status: DrillStepView['status'] = e.status === 'start' ? 'running' : e.status;
        let found = false;
        const steps = d.steps.map((st) => {
          if (st.id !== e.stepId) return st;
          found = true;
          return { ...st, status, text: e.text ?? st.text, at: e.at };
        });
        if (!found) steps.push({ id: e.stepId, phase: e.phase, title: e.title, status, text: e.text, at: e.at });
        const waiting = e.status === 'waiting' ? e.stepId : d.waiting === e.stepId ? undefined : d.waiting;
        return { ...d, steps, waiting };
      });
    case 'drill:log':
      return updateDrill(s, e.runId, (d) => ({
        ...d,
        logs: cap([...d.logs, { at: e.at, level: 'info', message: e.message, host: e.host }], MAX_LOGS),
      }));
    case 'drill:mark':
      return updateDrill(s, e.runId, (d) => ({ ...d, marks: [...d.marks, e.mark] }));
    case 'drill:samples':
      return updateDrill(s, e.runId, (d) => ({ ...d, samples: cap([...d.samples, ...e.samples], MAX_SAMPLES) }));
    case 'drill:check':
      return updateDrill(s, e.runId, (d) => ({
        ...d,
        checks: [...d.checks.filter((c) => c.id !== e.check.id), e.check],
      }));
    case 'drill:command':
      return updateDrill(s, e.runId, (d) => ({
        ...d,
        commands: [...d.commands, { host: e.host, command: e.command, why: e.why }],
      }));
    case 'drill:end':
      return updateDrill(s, e.runId, (d) => ({
        ...d,
        ok: e.ok,
        result: e.result,
        reportDir: e.reportDir,
        endedAt: e.at,
        waiting: undefined,
        // steps still running when the drill ended did not finish
        steps: d.steps.map((st) =>
          st.status === 'running' || st.status === 'waiting' ? { ...st, status: e.ok ? 'done' : 'failed' } : st,
        ),
        checks: d.checks.length ? d.checks : e.result.checks,
      }));
  }
}

export function reduce(s: EventsState, e: LabEvent): EventsState {
  switch (e.type) {
    case 'run:start': {
      const r: RunView = {
        runId: e.runId,
        lab: e.lab,
        action: e.action,
        startedAt: e.at,
        steps: e.steps.map((st) => ({ id: st.id, title: st.title, status: 'pending' })),
        logs: [],
        hosts: [],
      };
      return {
        ...s,
        runs: { ...s.runs, [e.runId]: r },
        runOrder: [...s.runOrder.filter((x) => x !== e.runId), e.runId],
      };
    }
    case 'step:start':
      return updateRun(s, e.runId, (r) =>
        updateStep(r, e.stepId, (st) => ({ ...st, title: e.title || st.title, status: 'running', startedAt: e.at })),
      );
    case 'step:progress':
      return updateRun(s, e.runId, (r) =>
        updateStep(r, e.stepId, (st) => ({ ...st, progress: { done: e.done, total: e.total, detail: e.detail } })),
      );
    case 'step:end':
      return updateRun(s, e.runId, (r) =>
        updateStep(r, e.stepId, (st) => ({ ...st, status: e.status, durationMs: e.durationMs, error: e.error })),
      );
    case 'step:log':
      return updateRun(s, e.runId, (r) => ({
        ...r,
        logs: cap(
          [...r.logs, { at: e.at, level: e.level, message: e.message, host: e.host, stepId: e.stepId }],
          MAX_LOGS,
        ),
        hosts: e.host && !r.hosts.includes(e.host) ? [...r.hosts, e.host] : r.hosts,
      }));
    case 'run:end':
      return updateRun(s, e.runId, (r) => ({
        ...r,
        ok: e.ok,
        durationMs: e.durationMs,
        error: e.error,
        endedAt: e.at,
        cancelled: e.error?.code === 'CANCELLED',
        steps: r.steps.map((st) => (st.status === 'running' ? { ...st, status: e.ok ? 'done' : 'failed' } : st)),
      }));
    case 'status':
      return { ...s, statuses: { ...s.statuses, [e.lab]: { status: e.status, at: e.at } } };
    case 'terminal:data':
      return s;
    case 'terminal:exit':
      return { ...s, terminalExits: { ...s.terminalExits, [e.id]: e.code } };
    case 'error':
      return { ...s, errors: cap([...s.errors, { ...e.error, at: Date.now() }], MAX_ERRORS) };
    default:
      return e.type.startsWith('drill:') ? reduceDrill(s, e as DrillEvent) : s;
  }
}

export function reduceAll(s: EventsState, events: readonly LabEvent[]): EventsState {
  return events.reduce(reduce, s);
}

/** The most recent run of `lab` (optionally of one action), if any. */
export function latestRun(s: EventsState, lab: string, action?: string): RunView | undefined {
  for (let i = s.runOrder.length - 1; i >= 0; i--) {
    const r = s.runs[s.runOrder[i]!];
    if (r && r.lab === lab && (!action || r.action === action)) return r;
  }
  return undefined;
}

/**
 * The most recent drill run of `lab`; `only`: of that drill (the live probe: "watch"), `except`:
 * any other (the Drills screen does not show a watch).
 */
export function latestDrill(
  s: EventsState,
  lab: string,
  o: { only?: string; except?: string } = {},
): DrillView | undefined {
  for (let i = s.drillOrder.length - 1; i >= 0; i--) {
    const d = s.drills[s.drillOrder[i]!];
    if (!d || d.lab !== lab) continue;
    if (o.only !== undefined && d.drill !== o.only) continue;
    if (o.except !== undefined && d.drill === o.except) continue;
    return d;
  }
  return undefined;
}

/** A run's fraction done (steps finished or skipped, plus the running step's progress). */
export function runProgress(r: RunView): number {
  if (!r.steps.length) return r.ok ? 1 : 0;
  let done = 0;
  for (const st of r.steps) {
    if (st.status === 'done' || st.status === 'skipped') done += 1;
    else if (st.status === 'running' && st.progress && st.progress.total > 0)
      done += Math.min(1, st.progress.done / st.progress.total);
  }
  return done / r.steps.length;
}

/** Logs of one host ("" = lines with no host). */
export function logsOf(r: { logs: LogLine[] }, host: string | undefined): LogLine[] {
  if (host === undefined) return r.logs;
  return r.logs.filter((l) => (l.host ?? '') === host);
}
