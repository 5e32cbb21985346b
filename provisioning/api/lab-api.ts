// LabApi: the one object the UI talks to. The Electron preload exposes it as `window.lab`
// (IPC to the main process); `halab ui` serves the same calls over a local WebSocket. Both
// ends are implemented by provisioning/service (Node, no Electron), so the renderer never knows
// which shell it runs in. Types, and one const: the list of its methods (no imports at run time,
// so the preload, the renderer and the service can all import it).
import type { DrillEvent, DrillInfo, DrillResult, ReportInfo } from './drills.ts';
import type {
  DoctorCheck,
  EngineEvent,
  ErrorInfo,
  LabSpec,
  LabStatus,
  LabSummary,
  PlanPreview,
  SpecIssue,
} from './types.ts';

export interface SnapshotRow {
  master: string;
  file: string;
  sizeBytes: number;
  ageS: number;
  status: 'good' | 'bad';
  revision?: number;
  /** Revisions between it and the cluster's current one. */
  behind?: number;
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
  /** How the cluster is made (default kubeadm). */
  bootstrap?: LabSpec['bootstrap'];
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

/** A fault by hand on one host (`halab fault`). */
export type FaultAction = 'power-off' | 'power-on' | 'freeze' | 'thaw' | 'unplug' | 'plug';
/** What can be done to one component of a host (`halab service`). */
export type ServiceAction = 'stop' | 'start' | 'kill';
/** What an action by hand did: nothing (already so) or a change, in one sentence. */
export interface ActionOutcome {
  changed: boolean;
  message: string;
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
  /**
   * Restore every etcd member from one snapshot (`master:file`, as listed), checked first (a bad
   * one is refused before anything stops); progress arrives as drill events (drill
   * "snapshot-restore"), `stepwise` waits for `drillContinue` before each step.
   */
  restoreSnapshot(lab: string, snapshot: string, opts?: { stepwise?: boolean }): Promise<{ runId: string }>;

  /** Break a host by hand or put it back (power, freeze, cable); a host already so is left alone. */
  fault(lab: string, host: string, action: FaultAction): Promise<ActionOutcome>;
  /** Stop, start or kill one component of a host (etcd, kube-apiserver, haproxy, keepalived, kubelet…). */
  service(lab: string, host: string, name: string, action: ServiceAction): Promise<ActionOutcome>;
  /** Put every host and service back (power on, thaw, plug in, start); what it did, one line each. */
  heal(lab: string): Promise<{ did: string[] }>;
  /**
   * Start the live probe through the VIP (the drills' probe): samples and every action done by
   * hand arrive as drill events of a run whose drill is "watch", until `stopWatch` (or `cancel`).
   */
  startWatch(lab: string): Promise<{ runId: string }>;
  /** Stop a watch; its report is written (drill:end carries its directory). */
  stopWatch(runId: string): Promise<void>;
  /** Stop the lab: every process ends, its state and disks stay; `resume` starts it again. */
  stop(lab: string): Promise<{ runId: string }>;

  openTerminal(lab: string, host: string, cols: number, rows: number): Promise<{ id: string }>;
  terminalInput(id: string, data: string): Promise<void>;
  resizeTerminal(id: string, cols: number, rows: number): Promise<void>;
  closeTerminal(id: string): Promise<void>;

  /** Subscribe to every event; returns the unsubscribe function. */
  onEvent(cb: (e: LabEvent) => void): () => void;
}

/** The names of LabApi's request methods (everything but onEvent): what IPC and the bridge carry. */
export type LabApiMethod = Exclude<keyof LabApi, 'onEvent'>;

/**
 * Every request method of LabApi and the most arguments it takes (optional ones included): the
 * one list the Electron preload, the browser bridge client and the service's validation derive
 * their method tables from. The compiler checks the names against LabApi (a missing or extra
 * one does not compile); lab-api.test.ts checks names and counts against the interface's text.
 */
export const LAB_API_METHODS = {
  listLabs: 0,
  checkSpec: 1,
  up: 1,
  resume: 1,
  cancel: 1,
  down: 1,
  status: 1,
  doctor: 0,
  providers: 0,
  drills: 0,
  runDrill: 3,
  drillContinue: 1,
  reports: 1,
  report: 2,
  snapshots: 1,
  takeSnapshot: 1,
  restoreSnapshot: 3,
  fault: 3,
  service: 4,
  heal: 1,
  startWatch: 1,
  stopWatch: 1,
  stop: 1,
  openTerminal: 4,
  terminalInput: 2,
  resizeTerminal: 3,
  closeTerminal: 1,
} as const satisfies Record<LabApiMethod, number>;

/** The reply to one call, the same over Electron IPC, the WebSocket and `POST /api/call/<method>`. */
export type LabReply<T = unknown> = { ok: true; value: T } | { ok: false; error: ErrorInfo };

/** What the browser bridge's client sends over the WebSocket (JSON text frames). */
export type BridgeRequest = { id: number | string; method: LabApiMethod; args: unknown[] } | { type: 'ready' };

/** What the browser bridge sends back: the reply to a request (id null: a message that was not one), or events. */
export type BridgeMessage =
  ({ type: 'reply'; id: number | string | null } & LabReply) | { type: 'events'; events: LabEvent[] };
