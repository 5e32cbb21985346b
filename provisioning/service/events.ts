// One event stream per client, batched: engine events go out in arrays, log lines (step:log,
// drill:log) are coalesced for up to `logFlushMs`, terminal output for `terminalFlushMs` (and
// consecutive chunks of one terminal are joined). Everything else flushes at once, after the
// logs buffered before it, so the order is kept. Until the client says it is ready, events are
// queued (bounded: the oldest log lines go first when the queue is full).
import type { LabEvent } from '../api/lab-api.ts';

export interface ChannelOptions {
  logFlushMs?: number;
  terminalFlushMs?: number;
  /** Most events held while the client is not ready. */
  maxQueue?: number;
}

const LOG_TYPES = new Set(['step:log', 'drill:log']);

export class EventChannel {
  private buf: LabEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerDue = Infinity;
  private isReady = false;
  private closed = false;
  /** Events dropped while the queue was full (reported once the client is ready). */
  dropped = 0;
  private readonly logMs: number;
  private readonly termMs: number;
  private readonly maxQueue: number;

  constructor(
    private readonly send: (batch: LabEvent[]) => void,
    o: ChannelOptions = {},
  ) {
    this.logMs = o.logFlushMs ?? 100;
    this.termMs = o.terminalFlushMs ?? 15;
    this.maxQueue = o.maxQueue ?? 5000;
  }

  get ready(): boolean {
    return this.isReady;
  }

  push(e: LabEvent): void {
    if (this.closed) return;
    const last = this.buf[this.buf.length - 1];
    if (e.type === 'terminal:data' && last?.type === 'terminal:data' && last.id === e.id) {
      this.buf[this.buf.length - 1] = { ...last, data: last.data + e.data };
    } else {
      this.buf.push(e);
    }
    if (!this.isReady) {
      this.trim();
      return;
    }
    if (LOG_TYPES.has(e.type)) this.schedule(this.logMs);
    else if (e.type === 'terminal:data') this.schedule(this.termMs);
    else this.flush();
  }

  /** The client can take events now: send what was queued. */
  markReady(): void {
    if (this.closed || this.isReady) return;
    this.isReady = true;
    if (this.dropped) {
      this.buf.unshift({
        type: 'error',
        error: {
          code: 'EVENTS_DROPPED',
          message: `${this.dropped} log events were dropped before the window was ready`,
        },
      });
    }
    this.flush();
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = Infinity;
    if (!this.buf.length || !this.isReady || this.closed) return;
    const batch = this.buf;
    this.buf = [];
    this.send(batch);
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.closed = true;
    this.buf = [];
  }

  private schedule(ms: number): void {
    const due = Date.now() + ms;
    if (this.timer && this.timerDue <= due) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => this.flush(), ms);
  }

  private trim(): void {
    while (this.buf.length > this.maxQueue) {
      const i = this.buf.findIndex((x) => LOG_TYPES.has(x.type) || x.type === 'terminal:data');
      this.buf.splice(i >= 0 ? i : 0, 1);
      this.dropped++;
    }
  }
}
