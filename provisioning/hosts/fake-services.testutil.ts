// An in-memory service manager for unit tests: services, their fingerprints and up/down state,
// and the input files they were given. Every action is recorded in `actions`.
import type { ServiceStatus } from '../api/types.ts';
import { sha256 } from './files.ts';
import type { EnsureResult, FileSpec, ServiceAction, ServiceCheck, ServiceDef, ServiceManager } from './services.ts';
import { fingerprint } from './supervisor.ts';

interface Svc {
  def: ServiceDef;
  applied: string;
  up: boolean;
  wantedUp: boolean;
  pid: number;
  restarts: number;
}

let nextPid = 100;

export class FakeServices implements ServiceManager {
  readonly services = new Map<string, Svc>();
  readonly actions: string[] = [];
  /** Files on the "host" (inputs land here). */
  readonly files: Map<string, { content: Buffer; mode: number }>;

  constructor(files?: Map<string, { content: Buffer; mode: number }>) {
    this.files = files ?? new Map();
  }

  private stale(inputs: FileSpec[]): FileSpec[] {
    return inputs.filter((f) => {
      const have = this.files.get(f.path);
      return !have || sha256(have.content) !== sha256(f.content) || have.mode !== f.mode;
    });
  }

  async check(def: ServiceDef, inputs: FileSpec[] = []): Promise<ServiceCheck> {
    const s = this.services.get(def.name);
    if (!s) return { state: 'absent', up: false, wantedUp: false };
    const current = s.applied === fingerprint(def, inputs) && this.stale(inputs).length === 0;
    return { state: current ? 'current' : 'changed', up: s.up, wantedUp: s.wantedUp, pid: s.up ? s.pid : undefined };
  }

  async ensure(def: ServiceDef, inputs: FileSpec[] = []): Promise<EnsureResult> {
    const c = await this.check(def, inputs);
    if (c.state === 'current') {
      if (c.wantedUp || def.down) return 'unchanged';
      await this.start(def.name);
      return 'started';
    }
    for (const f of this.stale(inputs)) this.files.set(f.path, { content: Buffer.from(f.content), mode: f.mode });
    const old = this.services.get(def.name);
    const up = !def.down;
    this.services.set(def.name, {
      def,
      applied: fingerprint(def, inputs),
      up,
      wantedUp: up,
      pid: up ? nextPid++ : 0,
      restarts: old?.restarts ?? 0,
    });
    this.actions.push(`${c.state === 'absent' ? 'install' : 'update'} ${def.name}`);
    return c.state === 'absent' ? 'installed' : 'updated';
  }

  async remove(name: string) {
    this.services.delete(name);
    this.actions.push(`remove ${name}`);
  }

  private get(name: string): Svc {
    const s = this.services.get(name);
    if (!s) throw new Error(`no service ${name}`);
    return s;
  }

  async start(name: string) {
    const s = this.get(name);
    if (!s.up) s.pid = nextPid++;
    Object.assign(s, { up: true, wantedUp: true });
    this.actions.push(`start ${name}`);
  }
  async stop(name: string) {
    Object.assign(this.get(name), { up: false, wantedUp: false });
    this.actions.push(`stop ${name}`);
  }
  async kill(name: string) {
    Object.assign(this.get(name), { up: false, wantedUp: false });
    this.actions.push(`kill ${name}`);
  }
  async restart(name: string) {
    const s = this.get(name);
    Object.assign(s, { up: true, wantedUp: true, pid: nextPid++ });
    this.actions.push(`restart ${name}`);
  }
  async once(name: string) {
    this.actions.push(`once ${name}`);
  }
  async signal(name: string, sig: string) {
    this.actions.push(`signal ${name} ${sig}`);
  }
  async waitUp(name: string) {
    this.get(name);
  }
  async status(): Promise<ServiceStatus[]> {
    return [...this.services.entries()]
      .map(([name, s]) => ({
        name,
        up: s.up,
        wantedUp: s.wantedUp,
        pid: s.up ? s.pid : undefined,
        uptimeS: s.up ? 1 : undefined,
        restarts: s.restarts,
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }
  command(name: string | string[], action: ServiceAction): string {
    return `fake-svc ${action} ${([] as string[]).concat(name).join(' ')}`;
  }
  logPath(name: string) {
    return `/var/log/fake/${name}`;
  }
  readonly bootTasks = new Map<string, string>();
  async ensureBootTask(name: string, script: string) {
    const changed = this.bootTasks.get(name) !== script;
    this.bootTasks.set(name, script);
    return changed;
  }
  bootLogPath() {
    return '/var/log/fake/boot.log';
  }
}
