// The gray-failure drills of issue 11 (lb-no-backends, split-brain, frozen-master) end to end on
// the reference lab (root): each run must pass, its key figures must be as its predictions say
// (the drills' own verdicts, computed from the lab's timers), and it must leave a report.
//
//   npx vitest run --project integration tests/integration/drills-gray.test.ts

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DrillEvent, DrillResult } from '../../provisioning/api/drills.ts';
import { runDrill } from '../../provisioning/drills/index.ts';
import { skipUnlessRoot } from './helpers.ts';
import { useLab } from './lab-fixture.ts';

const skip = skipUnlessRoot();

interface Run {
  result: DrillResult;
  reportDir?: string;
}

describe.skipIf(!!skip)('drills: lb-no-backends, split-brain, frozen-master', () => {
  const f = useLab({ tag: 'grd', name: 'itgrd', subnet: '10.213.89.0/24' });

  async function drill(name: string): Promise<Run> {
    const events: DrillEvent[] = [];
    const result = await runDrill(f.lab, name, {
      emit: (e) => {
        if (e.type !== 'drill:samples') events.push(e);
      },
    });
    const end = events.find((e) => e.type === 'drill:end') as Extract<DrillEvent, { type: 'drill:end' }> | undefined;
    const table = result.measurements
      .map((m) => `  ${m.label}: ${m.value} ${m.unit}${m.verdict ? ` (${m.verdict})` : ''}`)
      .join('\n');
    console.log(`${name}: ${result.ok ? 'PASSED' : `FAILED ${result.error ?? ''}`}\n${table}`);
    if (!result.ok)
      console.error(
        result.checks
          .filter((c) => !c.ok)
          .map((c) => `${c.title}: ${c.observed}`)
          .join('\n'),
      );
    return { result, reportDir: end?.reportDir };
  }

  const verdict = (r: Run, id: string) => r.result.measurements.find((m) => m.id === id)?.verdict;
  const check = (r: Run, id: string) => r.result.checks.find((c) => c.id === id);

  function expectReport(r: Run, labels: string[]) {
    expect(r.reportDir, 'report directory').toBeTruthy();
    for (const file of ['report.json', 'report.md', 'timeline.svg'])
      expect(existsSync(join(r.reportDir!, file)), file).toBe(true);
    const md = readFileSync(join(r.reportDir!, 'report.md'), 'utf8');
    expect(md).toContain(`# Drill ${r.result.drill}`);
    expect(md).toContain('PASSED');
    for (const l of labels) expect(md, l).toContain(l);
  }

  it('lb-no-backends: the VIP leaves the LB that reaches no apiserver, as predicted, and comes back', async () => {
    const r = await drill('lb-no-backends');
    expect(r.result.error).toBeUndefined();
    expect(r.result.ok).toBe(true);
    expect(check(r, 'vip-moved')?.ok).toBe(true);
    expect(check(r, 'status-flags')?.observed).toMatch(/^lb1's HAProxy has 0 usable backends of 3/);
    for (const id of ['haproxy-all-down', 'vip-takeover', 'read-outage', 'failback'])
      expect(verdict(r, id), id).not.toBe('worse than predicted');
    expectReport(r, ['The standby takes the VIP', 'Longest read outage through the VIP']);
  });

  it('split-brain: both holders reported, one after the heal, announced at once, no read lost', async () => {
    const r = await drill('split-brain');
    expect(r.result.error).toBeUndefined();
    expect(r.result.ok).toBe(true);
    expect(check(r, 'status-split-brain')?.observed).toMatch(/^VIP on lb1 AND lb2 \(split brain\)/);
    expect(check(r, 'preflight-split-brain')?.observed).toBe('not healthy: on lb1 AND lb2 (split brain)');
    expect(check(r, 'single-holder')?.ok).toBe(true);
    for (const id of ['split', 'one-holder', 'arp-fixed', 'heal-read-failures'])
      expect(verdict(r, id), id).not.toBe('worse than predicted');
    expectReport(r, ["The probe host's ARP entry", 'Failed reads after the heal']);
  });

  it('frozen-master: HAProxy takes it out, the leases move, reads continue, the old leader gives up', async () => {
    const r = await drill('frozen-master');
    expect(r.result.error).toBeUndefined();
    expect(r.result.ok).toBe(true);
    expect(check(r, 'leases-moved')?.ok).toBe(true);
    expect(check(r, 'old-leader-gave-up')?.ok).toBe(true);
    expect(check(r, 'read-outage')?.ok).toBe(true);
    expect(verdict(r, 'haproxy-down')).not.toBe('worse than predicted');
    expectReport(r, ['HAProxy marks the frozen apiserver DOWN', 'The old leader exits after the thaw']);
  });
});
