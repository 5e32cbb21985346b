// The Node side of LabApi: one object over the engine that Electron's main process (IPC) and
// `halab ui` (WebSocket bridge) both serve. No Electron here (provisioning/ is the engine).
//
// - up/down/resume and drills run in the background: the call resolves with the run id as soon
//   as the run has started (or rejects if it cannot start: bad spec, busy lab, missing
//   prerequisites), progress arrives as events;
// - one run at a time per lab (the engine's lock lets its own process in, so the service keeps
//   its own table of busy labs);
// - every error leaves as an ErrorInfo (code, message, fix), never as a stack trace;
// - each client gets a session: input validation, its own batched event channel, its terminals.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { DrillEvent, DrillInfo, DrillResult, ReportInfo } from '../api/drills.ts';
import type {
  ActionOutcome,
  FaultAction,
  LabApi,
  LabEvent,
  LabReply,
  ProviderInfo,
  ServiceAction,
  SnapshotRow,
  SpecCheck,
  WizardInput,
} from '../api/lab-api.ts';
import type { DoctorCheck, EngineEvent, LabSpec, LabState, LabStatus, LabSummary, SpecIssue } from '../api/types.ts';
import { HalabError, toErrorInfo } from '../errors.ts';
import type { ShellSession } from '../exec/shell.ts';
import type { LabHandle } from '../engine/lab.ts';
import type { RunResult } from '../engine/runner.ts';
import type { SnapshotInfo, SnapshotListing } from '../snapshots/snapshots.ts';
import type { MachineNetworks } from '../spec/validate.ts';
import { COUNT_LIMITS, specFromCounts } from '../spec/schema.ts';
import { validateSpec } from '../spec/validate.ts';
import { planPreview } from '../spec/plan.ts';
import { sortIssues } from '../spec/validate.ts';
import type { PlanChecks } from '../engine/plan-checks.ts';
import { EventChannel, type ChannelOptions } from './events.ts';
import { validateCall } from './schemas.ts';
import type { DrillsModule } from './drills.ts';
import type { OperateModule } from './operate.ts';

/** What the service needs from the engine: real modules by default, fakes in unit tests. */
export interface EngineDeps {
  listLabs(): Promise<LabSummary[]>;
  readState(name: string): Promise<LabState | undefined>;
  labDir(name: string): string;
  up(spec: LabSpec, o: { emit: (e: EngineEvent) => void; signal?: AbortSignal }): Promise<RunResult>;
  down(name: string, o: { emit: (e: EngineEvent) => void }): Promise<RunResult & { leftovers: string[] }>;
  status(name: string): Promise<LabStatus>;
  machineNetworks(ignoreIfaces: string[]): Promise<MachineNetworks>;
  /** The bridge of an existing lab (not an overlap when re-validating its own spec). */
  /** The interfaces on this machine of an existing lab (none for a new name). */
  ownInterfaces(name: string): Promise<string[]>;
  doctor(): Promise<DoctorCheck[]>;
  providers(): ProviderInfo[];
  openLab(name: string): Promise<LabHandle>;
  openShell(lab: LabHandle, host: string, pty: { cols: number; rows: number }): Promise<ShellSession>;
  saveSnapshot(lab: LabHandle): Promise<SnapshotInfo>;
  listSnapshots(lab: LabHandle): Promise<SnapshotListing>;
  drills(): Promise<DrillsModule>;
  /** Where each up's events are appended (the lab's log). */
  logEvent?(lab: string, e: EngineEvent): void;
  /** What a valid spec's provider, bootstrap and Kubernetes version can honour (engine/plan-checks.ts). */
  planChecks?(spec: LabSpec): Promise<PlanChecks>;
  /** Faults, heal, the watch, the restore, stop (service/operate.ts). */
  operate?(): Promise<OperateModule>;
}

/** The real engine, imported lazily so that importing the service costs nothing. */
export async function realEngine(): Promise<EngineDeps> {
  const [engine, store, machine, doctor, providers, shell, snaps, drills, render, kubeconfig] = await Promise.all([
    import('../engine/lab.ts'),
    import('../state/store.ts'),
    import('../machine.ts'),
    import('../cli/doctor.ts'),
    import('../providers/index.ts'),
    import('../exec/shell.ts'),
    import('../snapshots/index.ts'),
    import('./drills.ts'),
    import('../cli/render.ts'),
    import('../k8s/kubeconfig.ts'),
  ]);
  const loggers = new Map<string, ReturnType<typeof render.fileLogger>>();
  return {
    listLabs: store.listLabs,
    readState: store.readState,
    labDir: store.labDir,
    // like `halab up`/`down`: the kubectl context halab-<lab> in the default kubeconfig (a
    // kubeconfig that cannot be updated leaves the lab as it is: `halab kubeconfig -o` still works)
    up: async (spec, o) => {
      const r = await engine.up(spec, o);
      if (r.ok) await kubeconfig.addLabContext(spec.name, store.labDir(spec.name)).catch(() => undefined);
      return r;
    },
    down: async (name, o) => {
      const r = await engine.down(name, o);
      if (r.ok) await kubeconfig.removeLabContext(name).catch(() => undefined);
      return r;
    },
    status: engine.status,
    machineNetworks: machine.machineNetworks,
    ownInterfaces: engine.ownInterfaces,
    doctor: doctor.runDoctor,
    providers: () => providers.PROVIDERS.map((p) => ({ ...p })),
    openLab: (name) => engine.LabHandle.open(name),
    openShell: (lab, host, pty) => shell.openShell(lab, host, pty),
    saveSnapshot: (lab) => snaps.saveSnapshot(lab),
    listSnapshots: (lab) => snaps.listSnapshotsReport(lab),
    drills: drills.loadDrills,
    planChecks: (spec) => import('../engine/plan-checks.ts').then((m) => m.planChecks(spec)),
    operate: () => import('./operate.ts').then((m) => m.loadOperate()),
    logEvent: (lab, e) => {
      let l = loggers.get(lab);
      if (!l) loggers.set(lab, (l = render.fileLogger(join(store.labDir(lab), 'logs', 'halab.log'))));
      l.emit(e);
      if (e.type === 'run:end') loggers.delete(lab);
    },
  };
}

interface ActiveRun {
  lab: string;
  kind: 'up' | 'down' | 'drill' | 'watch' | 'stop';
  runId?: string;
  ac: AbortController;
  /** A stepwise drill waiting for "continue". */
  resume?: () => void;
  pendingContinue?: boolean;
}

interface Terminal {
  session: ShellSession;
  owner?: string;
  lab: string;
}

type Listener = { cb: (e: LabEvent) => void; session?: string };

/** The reply to one call: LabReply, the envelope IPC and the bridge share (api/lab-api.ts). */
export type CallReply = LabReply;

/** One client (a window, a WebSocket): validated calls, a batched event channel, its own terminals. */
export interface LabSession {
  readonly id: string;
  call(method: unknown, args: unknown): Promise<CallReply>;
  /** The client is listening: queued events flow. */
  ready(): void;
  close(): void;
}

function toRow(s: SnapshotInfo): SnapshotRow {
  return {
    master: s.master,
    file: s.file,
    sizeBytes: s.sizeBytes,
    ageS: s.ageS,
    status: s.status,
    revision: s.revision,
    behind: s.behind,
    keys: s.keys,
    hash: s.hash,
    error: s.error,
  };
}

function countIssues(input: WizardInput): SpecIssue[] {
  const out: SpecIssue[] = [];
  const fields = [
    ['lbs', 'load balancers'],
    ['masters', 'masters'],
    ['workers', 'workers'],
  ] as const;
  for (const [k, what] of fields) {
    const n = input[k];
    if (!Number.isInteger(n) || n < 0 || n > COUNT_LIMITS[k]) {
      out.push({
        severity: 'error',
        path: k,
        message: `${n} ${what}: the wizard builds 0 to ${COUNT_LIMITS[k]}`,
        fix: `choose from 0 to ${COUNT_LIMITS[k]} ${what}`,
      });
    }
  }
  return out;
}

export class LabService implements LabApi {
  private listeners = new Set<Listener>();
  private runs = new Map<string, ActiveRun>();
  private busy = new Map<string, ActiveRun>();
  private watching = new Map<string, ActiveRun>();
  private terminals = new Map<string, Terminal>();
  private depsP: Promise<EngineDeps>;

  constructor(deps?: EngineDeps | Promise<EngineDeps>) {
    this.depsP = Promise.resolve(deps ?? realEngine());
  }

  private deps(): Promise<EngineDeps> {
    return this.depsP;
  }

  // ---------------------------------------------------------------------------------------------
  // Events
  // ---------------------------------------------------------------------------------------------

  /** Every event of every run (terminal events only to the session that owns the terminal). */
  onEvent(cb: (e: LabEvent) => void): () => void {
    const l: Listener = { cb };
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private emit(e: LabEvent, onlySession?: string): void {
    for (const l of this.listeners) {
      if (onlySession && l.session && l.session !== onlySession) continue;
      try {
        l.cb(e);
      } catch {
        /* a listener's failure is not the engine's */
      }
    }
  }

  /** A client: calls are validated, events batched (queued until `ready`). */
  openSession(send: (batch: LabEvent[]) => void, o: ChannelOptions = {}): LabSession {
    const id = randomBytes(6).toString('hex');
    const channel = new EventChannel(send, o);
    const listener: Listener = { cb: (e) => channel.push(e), session: id };
    this.listeners.add(listener);
    const owned = new Set<string>();
    return {
      id,
      call: async (method, args) => {
        try {
          const c = validateCall(method, args);
          if (c.method === 'openTerminal') {
            const [lab, host, cols, rows] = c.args as [string, string, number, number];
            const r = await this.openTerminalFor(lab, host, cols, rows, id);
            owned.add(r.id);
            return { ok: true, value: r };
          }
          const fn = this[c.method] as (...a: unknown[]) => Promise<unknown>;
          const value = await fn.apply(this, c.args);
          return { ok: true, value: value === undefined ? null : value };
        } catch (err) {
          return { ok: false, error: toErrorInfo(err) };
        }
      },
      ready: () => channel.markReady(),
      close: () => {
        this.listeners.delete(listener);
        channel.close();
        for (const t of owned) void this.closeTerminal(t);
      },
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Labs
  // ---------------------------------------------------------------------------------------------

  async listLabs(): Promise<LabSummary[]> {
    return (await this.deps()).listLabs();
  }

  async checkSpec(input: WizardInput | { spec: unknown }): Promise<SpecCheck> {
    const d = await this.deps();
    let raw: unknown;
    if ('spec' in input) {
      raw = input.spec;
    } else {
      const bad = countIssues(input);
      if (bad.length) return { issues: bad };
      raw = specFromCounts({
        name: input.name,
        subnet: input.subnet,
        lbs: input.lbs,
        masters: input.masters,
        workers: input.workers,
        apiserverEtcd: input.apiserverEtcd,
        bootstrap: input.bootstrap,
        timers: input.timers,
        snapshots: input.snapshots,
      });
    }
    const name = (raw as { name?: unknown } | null)?.name;
    const own = typeof name === 'string' ? await d.ownInterfaces(name) : [];
    const res = validateSpec(raw, await d.machineNetworks(own));
    // a field the bootstrap would ignore, a Kubernetes version that does not exist: refused here too
    const checks = res.spec && d.planChecks ? await d.planChecks(res.spec) : undefined;
    const issues = checks ? sortIssues([...res.issues, ...checks.issues]) : res.issues;
    const spec = issues.some((i) => i.severity === 'error') ? undefined : res.spec;
    const base = res.spec ?? res.draft;
    return { spec, issues, plan: base ? planPreview(base, issues, { binaries: checks?.binaries }) : undefined };
  }

  async up(input: WizardInput | { spec: unknown }): Promise<{ runId: string; lab: string }> {
    const check = await this.checkSpec(input);
    if (!check.spec) {
      const errors = check.issues.filter((i) => i.severity === 'error');
      const first = errors[0];
      throw new HalabError(
        'SPEC_INVALID',
        `the lab spec has ${errors.length} error${errors.length === 1 ? '' : 's'}${first ? `: ${first.path ? `${first.path}: ` : ''}${first.message}` : ''}; nothing was created`,
        {
          fix: first?.fix,
          details: errors.map((i) => `${i.path || '(spec)'}: ${i.message}`).join('\n'),
        },
      );
    }
    return this.startUp(check.spec);
  }

  async resume(lab: string): Promise<{ runId: string; lab: string }> {
    const d = await this.deps();
    const state = await d.readState(lab);
    if (!state)
      throw new HalabError('NO_LAB', `there is no lab named ${lab}`, { fix: 'create it from the Labs screen' });
    return this.startUp(state.spec);
  }

  private async startUp(spec: LabSpec): Promise<{ runId: string; lab: string }> {
    const d = await this.deps();
    const { runId } = await this.startRun(spec.name, 'up', (emit, signal) =>
      d.up(spec, {
        emit: (e) => {
          d.logEvent?.(spec.name, e);
          emit(e);
        },
        signal,
      }),
    );
    return { runId, lab: spec.name };
  }

  async cancel(runId: string): Promise<void> {
    const r = this.runs.get(runId);
    if (!r) throw new HalabError('NO_RUN', `no run ${runId} is in progress`, { fix: 'it may have finished already' });
    r.ac.abort();
    r.resume?.();
  }

  async down(lab: string): Promise<{ runId: string }> {
    const d = await this.deps();
    for (const [id, t] of this.terminals) if (t.lab === lab) await this.closeTerminal(id);
    return this.startRun(lab, 'down', (emit) => d.down(lab, { emit }));
  }

  async status(lab: string): Promise<LabStatus> {
    return (await this.deps()).status(lab);
  }

  async doctor(): Promise<DoctorCheck[]> {
    return (await this.deps()).doctor();
  }

  async providers(): Promise<ProviderInfo[]> {
    return (await this.deps()).providers();
  }

  /**
   * Start a background run on `lab` and resolve with its id once its first event (run:start or
   * drill:start) is out; reject if it fails before that. One run per lab at a time.
   */
  private startRun(
    lab: string,
    kind: ActiveRun['kind'],
    start: (emit: (e: EngineEvent | DrillEvent) => void, signal: AbortSignal, run: ActiveRun) => Promise<unknown>,
  ): Promise<{ runId: string }> {
    // a watch only looks (and runs beside anything else, one per lab): its own table
    const table = kind === 'watch' ? this.watching : this.busy;
    const other = table.get(lab);
    if (other) {
      return Promise.reject(
        new HalabError(
          'LAB_BUSY',
          `lab ${lab} is busy: ${other.kind === 'drill' ? 'a drill' : `\`${other.kind}\``} is running (run ${other.runId ?? 'starting'})`,
          {
            fix: 'wait for it to finish, or cancel it',
          },
        ),
      );
    }
    const run: ActiveRun = { lab, kind, ac: new AbortController() };
    table.set(lab, run);
    return new Promise((resolve, reject) => {
      let started = false;
      const emit = (e: EngineEvent | DrillEvent) => {
        if (!started && (e.type === 'run:start' || e.type === 'drill:start')) {
          started = true;
          run.runId = e.runId;
          this.runs.set(e.runId, run);
          resolve({ runId: e.runId });
        }
        this.emit(e);
      };
      start(emit, run.ac.signal, run)
        .then(
          () => {
            if (!started) reject(new HalabError('RUN_NOT_STARTED', `${kind} on ${lab} ended before it started`));
          },
          (err: unknown) => {
            if (!started) reject(err);
            else this.emit({ type: 'error', error: toErrorInfo(err) });
          },
        )
        .finally(() => {
          table.delete(lab);
          if (run.runId) this.runs.delete(run.runId);
        });
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Drills
  // ---------------------------------------------------------------------------------------------

  async drills(): Promise<DrillInfo[]> {
    return (await (await this.deps()).drills()).listDrills();
  }

  async runDrill(lab: string, drill: string, opts: { stepwise?: boolean } = {}): Promise<{ runId: string }> {
    const d = await this.deps();
    const mod = await d.drills();
    if (!mod.listDrills().some((x) => x.name === drill)) {
      throw new HalabError('NO_DRILL', `there is no drill named ${drill}`, {
        fix: `drills: ${mod
          .listDrills()
          .map((x) => x.name)
          .join(', ')}`,
      });
    }
    const handle = await d.openLab(lab);
    return this.startRun(lab, 'drill', async (emit, signal, run) => {
      try {
        return await mod.runDrill(handle, drill, {
          emit,
          signal,
          stepwise: opts.stepwise === true,
          waitForContinue: () =>
            new Promise<void>((res) => {
              if (run.pendingContinue || signal.aborted) {
                run.pendingContinue = false;
                res();
                return;
              }
              run.resume = () => {
                run.resume = undefined;
                res();
              };
            }),
        });
      } finally {
        await handle.close();
      }
    }).catch(async (err: unknown) => {
      await handle.close();
      throw err;
    });
  }

  async drillContinue(runId: string): Promise<void> {
    const r = this.runs.get(runId);
    if (!r || r.kind !== 'drill')
      throw new HalabError('NO_RUN', `no drill run ${runId} is in progress`, { fix: 'it may have finished already' });
    if (r.resume) r.resume();
    else r.pendingContinue = true;
  }

  async reports(lab: string): Promise<ReportInfo[]> {
    const d = await this.deps();
    return (await d.drills()).listReports(d.labDir(lab));
  }

  async report(
    lab: string,
    runId: string,
  ): Promise<{ result: DrillResult; markdown: string; svg: string; html: string }> {
    const d = await this.deps();
    return (await d.drills()).readReport(d.labDir(lab), runId);
  }

  // ---------------------------------------------------------------------------------------------
  // Snapshots
  // ---------------------------------------------------------------------------------------------

  private async withLab<T>(lab: string, fn: (h: LabHandle, d: EngineDeps) => Promise<T>): Promise<T> {
    const d = await this.deps();
    const h = await d.openLab(lab);
    try {
      return await fn(h, d);
    } finally {
      await h.close();
    }
  }

  async snapshots(lab: string): Promise<SnapshotRow[]> {
    return this.withLab(lab, async (h, d) => {
      const r = await d.listSnapshots(h);
      return [
        ...r.snapshots.map(toRow),
        ...r.unreachable.map((u): SnapshotRow => ({
          master: u.master,
          file: '',
          sizeBytes: 0,
          ageS: 0,
          status: 'bad',
          error: `cannot list: ${u.error}`,
        })),
      ];
    });
  }

  async takeSnapshot(lab: string): Promise<SnapshotRow> {
    return this.withLab(lab, async (h, d) => toRow(await d.saveSnapshot(h)));
  }

  async restoreSnapshot(lab: string, snapshot: string, opts: { stepwise?: boolean } = {}): Promise<{ runId: string }> {
    const op = await this.operate();
    const handle = await (await this.deps()).openLab(lab);
    return this.startRun(lab, 'drill', async (emit, signal, run) => {
      try {
        return await op.restoreSnapshot(
          handle,
          { snapshot },
          { emit, signal, stepwise: opts.stepwise === true, waitForContinue: this.continueOf(run, signal) },
        );
      } finally {
        await handle.close();
      }
    }).catch(async (err: unknown) => {
      await handle.close();
      throw err;
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Operating by hand
  // ---------------------------------------------------------------------------------------------

  private async operate(): Promise<OperateModule> {
    const d = await this.deps();
    if (!d.operate)
      throw new HalabError('UNAVAILABLE', 'operating a lab by hand is not available here', {
        fix: 'use the CLI: halab fault / service / heal / watch',
      });
    return d.operate();
  }

  /** What a stepwise run waits on: "continue" (drillContinue), or its cancellation. */
  private continueOf(run: ActiveRun, signal: AbortSignal): () => Promise<void> {
    return () =>
      new Promise<void>((res) => {
        if (run.pendingContinue || signal.aborted) {
          run.pendingContinue = false;
          res();
          return;
        }
        run.resume = () => {
          run.resume = undefined;
          res();
        };
      });
  }

  async fault(lab: string, host: string, action: FaultAction): Promise<ActionOutcome> {
    const op = await this.operate();
    return this.withLab(lab, (h) => op.fault(h, host, action));
  }

  async service(lab: string, host: string, name: string, action: ServiceAction): Promise<ActionOutcome> {
    const op = await this.operate();
    return this.withLab(lab, async (h) => {
      const r = await op.serviceAction(h, host, name, action);
      return { changed: r.changed, message: r.message };
    });
  }

  async heal(lab: string): Promise<{ did: string[] }> {
    const op = await this.operate();
    return this.withLab(lab, async (h) => ({ did: await op.heal(h) }));
  }

  async startWatch(lab: string): Promise<{ runId: string }> {
    const op = await this.operate();
    const handle = await (await this.deps()).openLab(lab);
    return this.startRun(lab, 'watch', async (emit, signal) => {
      try {
        const w = await op.startWatch(handle, {
          onSamples: (samples) => emit({ type: 'drill:samples', runId: w.runId, samples }),
          onMark: (mark) => emit({ type: 'drill:mark', runId: w.runId, mark }),
        });
        emit({ type: 'drill:start', runId: w.runId, drill: 'watch', lab, predictions: [], steps: [], at: w.startedAt });
        await new Promise<void>((res) => {
          if (signal.aborted) return res();
          signal.addEventListener('abort', () => res(), { once: true });
        });
        const { result, reportDir } = await w.stop();
        emit({ type: 'drill:end', runId: w.runId, ok: result.ok, result, reportDir, at: Date.now() });
      } finally {
        await handle.close();
      }
    }).catch(async (err: unknown) => {
      await handle.close();
      throw err;
    });
  }

  async stopWatch(runId: string): Promise<void> {
    const r = this.runs.get(runId);
    if (!r || r.kind !== 'watch')
      throw new HalabError('NO_RUN', `no watch ${runId} is running`, { fix: 'it may have stopped already' });
    r.ac.abort();
  }

  async stop(lab: string): Promise<{ runId: string }> {
    const op = await this.operate();
    for (const [id, t] of this.terminals) if (t.lab === lab) await this.closeTerminal(id);
    return this.startRun(lab, 'stop', (emit) => op.stop(lab, { emit }));
  }

  // ---------------------------------------------------------------------------------------------
  // Terminals
  // ---------------------------------------------------------------------------------------------

  openTerminal(lab: string, host: string, cols: number, rows: number): Promise<{ id: string }> {
    return this.openTerminalFor(lab, host, cols, rows);
  }

  private async openTerminalFor(
    lab: string,
    host: string,
    cols: number,
    rows: number,
    owner?: string,
  ): Promise<{ id: string }> {
    const d = await this.deps();
    const h = await d.openLab(lab);
    let session: ShellSession;
    try {
      session = await d.openShell(h, host, { cols, rows });
    } finally {
      await h.close();
    }
    const id = randomBytes(8).toString('hex');
    const decoder = new StringDecoder('utf8');
    this.terminals.set(id, { session, owner, lab });
    session.onData((b) => {
      const data = decoder.write(b);
      if (data) this.emit({ type: 'terminal:data', id, data }, owner);
    });
    session.onExit((code) => {
      if (!this.terminals.has(id)) return;
      this.terminals.delete(id);
      this.emit({ type: 'terminal:exit', id, code }, owner);
    });
    return { id };
  }

  private terminal(id: string): Terminal {
    const t = this.terminals.get(id);
    if (!t) throw new HalabError('NO_TERMINAL', `terminal ${id} is not open`, { fix: 'open a new terminal' });
    return t;
  }

  async terminalInput(id: string, data: string): Promise<void> {
    this.terminal(id).session.write(data);
  }

  async resizeTerminal(id: string, cols: number, rows: number): Promise<void> {
    this.terminal(id).session.resize(cols, rows);
  }

  async closeTerminal(id: string): Promise<void> {
    const t = this.terminals.get(id);
    if (!t) return;
    this.terminals.delete(id);
    try {
      t.session.close();
    } catch {
      /* already gone */
    }
    this.emit({ type: 'terminal:exit', id, code: 0 }, t.owner);
  }

  /** Stop everything this service started: cancel runs, close terminals. */
  async dispose(): Promise<void> {
    for (const r of this.runs.values()) r.ac.abort();
    for (const id of [...this.terminals.keys()]) await this.closeTerminal(id);
    this.listeners.clear();
  }

  /** Labs with a run in progress (for a window that quits: "cancel the run first?"). */
  activeRuns(): { runId?: string; lab: string; kind: string }[] {
    return [...this.busy.values()].map((r) => ({ runId: r.runId, lab: r.lab, kind: r.kind }));
  }
}

export function createLabService(deps?: EngineDeps | Promise<EngineDeps>): LabService {
  return new LabService(deps);
}
