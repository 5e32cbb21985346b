// Test helpers (imported by unit tests only): a lab spec, and a fake SSH layer whose hosts keep
// uploaded files in memory and answer commands through a handler the test provides.

import { createHash } from 'node:crypto';
import type { LabSpec, LabState } from '../api/types.ts';
import { CommandError } from '../errors.ts';
import type { ExecOptions, ExecResult, Remote } from '../exec/types.ts';
import { fastBootstrap } from '../bootstraps/fast/index.ts';
import { FakeServices } from '../hosts/fake-services.testutil.ts';
import type { LabContext, NodeProvider } from '../providers/types.ts';
import { hostDisks } from '../spec/plan.ts';

export function testSpec(over: Partial<LabSpec> = {}): LabSpec {
  return {
    apiVersion: 'halab/v1',
    kind: 'Lab',
    name: 'etcddev',
    provider: 'netns',
    bootstrap: 'fast',
    apiserverEtcd: 'all',
    subnet: '10.213.51.0/24',
    vip: '10.213.51.10',
    kubernetesVersion: 'v1.34.4',
    hosts: [
      { name: 'lb1', role: 'lb', address: '10.213.51.11' },
      { name: 'lb2', role: 'lb', address: '10.213.51.12' },
      { name: 'm1', role: 'master', address: '10.213.51.21' },
      { name: 'm2', role: 'master', address: '10.213.51.22' },
      { name: 'm3', role: 'master', address: '10.213.51.23' },
      { name: 'w1', role: 'worker', address: '10.213.51.31' },
      { name: 'w2', role: 'worker', address: '10.213.51.32' },
    ],
    disks: { etcdData: '512Mi', etcdSnapshots: '256Mi', runtime: '4Gi' },
    timers: {
      vrrpAdvertInt: 0.2,
      haproxyCheckInterMs: 500,
      haproxyCheckFall: 2,
      haproxyCheckRise: 2,
      etcdHeartbeatMs: 100,
      etcdElectionMs: 1000,
      leaseDurationS: 8,
      renewDeadlineS: 6,
      retryPeriodS: 2,
      nodeStatusUpdateFrequencyS: 10,
      nodeMonitorGracePeriodS: 20,
      podEvictionTolerationS: 10,
    },
    snapshots: { intervalS: 60, retain: 5 },
    ...over,
  };
}

export type Reply = Partial<Pick<ExecResult, 'stdout' | 'stderr' | 'exitCode'>>;
export type Handler = (
  host: FakeHost,
  command: string,
  opts: ExecOptions,
) => Reply | undefined | Promise<Reply | undefined>;

export class FakeHost implements Remote {
  readonly files = new Map<string, { content: Buffer; mode: number }>();
  readonly commands: string[] = [];
  readonly uploads: string[] = [];
  constructor(
    readonly host: string,
    private readonly handler: Handler,
  ) {}

  sha(path: string): string | undefined {
    const f = this.files.get(path);
    return f ? createHash('sha256').update(f.content).digest('hex') : undefined;
  }

  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    this.commands.push(command);
    const r = (await this.handler(this, command, opts)) ?? {};
    const res: ExecResult = {
      command,
      exitCode: r.exitCode ?? 0,
      stdout: r.stdout ?? '',
      stderr: r.stderr ?? '',
      durationMs: 1,
    };
    if (res.exitCode !== 0 && !opts.allowFail) throw new CommandError({ ...res, host: this.host });
    return res;
  }

  async upload(path: string, content: string | Buffer, mode = 0o644): Promise<void> {
    this.uploads.push(path);
    this.files.set(path, { content: Buffer.from(content), mode });
  }

  async close(): Promise<void> {}
}

export interface FakeLab extends LabContext {
  hosts: Map<string, FakeHost>;
  /** Each host's in-memory service manager (its input files are the host's files). */
  svc: Map<string, FakeServices>;
  poweredOff: Set<string>;
}

export function fakeLab(spec: LabSpec, handler: Handler, dir = '/nonexistent'): FakeLab {
  const hosts = new Map(spec.hosts.map((h) => [h.name, new FakeHost(h.name, handler)]));
  const poweredOff = new Set<string>();
  const state: LabState = {
    name: spec.name,
    spec,
    phase: 'ready',
    tag: 'hl000000',
    createdAt: '',
    updatedAt: '',
    completedSteps: [],
    hosts: Object.fromEntries(spec.hosts.map((h) => [h.name, { name: h.name, role: h.role, address: h.address }])),
  };
  const provider = {
    name: 'netns',
    isPoweredOn: async (_lab: LabContext, h: string) => !poweredOff.has(h),
  } as unknown as NodeProvider;
  const svc = new Map([...hosts].map(([name, h]) => [name, new FakeServices(h.files)]));
  return {
    state,
    dir,
    provider,
    bootstrap: fastBootstrap,
    sshKey: { privateKeyPath: `${dir}/keys/id_ed25519`, publicKeyPath: `${dir}/keys/id_ed25519.pub` },
    disks: (h: string) => hostDisks(spec, spec.hosts.find((x) => x.name === h)?.role ?? 'lb'),
    hosts,
    svc,
    poweredOff,
    services: (h: string) => {
      const s = svc.get(h);
      if (!s) throw new Error(`no host ${h}`);
      return s;
    },
    save: async () => {},
    remote: (h: string) => {
      const r = hosts.get(h);
      if (!r) throw new Error(`no host ${h}`);
      return r;
    },
  };
}

/** Answer the checksum probes of distribute.ts / the state probes from the in-memory files. */
export function answerFileProbes(host: FakeHost, command: string): Reply | undefined {
  if (command.startsWith('for f in ')) {
    const paths = /^for f in (.*); do$/m.exec(command)?.[1]?.split(' ') ?? [];
    return {
      stdout: paths
        .map((p) => {
          const f = host.files.get(p);
          return f ? `${f.mode.toString(8)} ${host.sha(p)} ${p}` : `missing - ${p}`;
        })
        .join('\n'),
    };
  }
  if (command.startsWith('mkdir -p')) return {};
  return undefined;
}
