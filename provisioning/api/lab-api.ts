// LabApi: the one object the UI talks to. The Electron preload exposes it as `window.lab`
// (IPC to the main process); `halab ui` serves the same calls over a local WebSocket. Both
// ends are implemented by provisioning/service (Node, no Electron), so the renderer never knows
// which shell it runs in. Types only.
import type { DrillEvent, DrillInfo, DrillResult, ReportInfo } from './drills.ts';
import type { DoctorCheck, EngineEvent, ErrorInfo, LabSpec, LabStatus, LabSummary, PlanPreview, SpecIssue } from './types.ts';

export interface SnapshotRow {
  master: string;
  file: string;
  sizeBytes: number;
  ageS: number;
  status: 'good' | 'bad';
  revision?: number;
  keys?: number;
  hash?: number;
  error?: string;
}

/** Counts and options of the create-lab wizard; the service turns them into a full spec. */
export interface WizardInput {
  name: string;
  subnet: string;
  lbs: number;
  masters: number;
  workers: number;
  /** Which etcd members each kube-apiserver uses (default all). */
  apiserverEtcd?: LabSpec['apiserverEtcd'];
  timers?: Partial<LabSpec['timers']>;
  snapshots?: Partial<LabSpec['snapshots']>;
}

export interface SpecCheck {
  /** The full spec when there is no error. */
  spec?: LabSpec;
  issues: SpecIssue[];
  /** Present whenever the spec's shape is valid (even with errors): what the plan would be. */
  plan?: PlanPreview;
}

export interface ProviderInfo {
  name: string;
  title: string;
  available: boolean;
}

/** Everything pushed from the engine to the UI, on one channel. */
export type LabEvent =
  | EngineEvent
  | DrillEvent
  | { type: 'terminal:data'; id: string; data: string }
  | { type: 'terminal:exit'; id: string; code: number }
  | { type: 'error'; error: ErrorInfo };

export interface LabApi {
  listLabs(): Promise<LabSummary[]>;
  /** Validate a wizard's input or a full spec object against this machine; never creates anything. */
  checkSpec(input: WizardInput | { spec: unknown }): Promise<SpecCheck>;
  /** Start creating (or resuming) a lab; progress arrives as events. Resolves with the run id at once. */
  up(input: WizardInput | { spec: unknown }): Promise<{ runId: string; lab: string }>;
  /** Finish creating a lab that exists (interrupted, failed with --keep) from its recorded spec: `up` again. */
  resume(lab: string): Promise<{ runId: string; lab: string }>;
  /** Cancel a running `up` (Ctrl-C semantics: the lab stays, `up` again resumes). */
  cancel(runId: string): Promise<void>;
  down(lab: string): Promise<{ runId: string }>;
  status(lab: string): Promise<LabStatus>;
  doctor(): Promise<DoctorCheck[]>;
  providers(): Promise<ProviderInfo[]>;

  drills(): Promise<DrillInfo[]>;
  /** Run a drill; `stepwise` waits for `drillContinue` before each step. */
  runDrill(lab: string, drill: string, opts?: { stepwise?: boolean }): Promise<{ runId: string }>;
  drillContinue(runId: string): Promise<void>;
  reports(lab: string): Promise<ReportInfo[]>;
  report(lab: string, runId: string): Promise<{ result: DrillResult; markdown: string; svg: string; html: string }>;

  snapshots(lab: string): Promise<SnapshotRow[]>;
  takeSnapshot(lab: string): Promise<SnapshotRow>;

  openTerminal(lab: string, host: string, cols: number, rows: number): Promise<{ id: string }>;
  terminalInput(id: string, data: string): Promise<void>;
  resizeTerminal(id: string, cols: number, rows: number): Promise<void>;
  closeTerminal(id: string): Promise<void>;

  /** Subscribe to every event; returns the unsubscribe function. */
  onEvent(cb: (e: LabEvent) => void): () => void;
}

/** The names of LabApi's request methods (everything but onEvent): what IPC and the bridge carry. */
export type LabApiMethod = Exclude<keyof LabApi, 'onEvent'>;
