import { promises as fs, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineEvent, HostStatus, LabSpec, LabState, LabStatus } from '../api/types.ts';
import { HalabError, toErrorInfo } from '../errors.ts';
import { SshRemote } from '../exec/ssh.ts';
import type { Remote } from '../exec/types.ts';
import { Supervisor } from '../hosts/supervisor.ts';
import { getProvider } from '../providers/index.ts';
import { bootstrapSteps } from '../plans/index.ts';
import type { LabContext } from '../providers/types.ts';
import { acquireLock, labDir, labTag, readState, writeState } from '../state/store.ts';
import { controlPlaneStatus } from './cp-status.ts';
import { runSteps, type Emit, type RunResult, type Step } from './runner.ts';

/**
 * Steps after the hosts exist. By default the bootstrap's (plans/index.ts); a test may register
 * its own list instead to build only part of a lab.
 */
export type PlanExtension = (spec: LabSpec) => Step<LabContext>[];
const extensions: PlanExtension[] = [];
export function registerPlanExtension(ext: PlanExtension) {
  extensions.push(ext);
}

/** An open lab: its state, its SSH connections, and the context steps and drills work with. */
export class LabHandle implements LabContext {
  private remotes = new Map<string, SshRemote>();
  readonly provider;
  constructor(public state: LabState, readonly dir: string) {
    this.provider = getProvider(state.spec.provider);
  }

  static async open(name: string): Promise<LabHandle> {
    const state = await readState(name);
    if (!state) throw new HalabError('NO_LAB', `there is no lab named ${name}`, { fix: 'see `halab list`, or create it with `halab up`' });
    return new LabHandle(state, labDir(name));
  }

  async save(): Promise<void> {
    await writeState(this.state);
  }

  remote(host: string): Remote {
    let r = this.remotes.get(host);
    if (!r) {
      const hs = this.state.hosts[host];
      if (!hs) throw new HalabError('NO_HOST', `lab ${this.state.name} has no host ${host}`, { fix: `hosts: ${this.state.spec.hosts.map((h) => h.name).join(', ')}` });
      if (!hs.hostKey) throw new HalabError('NO_HOST_KEY', `${host} has no recorded host key yet`, { fix: 'run `halab up` to finish creating the lab' });
      r = new SshRemote({
        host,
        address: hs.address,
        privateKey: readFileSync(join(this.dir, 'keys', 'id_ed25519')),
        pinnedHostKey: hs.hostKey,
        connectTimeoutMs: 5000,
      });
      this.remotes.set(host, r);
    }
    return r;
  }

  supervisor(host: string): Supervisor {
    return new Supervisor(this.remote(host));
  }

  async close(): Promise<void> {
    await Promise.all([...this.remotes.values()].map((r) => r.close()));
    this.remotes.clear();
  }
}

export interface UpOptions {
  emit: Emit;
  signal?: AbortSignal;
  /** Keep a half-built lab after a failure (default: tear it down). */
  keepOnFailure?: boolean;
  /** Create the hosts only (no Kubernetes): for debugging and for the provider's own tests. */
  hostsOnly?: boolean;
}

function sameSpec(a: LabSpec, b: LabSpec): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function planSteps(spec: LabSpec, o: { hostsOnly?: boolean } = {}): Step<LabContext>[] {
  const hosts = getProvider(spec.provider).createSteps();
  if (o.hostsOnly) return hosts;
  return [...hosts, ...(extensions.length ? extensions.flatMap((e) => e(spec)) : bootstrapSteps(spec))];
}

/**
 * Create the lab, or finish creating it: every step looks at reality first, so a run after a
 * crash or Ctrl-C resumes, and a run on a ready lab changes nothing. `spec` must be validated.
 */
export async function up(spec: LabSpec, o: UpOptions): Promise<RunResult> {
  const provider = getProvider(spec.provider);
  const steps = planSteps(spec, { hostsOnly: o.hostsOnly });
  const missing = (await provider.preflight()).filter((c) => c.required && !c.ok);
  if (missing.length) {
    throw new HalabError('PREREQUISITES', `missing prerequisites: ${missing.map((c) => c.title).join(', ')}`, {
      fix: missing.map((c) => c.fix).filter(Boolean).join('; '),
    });
  }
  const existing = await readState(spec.name);
  if (existing && !sameSpec(existing.spec, spec)) {
    throw new HalabError('LAB_EXISTS', `lab ${spec.name} already exists with a different spec`, {
      fix: `run \`halab down ${spec.name}\` first, or give this spec another name`,
    });
  }
  const release = await acquireLock(spec.name, 'up');
  const now = new Date().toISOString();
  const state: LabState = existing ?? {
    name: spec.name, spec, phase: 'creating', tag: labTag(spec.name), createdAt: now, updatedAt: now, completedSteps: [], hosts: {},
  };
  const lab = new LabHandle(state, labDir(spec.name));
  try {
    state.phase = 'creating';
    await lab.save();
    const res = await runSteps<LabContext>({
      lab: spec.name, action: 'up', steps, ctx: lab, emit: o.emit, signal: o.signal,
      onStepDone: async (id) => {
        if (!state.completedSteps.includes(id)) state.completedSteps.push(id);
        await lab.save();
      },
    });
    if (res.ok) {
      state.phase = 'ready';
      await lab.save();
    } else if (res.cancelled) {
      state.phase = 'interrupted';
      await lab.save();
    } else if (!o.keepOnFailure) {
      await lab.close();
      o.emit({ type: 'step:log', runId: res.runId, level: 'warn', message: `up failed: removing the half-built lab ${spec.name} (use --keep to keep it for debugging)`, at: Date.now() });
      await destroy(lab, o.emit, res.runId);
    } else {
      state.phase = 'failed';
      await lab.save();
    }
    return res;
  } finally {
    await lab.close();
    await release();
  }
}

async function destroy(lab: LabHandle, emit: Emit, runId: string): Promise<string[]> {
  const log = (message: string, opts: { level?: 'info' | 'warn' } = {}) =>
    emit({ type: 'step:log', runId, level: opts.level ?? 'info', message, at: Date.now() });
  lab.state.phase = 'destroying';
  await lab.save().catch(() => undefined);
  await lab.provider.destroy(lab.state, lab.dir, { log });
  const left = await lab.provider.leftovers(lab.state, lab.dir);
  if (left.length === 0) {
    await fs.rm(lab.dir, { recursive: true, force: true });
  }
  return left;
}

/** Remove everything of a lab, from its recorded state, in a fresh process if need be. */
export async function down(name: string, o: { emit: Emit }): Promise<RunResult & { leftovers: string[] }> {
  const lab = await LabHandle.open(name);
  const release = await acquireLock(name, 'down');
  let leftovers: string[] = [];
  const step: Step<LabHandle> = {
    id: 'down',
    title: `Remove lab ${name}: processes, disks, namespaces, network, state`,
    run: async (l, t) => {
      await l.close();
      const log = (m: string) => t.log(m);
      l.state.phase = 'destroying';
      await l.save();
      await l.provider.destroy(l.state, l.dir, { log });
      leftovers = await l.provider.leftovers(l.state, l.dir);
      if (leftovers.length) {
        throw new HalabError('LEFTOVERS', `lab ${name} was not removed completely`, {
          details: leftovers.join('\n'), fix: `run \`halab down ${name}\` again; if it persists, report it with this list`,
        });
      }
      await fs.rm(l.dir, { recursive: true, force: true });
    },
  };
  try {
    const res = await runSteps({ lab: name, action: 'down', steps: [step], ctx: lab, emit: o.emit });
    return { ...res, leftovers };
  } finally {
    await lab.close();
    if (leftovers.length) await release();
  }
}

export async function status(name: string): Promise<LabStatus> {
  const lab = await LabHandle.open(name);
  try {
    const hosts: HostStatus[] = await Promise.all(lab.state.spec.hosts.map(async (h) => {
      const base: HostStatus = { name: h.name, role: h.role, address: h.address, reachable: false, services: [] };
      if (!(await lab.provider.isPoweredOn(lab.state, h.name))) return { ...base, error: 'powered off' };
      try {
        const services = await lab.supervisor(h.name).status();
        return { ...base, reachable: true, services };
      } catch (err) {
        return { ...base, error: toErrorInfo(err).message };
      }
    }));
    const hasCluster = lab.state.completedSteps.includes('control-plane:start');
    const controlPlane = hasCluster ? await controlPlaneStatus(lab) : undefined;
    return { lab: name, phase: lab.state.phase, provider: lab.state.spec.provider, vip: lab.state.spec.vip, hosts, controlPlane };
  } finally {
    await lab.close();
  }
}

export type { EngineEvent };
