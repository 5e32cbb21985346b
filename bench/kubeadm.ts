// Bench `kubeadm`: time to a ready kubeadm lab (every artifact and image cached) beside the fast
// lab, and the memory (PSS) of each, with the targets (kubeadm lab on 2 cores: ready in 90 s,
// 2.5 GiB PSS).
// Bench `floor`: the phases of `halab up` that have a plain-script equivalent (hosts reachable over
// SSH, a TLS etcd cluster healthy, HAProxy + keepalived holding the VIP), each beside
// bench/floor/floor.sh, which does the same with the same tools, in the same run; HA Lab / floor.
// HA Lab's phase times are sums of its steps' durations (step:end events of the in-process `up`).
//
// Each figure is measured HALAB_BENCH_RUNS times (default: 2 full labs of each bootstrap, 5 rounds
// of the floor) and shown as median and min, with the 1-minute load average before each
// measurement (the machine is shared). Labs bnfast, bnkube, bnpfast, bnpkube and the floor's bnfl in
// 10.213.200.0/24 to 10.213.204.0/24; every lab and everything the floor made is removed, also on failure.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineEvent } from '../provisioning/api/types.ts';
import { down, LabHandle, up } from '../provisioning/engine/lab.ts';
import { labPlan } from '../provisioning/engine/plan.ts';
import { machineNetworks } from '../provisioning/machine.ts';
import { validateSpec } from '../provisioning/spec/validate.ts';
import { labMemory, type MemoryFigures } from './measure.ts';
import type { Bench } from './suites.ts';

const FLOOR = join(import.meta.dirname, 'floor', 'floor.sh');
const runCount = (dflt: number) => Math.max(1, Number(process.env.HALAB_BENCH_RUNS ?? dflt) || dflt);
const RUNS = runCount(2);
const FLOOR_RUNS = runCount(5);
const TARGET_READY_S = 90;
const TARGET_PSS_MIB = 2.5 * 1024;

type Bootstrap = 'fast' | 'kubeadm';

/** One `up` of a lab: the wall time and every step's duration, in plan order. */
export interface LabRun {
  bootstrap: Bootstrap;
  totalS: number;
  steps: { id: string; status: string; ms: number }[];
  load: number;
  memory?: MemoryFigures;
}

/** One run of floor.sh: its phases and steps in seconds. */
export interface FloorRun {
  phases: Record<string, number>;
  steps: Record<string, number>;
  load: number;
}

/** The phases compared with the floor: HA Lab's steps summed, and the floor's figure. */
export interface Phase {
  label: string;
  short: string;
  /** The HA Lab steps whose durations are summed. */
  steps: (id: string) => boolean;
  stepsText: string;
  floor: (f: FloorRun) => number | undefined;
  floorText: string;
  sub?: boolean;
}

export const PHASES: Phase[] = [
  {
    label: 'hosts reachable over SSH (7)',
    short: 'hosts',
    steps: (id) => id === 'lab:key' || id.startsWith('netns:'),
    stepsText: 'lab:key + netns:*',
    floor: (f) => f.phases.hosts,
    floorText: 'bridge, netns, veths, host keys, sshd, ssh login on every host',
  },
  {
    label: 'TLS etcd cluster healthy, with its PKI',
    short: 'etcd+pki',
    steps: (id) => id.startsWith('pki:') || id.startsWith('etcd:'),
    stepsText: 'pki:generate + pki:distribute + etcd:members + etcd:healthy',
    floor: (f) => f.phases.etcd,
    floorText: 'openssl certs, 3 members, endpoint health --cluster',
  },
  {
    label: 'PKI',
    short: 'pki',
    sub: true,
    steps: (id) => id.startsWith('pki:'),
    stepsText: 'pki:generate + pki:distribute (the whole Kubernetes PKI and kubeconfigs, with kubeadm)',
    floor: (f) => f.steps.certs,
    floorText: 'openssl: etcd CA, 3 member certs, 1 client cert',
  },
  {
    label: 'etcd start -> healthy',
    short: 'etcd',
    sub: true,
    steps: (id) => id.startsWith('etcd:'),
    stepsText: 'etcd:members + etcd:healthy',
    floor: (f) => f.steps['etcd-start-healthy'],
    floorText: '3 members started, endpoint health --cluster polled',
  },
  {
    label: 'HAProxy + keepalived holding the VIP',
    short: 'lb',
    steps: (id) => id.startsWith('lb:'),
    stepsText: 'lb:configs + lb:haproxy + lb:keepalived + lb:ready',
    floor: (f) => f.phases.lb,
    floorText: '2 haproxy, 2 keepalived, VIP on lb1 only, monitor URIs answering',
  },
  {
    label: 'the three phases',
    short: 'all',
    steps: (id) => id === 'lab:key' || /^(netns|pki|etcd|lb):/.test(id),
    stepsText: 'all of the above',
    floor: (f) => (f.phases.hosts ?? 0) + (f.phases.etcd ?? 0) + (f.phases.lb ?? 0),
    floorText: 'the whole script',
  },
];

/** Labs measured by the `kubeadm` suite in this process (the `floor` suite shows their phases too). */
const fullRuns: LabRun[] = [];

export const load1 = (): number => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const min = (xs: number[]) => Math.min(...xs);
const s1 = (x: number) => x.toFixed(1);
const s2 = (x: number) => x.toFixed(2);
/** "median (min x)" of `xs`; one value alone. */
export const medMin = (xs: number[], f: (x: number) => string = s1): string =>
  xs.length === 1 ? f(xs[0]!) : `${f(median(xs))} (min ${f(min(xs))})`;
const loads = (xs: number[]) => (xs.length ? xs.map((x) => x.toFixed(1)).join(', ') : '—');

/** Sum of the durations of `run`'s steps picked by `phase`, in seconds. */
export function phaseSeconds(run: Pick<LabRun, 'steps'>, phase: Pick<Phase, 'steps'>): number {
  return run.steps.filter((s) => phase.steps(s.id)).reduce((a, s) => a + s.ms, 0) / 1000;
}

/** The "phase NAME SECONDS" and "step NAME SECONDS" lines of floor.sh. */
export function parseFloor(stdout: string, load: number): FloorRun {
  const r: FloorRun = { phases: {}, steps: {}, load };
  for (const l of stdout.split('\n')) {
    const m = /^(phase|step) (\S+) ([\d.]+)$/.exec(l.trim());
    if (m) (m[1] === 'phase' ? r.phases : r.steps)[m[2]!] = Number(m[3]);
  }
  for (const p of ['hosts', 'etcd', 'lb'])
    if (r.phases[p] === undefined) throw new Error(`floor.sh printed no time for phase ${p}`);
  return r;
}

async function specFor(name: string, subnet: string, bootstrap: Bootstrap) {
  const v = validateSpec({ name, subnet, bootstrap }, await machineNetworks());
  if (!v.spec) throw new Error(v.issues.map((i) => i.message).join('; '));
  return v.spec;
}

/**
 * `up` a lab from nothing (through `lastStep` only, when given), record its steps, measure its
 * memory when asked (after `settleS`), and remove it whatever happens.
 */
async function measureLab(
  name: string,
  subnet: string,
  bootstrap: Bootstrap,
  o: { lastStep?: string; memory?: boolean; settleS?: number } = {},
): Promise<LabRun> {
  const spec = await specFor(name, subnet, bootstrap);
  let plan = labPlan(spec);
  if (o.lastStep) plan = plan.slice(0, plan.findIndex((s) => s.id === o.lastStep) + 1);
  const steps: LabRun['steps'] = [];
  const emit = (e: EngineEvent) => {
    if (e.type === 'step:end') steps.push({ id: e.stepId, status: e.status, ms: e.durationMs });
  };
  const load = load1();
  try {
    const t0 = performance.now();
    const res = await up(spec, { emit, plan });
    const totalS = (performance.now() - t0) / 1000;
    if (!res.ok) throw new Error(`up ${name} failed at ${steps.at(-1)?.id}: ${res.error?.message}`);
    const run: LabRun = { bootstrap, totalS, steps, load };
    if (o.memory) {
      await new Promise((r) => setTimeout(r, (o.settleS ?? 5) * 1000));
      const lab = await LabHandle.open(spec.name);
      try {
        run.memory = await labMemory(lab);
      } finally {
        await lab.close();
      }
    }
    return run;
  } finally {
    const d = await down(spec.name, { emit: () => {} }).catch((err: Error) => ({ leftovers: [err.message] }));
    if (d.leftovers.length) console.log(`  ${name}: down left ${d.leftovers.join(', ')}`);
  }
}

const FLOOR_NAME = 'bnfl';
const FLOOR_PREFIX = '10.213.204';

/** What floor.sh could have left behind (it removes everything itself; this checks it did). */
function floorLeftovers(): string[] {
  const left: string[] = [];
  const nss = (() => {
    try {
      return readdirSync('/run/netns');
    } catch {
      return [];
    }
  })();
  for (const n of nss) if (n.startsWith(`${FLOOR_NAME}-`)) left.push(`network namespace ${n}`);
  for (const l of readdirSync('/sys/class/net')) if (l.startsWith(FLOOR_NAME)) left.push(`link ${l}`);
  for (const d of readdirSync('/tmp')) if (d.startsWith(`${FLOOR_NAME}-floor.`)) left.push(`directory /tmp/${d}`);
  return left;
}

async function measureFloor(): Promise<FloorRun> {
  const load = load1();
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile('bash', [FLOOR, FLOOR_NAME, FLOOR_PREFIX], { timeout: 300_000 }, (err, out, errOut) =>
      err ? reject(new Error(`floor.sh failed: ${errOut.trim().split('\n').slice(-3).join(' / ')}`)) : resolve(out),
    ),
  );
  const left = floorLeftovers();
  if (left.length) console.log(`  floor.sh left: ${left.join(', ')}`);
  return parseFloor(stdout, load);
}

function labLine(r: LabRun): string {
  const mem = r.memory ? `, PSS ${r.memory.pssMiB.toFixed(0)} MiB (${r.memory.processes} processes)` : '';
  return `${r.bootstrap.padEnd(8)} ready in ${s1(r.totalS)} s (load ${r.load.toFixed(1)})${mem}`;
}

async function kubeadmBench(): Promise<void> {
  const labs: Record<Bootstrap, { name: string; subnet: string }> = {
    fast: { name: 'bnfast', subnet: '10.213.200.0/24' },
    kubeadm: { name: 'bnkube', subnet: '10.213.201.0/24' },
  };
  const runs: LabRun[] = [];
  for (let i = 1; i <= RUNS; i++) {
    for (const b of ['fast', 'kubeadm'] as const) {
      const r = await measureLab(labs[b].name, labs[b].subnet, b, { memory: true });
      const cached = r.steps.filter((s) => /artifacts$/.test(s.id)).every((s) => s.status === 'skipped');
      console.log(`  run ${i}: ${labLine(r)}${cached ? '' : '  (artifacts were NOT all cached: not comparable)'}`);
      runs.push(r);
      fullRuns.push(r);
    }
  }
  const of = (b: Bootstrap) => runs.filter((r) => r.bootstrap === b);
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  const k = of('kubeadm');
  const kReady = median(k.map((r) => r.totalS));
  const kPss = median(k.map((r) => r.memory!.pssMiB));
  console.log(
    `\n  ${'lab'.padEnd(10)} ${'ready s, median (min)'.padEnd(24)} ${'PSS MiB, median (min)'.padEnd(24)} load`,
  );
  for (const b of ['fast', 'kubeadm'] as const) {
    const rs = of(b);
    console.log(
      `  ${b.padEnd(10)} ${medMin(rs.map((r) => r.totalS)).padEnd(24)} ${medMin(
        rs.map((r) => r.memory!.pssMiB),
        (x) => x.toFixed(0),
      ).padEnd(24)} ${loads(rs.map((r) => r.load))}`,
    );
  }
  console.log(
    `  targets (kubeadm lab, 2 cores): ready <= ${TARGET_READY_S} s: ${verdict(kReady <= TARGET_READY_S)}; PSS <= 2.5 GiB: ${verdict(kPss <= TARGET_PSS_MIB)}`,
  );
  console.log(
    `  kubeadm / fast: ready x${(kReady / median(of('fast').map((r) => r.totalS))).toFixed(1)}, PSS x${(
      kPss / median(of('fast').map((r) => r.memory!.pssMiB))
    ).toFixed(1)}`,
  );
  for (const b of ['fast', 'kubeadm'] as const) {
    const last = of(b).at(-1)!.memory!;
    const top = Object.entries(last.byCommand)
      .sort((a, c) => c[1].pssMiB - a[1].pssMiB)
      .filter(([, v]) => v.pssMiB >= 5)
      .map(([c, v]) => `${c} x${v.n} ${v.pssMiB.toFixed(0)}`);
    console.log(`  ${b} PSS by command (MiB, last run): ${top.join(', ')}`);
  }
  console.log(`\n  steps (s): median, and each run${' '.repeat(4)}${'fast'.padEnd(26)} kubeadm`);
  // in the kubeadm plan's order, then the fast-only steps
  const ids = [...new Set([...of('kubeadm'), ...of('fast')].flatMap((r) => r.steps.map((s) => s.id)))];
  for (const id of ids) {
    const col = (b: Bootstrap) => {
      const xs = of(b).map((r) => r.steps.filter((s) => s.id === id).reduce((a, x) => a + x.ms / 1000, 0));
      if (!of(b).some((r) => r.steps.some((x) => x.id === id))) return '—'.padEnd(26);
      return `${s2(median(xs)).padStart(6)}  (${xs.map(s2).join(', ')})`.padEnd(26);
    };
    console.log(`    ${id.padEnd(32)} ${col('fast')} ${col('kubeadm')}`);
  }
}

async function floorBench(): Promise<void> {
  const labs: Record<Bootstrap, { name: string; subnet: string }> = {
    fast: { name: 'bnpfast', subnet: '10.213.202.0/24' },
    kubeadm: { name: 'bnpkube', subnet: '10.213.203.0/24' },
  };
  const runs: LabRun[] = [];
  const floors: FloorRun[] = [];
  // interleaved, so the load the machine is under weighs on both sides alike
  for (let i = 1; i <= FLOOR_RUNS; i++) {
    const f = await measureFloor();
    floors.push(f);
    console.log(
      `  run ${i}: floor.sh        ${PHASES.map((x) => `${x.short} ${s2(x.floor(f) ?? NaN)} s`).join(', ')} (load ${f.load.toFixed(1)})`,
    );
    for (const b of ['kubeadm', 'fast'] as const) {
      const r = await measureLab(labs[b].name, labs[b].subnet, b, { lastStep: 'lb:ready' });
      runs.push(r);
      console.log(
        `  run ${i}: HA Lab ${b.padEnd(8)} ${PHASES.map((x) => `${x.short} ${s2(phaseSeconds(r, x))} s`).join(', ')} (load ${r.load.toFixed(1)})`,
      );
    }
  }
  const of = (b: Bootstrap) => runs.filter((r) => r.bootstrap === b);
  const cell = (xs: number[]) => medMin(xs, s2);
  const ratio = (a: number[], f: number[]) => `x${(median(a) / median(f)).toFixed(1)}`;
  console.log(
    `\n  HA Lab: \`up\` through lb:ready, the steps of each phase summed; floor: bench/floor/floor.sh. Median (min) of ${FLOOR_RUNS}, seconds; ratio = HA Lab / floor (medians).`,
  );
  console.log(
    `  ${'phase'.padEnd(42)} ${'HA Lab kubeadm'.padEnd(18)} ${'ratio'.padEnd(6)} ${'HA Lab fast'.padEnd(18)} ${'ratio'.padEnd(6)} ${'floor'.padEnd(18)}`,
  );
  for (const p of PHASES) {
    const fl = floors.map(p.floor).filter((x): x is number => x !== undefined);
    const k = of('kubeadm').map((r) => phaseSeconds(r, p));
    const fa = of('fast').map((r) => phaseSeconds(r, p));
    const label = p.sub ? `  of which ${p.label}` : p.label;
    console.log(
      `  ${label.padEnd(42)} ${cell(k).padEnd(18)} ${ratio(k, fl).padEnd(6)} ${cell(fa).padEnd(18)} ${ratio(fa, fl).padEnd(6)} ${cell(fl).padEnd(18)}`,
    );
  }
  console.log(
    `  load (1 min) before each: floor ${loads(floors.map((f) => f.load))}; kubeadm ${loads(of('kubeadm').map((r) => r.load))}; fast ${loads(of('fast').map((r) => r.load))}`,
  );
  console.log('  what is summed:');
  for (const p of PHASES) console.log(`    ${p.label.padEnd(40)} HA Lab ${p.stepsText}; floor: ${p.floorText}`);
  console.log(`  the phases' steps, median (s)   ${'kubeadm'.padStart(8)} ${'fast'.padStart(8)}`);
  for (const id of [...new Set(runs.flatMap((r) => r.steps.map((s) => s.id)))]) {
    if (!PHASES.at(-1)!.steps(id)) continue;
    const col = (b: Bootstrap) =>
      s2(median(of(b).flatMap((r) => r.steps.filter((s) => s.id === id).map((s) => s.ms / 1000)))).padStart(8);
    console.log(`    ${id.padEnd(28)} ${col('kubeadm')} ${col('fast')}`);
  }
  const floorSteps = Object.keys(floors[0]!.steps);
  console.log(
    `  floor.sh's steps, median (s): ${floorSteps.map((s) => `${s} ${s2(median(floors.map((f) => f.steps[s]!)))}`).join(', ')}`,
  );
  if (fullRuns.length) {
    const line = (b: Bootstrap) =>
      PHASES.filter((p) => !p.sub)
        .map((p) => s2(median(fullRuns.filter((r) => r.bootstrap === b).map((r) => phaseSeconds(r, p)))))
        .join(' / ');
    console.log(
      `  the same phases inside the full ups of the kubeadm suite above (${PHASES.filter((p) => !p.sub)
        .map((p) => p.short)
        .join(' / ')}, median s): kubeadm ${line('kubeadm')}; fast ${line('fast')}`,
    );
  }
}

export const kubeadmBenches: Bench[] = [
  {
    name: 'kubeadm',
    title: `Ready kubeadm lab beside the fast lab: time from nothing to ready and memory (PSS), artifacts and images cached, ${RUNS} runs each`,
    run: kubeadmBench,
  },
  {
    name: 'floor',
    title: `HA Lab's first phases beside a plain shell script doing the same (bench/floor/floor.sh), ${FLOOR_RUNS} runs each, interleaved`,
    run: floorBench,
  },
];
