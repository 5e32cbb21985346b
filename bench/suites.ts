import type { EngineEvent } from '../provisioning/api/types.ts';
import { down, LabHandle, up } from '../provisioning/engine/lab.ts';
import { validateSpec } from '../provisioning/spec/validate.ts';
import { machineNetworks } from '../provisioning/machine.ts';
import { labCpu, labMemory } from './measure.ts';
import { drillBenches } from './drills.ts';
import { cliBench } from './cli.ts';
import { kubeadmBenches } from './kubeadm.ts';
import { qemuBenches } from './qemu.ts';

export interface Bench {
  name: string;
  title: string;
  run(): Promise<void>;
}

const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function benchSpec(name: string, subnet: string, extra: Record<string, unknown> = {}) {
  const v = validateSpec({ name, subnet, ...extra }, await machineNetworks());
  if (!v.spec) throw new Error(v.issues.map((i) => i.message).join('; '));
  return v.spec;
}

async function clusterBench() {
  const spec = await benchSpec('benchcp', '10.213.91.0/24', { bootstrap: 'fast' });
  const steps: [string, number][] = [];
  const emit = (e: EngineEvent) => {
    if (e.type === 'step:end') steps.push([e.stepId, e.durationMs]);
  };
  const t0 = Date.now();
  const res = await up(spec, { emit });
  const total = Date.now() - t0;
  if (!res.ok) throw new Error(res.error?.message);
  console.log(
    `  nothing -> ready control plane (API through the VIP, etcd 3/3, 3 apiservers behind both HAProxies, VIP on lb1, leases held, 2 hollow nodes Ready): ${fmt(total)}`,
  );
  for (const [id, ms] of steps) console.log(`    ${id.padEnd(26)} ${fmt(ms)}`);
  const lab = await LabHandle.open(spec.name);
  try {
    const mem = await labMemory(lab);
    console.log(
      `  memory of all lab processes: ${mem.processes} processes, PSS ${mem.pssMiB.toFixed(0)} MiB (RSS sum ${mem.rssMiB.toFixed(0)} MiB)`,
    );
    for (const [c, v] of Object.entries(mem.byCommand).sort((a, b) => b[1].pssMiB - a[1].pssMiB)) {
      if (v.pssMiB >= 1) console.log(`    ${c.padEnd(24)} x${v.n}  ${v.pssMiB.toFixed(1)} MiB`);
    }
    await new Promise((r) => setTimeout(r, 5000));
    console.log(`  CPU at idle (20 s): ${(await labCpu(lab, 20)).toFixed(0)} % of one core (2 cores = 200 %)`);
  } finally {
    await lab.close();
  }
  const t1 = Date.now();
  const d = await down(spec.name, { emit: () => {} });
  console.log(`  halab down: ${fmt(Date.now() - t1)} (leftovers: ${d.leftovers.length})`);
}

export const benches: Bench[] = [
  {
    name: 'hosts',
    title: "Foundation: the reference lab's 7 hosts (netns provider)",
    async run() {
      const spec = await benchSpec('benchhosts', '10.213.90.0/24', { bootstrap: 'fast' });
      const steps: Record<string, number> = {};
      const emit = (e: EngineEvent) => {
        if (e.type === 'step:end') steps[e.stepId] = e.durationMs;
      };
      const t0 = Date.now();
      const res = await up(spec, { emit, hostsOnly: true });
      const total = Date.now() - t0;
      if (!res.ok) throw new Error(res.error?.message);
      console.log(`  nothing -> all 7 hosts reachable over SSH: ${fmt(total)}`);
      for (const [id, ms] of Object.entries(steps)) console.log(`    ${id.padEnd(22)} ${fmt(ms)}`);
      const lab = await LabHandle.open(spec.name);
      const mem = await labMemory(lab);
      console.log(
        `  memory of the lab's processes: ${mem.processes} processes, PSS ${mem.pssMiB.toFixed(1)} MiB (RSS sum ${mem.rssMiB.toFixed(1)} MiB)`,
      );
      for (const [c, v] of Object.entries(mem.byCommand).sort())
        console.log(`    ${c.padEnd(16)} x${v.n}  ${v.pssMiB.toFixed(1)} MiB`);
      console.log(`  CPU at idle (10 s): ${(await labCpu(lab, 10)).toFixed(1)} % of one core`);
      await lab.close();
      const t1 = Date.now();
      const d = await down(spec.name, { emit: () => {} });
      console.log(`  halab down: ${fmt(Date.now() - t1)} (leftovers: ${d.leftovers.length})`);
    },
  },
  {
    name: 'cluster',
    title: 'Control plane: the reference lab from nothing to ready (fast path, binaries cached)',
    run: clusterBench,
  },
  ...drillBenches,
  cliBench,
  ...kubeadmBenches,
  ...qemuBenches,
];
