// Bench: every drill on one lab, predicted vs measured. Figures, not pass/fail: a drill that fails
// is reported and the next one runs; then master-down on a lab whose apiservers use only their
// own etcd member. HALAB_BENCH_DRILLS=name,name picks drills;
// HALAB_BENCH_REPORTS=DIR keeps every drill's report.
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import type { DrillResult, Measurement, Prediction } from '../provisioning/api/drills.ts';
import { down, LabHandle, up } from '../provisioning/engine/lab.ts';
import { listDrills, runDrill } from '../provisioning/drills/index.ts';
import { fmtValue } from '../provisioning/drills/report.ts';
import { machineNetworks } from '../provisioning/machine.ts';
import { validateSpec } from '../provisioning/spec/validate.ts';
import type { Bench } from './suites.ts';

function predicted(p: Prediction): string {
  return p.min !== undefined ? `${fmtValue(p.min, p.unit)}–${fmtValue(p.value, p.unit)}` : fmtValue(p.value, p.unit);
}

function verdict(m: Measurement): string {
  return m.verdict === 'worse than predicted'
    ? 'WORSE'
    : m.verdict === 'better than predicted'
      ? 'better'
      : m.verdict
        ? 'ok'
        : '';
}

/** The lines printed for one drill (pure, so the format can be checked without a lab). */
export function drillBenchLines(r: DrillResult): string[] {
  const out: string[] = [];
  out.push(
    `  ${r.drill}: ${r.ok ? 'passed' : 'FAILED'} in ${(r.durationMs / 1000).toFixed(1)} s (${r.checks.filter((c) => c.ok).length}/${r.checks.length} checks)${r.error ? ` — ${r.error}` : ''}`,
  );
  for (const p of r.predictions) {
    const ms = r.measurements.filter((m) => m.predictionId === p.id);
    const got = ms.length ? ms.map((m) => `${fmtValue(m.value, m.unit)} ${verdict(m)}`).join(', ') : 'not measured';
    out.push(`    ${p.label.padEnd(60)} predicted ${predicted(p).padEnd(16)} measured ${got}`);
  }
  for (const m of r.measurements.filter((x) => !x.predictionId))
    out.push(`    ${m.label.padEnd(60)} measured  ${fmtValue(m.value, m.unit)}`);
  for (const s of r.probe) {
    out.push(
      `    probe ${`${s.kind}s`.padEnd(6)} ${String(s.requests).padStart(4)} requests, ${s.failures} failed, ${s.unknowns} unknown, longest outage ${fmtValue(s.longestOutageMs, 'ms')}, recovery ${s.recoveryMs ? fmtValue(s.recoveryMs, 'ms') : '—'}, p50/p99 ${s.p50LatencyMs}/${s.p99LatencyMs} ms`,
    );
  }
  return out;
}

/**
 * Build a lab from `input` (a spec without name and subnet), run `names` (all drills when empty;
 * HALAB_BENCH_DRILLS narrows it) on it, print each drill's lines and a summary, remove the lab.
 */
async function benchDrillsOn(
  lab: { name: string; subnet: string },
  input: Record<string, unknown>,
  names: string[],
): Promise<void> {
  const v = validateSpec({ ...input, name: lab.name, subnet: lab.subnet }, await machineNetworks());
  if (!v.spec) throw new Error(v.issues.map((i) => i.message).join('; '));
  const t0 = Date.now();
  const res = await up(v.spec, { emit: () => {} });
  if (!res.ok) throw new Error(`up failed: ${res.error?.message}`);
  console.log(
    `  lab ${lab.name} (apiserverEtcd ${v.spec.apiserverEtcd}) up in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  const only = (process.env.HALAB_BENCH_DRILLS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const picked = listDrills()
    .map((d) => d.name)
    .filter((n) => (!names.length || names.includes(n)) && (!only.length || only.includes(n)));
  const handle = await LabHandle.open(lab.name);
  const summary: string[] = [];
  try {
    for (const name of picked) {
      const r = await runDrill(handle, name, { emit: () => {} });
      for (const l of drillBenchLines(r)) console.log(l);
      const pick = (id: string) => r.measurements.find((m) => m.id === id);
      const rd = r.probe.find((p) => p.kind === 'read');
      const wr = r.probe.find((p) => p.kind === 'write');
      const key = [
        pick('vip-takeover') && `takeover ${fmtValue(pick('vip-takeover')!.value, 'ms')}`,
        rd && `longest read outage ${fmtValue(rd.longestOutageMs, 'ms')}`,
        rd && `failed reads ${rd.failures}`,
        wr && `failed/unknown writes ${wr.failures}/${wr.unknowns}`,
        wr && wr.recoveryMs > 0 && `write recovery ${fmtValue(wr.recoveryMs, 'ms')}`,
        pick('etcd-restore') && `restore ${fmtValue(pick('etcd-restore')!.value, 's')}`,
      ]
        .filter(Boolean)
        .join(', ');
      summary.push(`    ${name.padEnd(14)} ${r.ok ? 'ok    ' : 'FAILED'} ${key}`);
    }
  } finally {
    // HALAB_BENCH_REPORTS=DIR keeps the reports (JSON with every sample, Markdown, SVG) after the lab is gone
    if (process.env.HALAB_BENCH_REPORTS) {
      const dir = join(process.env.HALAB_BENCH_REPORTS, lab.name);
      await cp(join(handle.dir, 'reports'), dir, { recursive: true }).catch((err: Error) =>
        console.log(`  could not keep the reports: ${err.message}`),
      );
      console.log(`  reports kept in ${dir}`);
    }
    await handle.close();
    const d = await down(lab.name, { emit: () => {} }).catch((err: Error) => ({ leftovers: [err.message] }));
    console.log(`  summary\n${summary.join('\n')}`);
    console.log(`  lab removed (leftovers: ${d.leftovers.length})`);
  }
}

export const drillBenches: Bench[] = [
  {
    name: 'drills',
    title: 'Drills: every drill on one lab, predicted vs measured',
    run: () => benchDrillsOn({ name: 'benchdrill', subnet: '10.213.92.0/24' }, {}, []),
  },
  {
    name: 'drills-stacked',
    title:
      "master-down again with apiserverEtcd local (each apiserver uses only its own etcd member, as kubeadm's stacked etcd)",
    run: () =>
      benchDrillsOn({ name: 'benchstack', subnet: '10.213.93.0/24' }, { apiserverEtcd: 'local' }, ['master-down']),
  },
];
