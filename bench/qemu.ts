// Bench `qemu`: the qemu provider's figures, each with its target. The image build time comes
// from the cache's record of the build (a rebuild is a full debootstrap, minutes: not redone
// here); boot-to-SSH, memory and the VIP takeover are measured on a lab of 3 VMs (lb1, lb2, m1)
// built with up's steps up to the load balancers (hosts, PKI, etcd on m1's disks, HAProxy,
// keepalived), the same lab as tests/integration/qemu.test.ts: under TCG a control plane does
// not start in useful time. Lab bnvm in 10.213.246.0/24; removed at the end, also on failure.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineEvent } from '../provisioning/api/types.ts';
import { lbFailover } from '../provisioning/drills/catalog/lb-failover.ts';
import { executeDrill, type Drill } from '../provisioning/drills/engine.ts';
import { down, LabHandle, labPlanThrough, up } from '../provisioning/engine/lab.ts';
import { machineNetworks } from '../provisioning/machine.ts';
import { detectAccelerator, TCG_TIMERS } from '../provisioning/providers/qemu/accel.ts';
import { imagePaths, imageVersion } from '../provisioning/providers/qemu/image.ts';
import { validateSpec } from '../provisioning/spec/validate.ts';
import { load1 } from './kubeadm.ts';
import { labMemory } from './measure.ts';
import type { Bench } from './suites.ts';

const NET = '10.213.246';
/** Targets: TCG (emulated CPU, this machine) and KVM/HVF. */
const TARGETS = {
  imageBuildS: 300,
  bootToSshS: { tcg: 120, fast: 20 },
  pssMiB: { tcg: 650, fast: 600 },
};

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const verdict = (ok: boolean) => (ok ? 'within target' : 'OVER TARGET');

async function qemuBench(): Promise<void> {
  const accel = detectAccelerator();
  const slow = accel.accel === 'tcg';
  console.log(`  accelerator: ${accel.accel} (${accel.why}); 1-min load before: ${load1().toFixed(1)}`);

  // 1. image build, from the cache's manifest (written when the image was built)
  const version = imageVersion();
  try {
    const m = JSON.parse(readFileSync(join(imagePaths(version).dir, '..', 'manifest.json'), 'utf8')) as {
      seconds: number;
      createdAt: string;
      binaries: Record<string, { size: number }>;
    };
    const root = m.binaries['root.qcow2']?.size ?? 0;
    console.log(
      `  image build (debootstrap + configure + mkfs + qcow2, as recorded by the build on ${m.createdAt}, not measured again): ${m.seconds.toFixed(0)} s (target ≤ ${TARGETS.imageBuildS} s: ${verdict(m.seconds <= TARGETS.imageBuildS)}); ${version}, root.qcow2 ${(root / 2 ** 20).toFixed(0)} MiB`,
    );
  } catch {
    console.log(`  image build: no record (the image ${version} is not cached: npx tsx scripts/vm-image.ts)`);
  }

  const v = validateSpec(
    {
      name: 'bnvm',
      subnet: `${NET}.0/24`,
      provider: 'qemu',
      bootstrap: 'fast',
      vip: `${NET}.10`,
      hosts: [
        { name: 'lb1', role: 'lb', address: `${NET}.11` },
        { name: 'lb2', role: 'lb', address: `${NET}.12` },
        { name: 'm1', role: 'master', address: `${NET}.21` },
      ],
      timers: TCG_TIMERS,
    },
    await machineNetworks(),
  );
  if (!v.spec) throw new Error(v.issues.map((i) => i.message).join('; '));
  const spec = v.spec;
  const bootTarget = slow ? TARGETS.bootToSshS.tcg : TARGETS.bootToSshS.fast;
  const pssTarget = slow ? TARGETS.pssMiB.tcg : TARGETS.pssMiB.fast;
  let lab: LabHandle | undefined;
  try {
    // 2. boot-to-SSH: every VM powered on at once; the qemu:ssh step logs each login
    const steps: Record<string, number> = {};
    const logins: Record<string, number> = {};
    let bootMs = 0;
    const t0 = Date.now();
    const res = await up(spec, {
      plan: labPlanThrough(spec, 'lb:ready'),
      emit: (e: EngineEvent) => {
        if (e.type === 'step:end') steps[e.stepId] = e.durationMs;
        if (e.type === 'step:end' && e.stepId === 'qemu:boot') bootMs = e.durationMs;
        if (e.type === 'step:log' && e.stepId === 'qemu:ssh' && e.host) {
          const m = /SSH login ([\d.]+) s/.exec(e.message);
          if (m) logins[e.host] = Number(m[1]) * 1000;
        }
      },
    });
    if (!res.ok) throw new Error(`up failed: ${res.error?.message} ${res.error?.details ?? ''}`);
    console.log(
      `  3 VMs (lb1, lb2 512 MiB; m1 ${slow ? 768 : 2048} MiB) from nothing to etcd + the VIP: ${secs(Date.now() - t0)}`,
    );
    console.log(
      `    steps: ${Object.entries(steps)
        .map(([id, ms]) => `${id} ${secs(ms)}`)
        .join(', ')}`,
    );
    for (const h of spec.hosts) {
      const ms = (logins[h.name] ?? NaN) + bootMs;
      console.log(
        `  boot-to-SSH ${h.name} (power-on to a completed ssh2 login, 3 VMs booting together): ${secs(ms)} (target ≤ ${bootTarget} s under ${accel.accel}: ${verdict(ms <= bootTarget * 1000)})`,
      );
    }
    lab = await LabHandle.open(spec.name);
    // 3. memory: PSS of each VM's QEMU once etcd/HAProxy/keepalived run, then after 30 s more
    for (const when of ['at ready', 'after 30 s more']) {
      if (when !== 'at ready') await new Promise((r) => setTimeout(r, 30_000));
      const mem = await labMemory(lab);
      for (const [c, x] of Object.entries(mem.byCommand).sort()) {
        console.log(
          `  memory ${c} ${when}: PSS ${x.pssMiB.toFixed(0)} MiB (target ≤ ${pssTarget} MiB: ${verdict(x.pssMiB <= pssTarget)})`,
        );
      }
      console.log(`  memory of the 3 VMs ${when}: PSS ${mem.pssMiB.toFixed(0)} MiB, RSS ${mem.rssMiB.toFixed(0)} MiB`);
    }
    // 4. VIP takeover under a QMP power cut of lb1: lb-failover's own steps (its watcher on lb2
    // polls eth0 every 10 ms), without the probe and the API checks (no control plane here)
    const drill: Drill = { ...lbFailover, needs: () => [], probe: false, preflight: false, healthTimeoutMs: 1000 };
    const out = await executeDrill(lab, drill, { emit: () => {} });
    const t = out.result.measurements.find((m) => m.id === 'vip-takeover');
    const p = out.result.predictions.find((x) => x.id === 'vip-takeover');
    const moved = out.result.checks.find((c) => c.id === 'vip-moved');
    if (t && p) {
      console.log(
        `  VIP takeover by lb2 after a QMP power cut of lb1 (advert ${spec.timers.vrrpAdvertInt} s): ${t.value} ms (target: the prediction ${p.value} ms + ${p.margin} ms: ${verdict(t.value <= p.value + p.margin)}); ${moved?.observed ?? ''}`,
      );
    } else {
      console.log(`  VIP takeover: not measured (${out.result.error ?? moved?.observed ?? 'no takeover seen'})`);
    }
  } finally {
    await lab?.close();
    // a failed up removes the lab it created: then there is nothing to take down
    const d = await down(spec.name, { emit: () => {} }).catch((e: Error) => ({ leftovers: [], gone: e.message }));
    console.log(`  halab down: leftovers ${d.leftovers.length}${'gone' in d ? ` (${d.gone})` : ''}`);
  }
}

export const qemuBenches: Bench[] = [
  {
    name: 'qemu',
    title:
      'qemu provider: image build, boot-to-SSH per VM, memory (PSS) per VM, VIP takeover under a QMP power cut (3 VMs)',
    run: qemuBench,
  },
];
