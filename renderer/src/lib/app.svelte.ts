// The app's state (Svelte 5 runes): the connection, the screen, the selected lab, the event
// state folded by the pure reducer, lab statuses from polling. Screens read it; they call LabApi
// through `app.api`.
import type { LabApi, LabEvent } from '../../../provisioning/api/lab-api.ts';
import type { ErrorInfo, LabStatus, LabSummary } from '../../../provisioning/api/types.ts';
import { connect } from './api.ts';
import { asErrorInfo } from './errors.ts';
import { initialEvents, reduceAll, type EventsState } from './stores/events.ts';

export type Screen = 'labs' | 'provisioning' | 'lab' | 'drills' | 'snapshots' | 'terminal' | 'settings';

export const SCREENS: { id: Screen; title: string }[] = [
  { id: 'labs', title: 'Labs' },
  { id: 'provisioning', title: 'Provisioning' },
  { id: 'lab', title: 'Lab view' },
  { id: 'drills', title: 'Drills' },
  { id: 'snapshots', title: 'Snapshots' },
  { id: 'terminal', title: 'Terminal' },
  { id: 'settings', title: 'Settings' },
];

class AppState {
  api!: LabApi;
  mode = $state<'electron' | 'browser'>('browser');
  connected = $state(true);
  missingToken = $state(false);
  screen = $state<Screen>('labs');
  lab = $state<string | undefined>(undefined);
  /** The host the Terminal screen opens next (set by "Open a terminal" buttons). */
  terminalHost = $state<string | undefined>(undefined);
  labs = $state.raw<LabSummary[]>([]);
  events = $state.raw<EventsState>(initialEvents());
  statuses = $state.raw<Record<string, { status: LabStatus; at: number }>>({});
  statusErrors = $state.raw<Record<string, ErrorInfo | undefined>>({});
  /** The last error of a user action, shown in the banner. */
  error = $state.raw<ErrorInfo | undefined>(undefined);
  /** Terminal output goes straight to the xterm of its id (not through the reducer). */
  private sinks = new Map<string, (data: string) => void>();
  /** Output that arrived before its terminal's sink (the first prompt can beat openTerminal's reply). */
  private early = new Map<string, string>();
  private pending: LabEvent[] = [];
  private polling = new Set<string>();

  init(api?: LabApi) {
    if (api) this.api = api;
    else {
      const c = connect((up) => {
        this.connected = up;
        if (up) void this.refreshLabs();
      });
      this.api = c.api;
      this.mode = c.mode;
      this.missingToken = !!c.missingToken;
    }
    this.api.onEvent((e) => this.onEvent(e));
    void this.refreshLabs();
    // phases change after a run's last event (ready is recorded once `up` returns): look again now and then
    setInterval(() => {
      if (this.connected) void this.refreshLabs(true);
    }, 4000);
  }

  private onEvent(e: LabEvent) {
    if (e.type === 'terminal:data') {
      const sink = this.sinks.get(e.id);
      if (sink) sink(e.data);
      else this.early.set(e.id, (this.early.get(e.id) ?? '') + e.data);
      return;
    }
    this.pending.push(e);
    if (this.pending.length === 1) queueMicrotask(() => this.applyPending());
  }

  private applyPending() {
    const batch = this.pending;
    this.pending = [];
    this.events = reduceAll(this.events, batch);
    for (const e of batch) {
      if (e.type === 'status') this.statuses = { ...this.statuses, [e.lab]: { status: e.status, at: e.at } };
      if (e.type === 'run:start' || e.type === 'run:end' || e.type === 'drill:end') void this.refreshLabs();
      if (e.type === 'error') this.error = e.error;
    }
  }

  terminalSink(id: string, f: ((data: string) => void) | undefined) {
    if (f) {
      this.sinks.set(id, f);
      const first = this.early.get(id);
      this.early.delete(id);
      if (first) f(first);
    } else {
      this.sinks.delete(id);
      this.early.delete(id);
    }
  }

  go(screen: Screen, lab?: string) {
    if (lab) this.lab = lab;
    this.screen = screen;
  }

  async refreshLabs(quiet = false) {
    try {
      const labs = await this.api.listLabs();
      if (JSON.stringify(labs) !== JSON.stringify(this.labs)) this.labs = labs;
      if (!this.lab || !this.labs.some((l) => l.name === this.lab)) {
        const running = this.labs.find((l) => l.phase === 'ready') ?? this.labs[0];
        if (running && !this.runOf(this.lab)) this.lab = running.name;
      }
    } catch (err) {
      if (!quiet) this.fail(err);
    }
  }

  private runOf(lab: string | undefined) {
    return lab
      ? this.events.runOrder.some((id) => this.events.runs[id]?.lab === lab && this.events.runs[id]?.ok === undefined)
      : false;
  }

  /** Fetch one lab's status (no two at once for the same lab). */
  async refreshStatus(lab: string): Promise<void> {
    if (this.polling.has(lab)) return;
    this.polling.add(lab);
    try {
      const status = await this.api.status(lab);
      this.statuses = { ...this.statuses, [lab]: { status, at: Date.now() } };
      this.statusErrors = { ...this.statusErrors, [lab]: undefined };
    } catch (err) {
      this.statusErrors = { ...this.statusErrors, [lab]: asErrorInfo(err) };
    } finally {
      this.polling.delete(lab);
    }
  }

  fail(err: unknown) {
    this.error = asErrorInfo(err);
  }

  /** Run a user action; its error lands in the banner. */
  async act<T>(f: () => Promise<T>): Promise<T | undefined> {
    try {
      this.error = undefined;
      return await f();
    } catch (err) {
      this.fail(err);
      return undefined;
    }
  }
}

export const app = new AppState();
