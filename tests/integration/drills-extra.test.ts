// The disk-loss, partition and quorum-table drills end to end on one real netns lab (root): each
// run must pass, its MEASURED outcomes must be the ones the article predicts, and it must leave a
// report (report.json, report.md with the measurements, timeline.svg).
//
//   npx vitest run --project integration tests/integration/drills-extra.test.ts
//
// No tight timing assertions: the machine is a loaded 2-core box.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillEvent, DrillResult } from '../../provisioning/api/drills.ts';
import type { EngineEvent } from '../../provisioning/api/types.ts';
import { runDrill } from '../../provisioning/drills/index.ts';
import { LabHandle, down, up } from '../../provisioning/engine/lab.ts';
import { machineNetworks } from '../../provisioning/machine.ts';
import { validateSpec } from '../../provisioning/spec/validate.ts';
import { readState } from '../../provisioning/state/store.ts';
import { freshHome, leaks, removeHome, saveLabLog, skipUnlessRoot } from './helpers.ts';

const skip = skipUnlessRoot();
const LAB = 'itdrx';
const SUBNET = '10.213.83.0/24';

interface Run {
  result: DrillResult;
  reportDir?: string;
  events: DrillEvent[];
}

describe.skipIf(!!skip)('drills: disk-loss, partition, quorum-table', () => {
  let home = '';
  let lab: LabHandle | undefined;
  const upEvents: EngineEvent[] = [];

  async function drill(name: string): Promise<Run> {
    const events: DrillEvent[] = [];
    const result = await runDrill(lab!, name, {
      emit: (e) => {
        if (e.type !== 'drill:samples') events.push(e);
      },
    });
    const end = events.find((e) => e.type === 'drill:end') as Extract<DrillEvent, { type: 'drill:end' }> | undefined;
    if (!result.ok) {
      console.error(
        `${name} failed: ${result.error ?? ''}\n${result.checks
          .filter((c) => !c.ok)
          .map((c) => `${c.title}: ${c.observed}`)
          .join('\n')}`,
      );
    }
    return { result, reportDir: end?.reportDir, events };
  }

  const check = (r: Run, id: string) => r.result.checks.find((c) => c.id === id);
  const measured = (r: Run, id: string) => r.result.measurements.find((m) => m.id === id)?.value;

  function expectReport(r: Run, labels: string[]) {
    expect(r.reportDir, 'report directory').toBeTruthy();
    for (const f of ['report.json', 'report.md', 'timeline.svg'])
      expect(existsSync(join(r.reportDir!, f)), f).toBe(true);
    const json = JSON.parse(readFileSync(join(r.reportDir!, 'report.json'), 'utf8')) as {
      result?: DrillResult;
    } & Partial<DrillResult>;
    expect((json.result ?? json).runId).toBe(r.result.runId);
    const md = readFileSync(join(r.reportDir!, 'report.md'), 'utf8');
    expect(md).toContain(`# Drill ${r.result.drill}`);
    expect(md).toContain('PASSED');
    for (const l of labels) expect(md, l).toContain(l);
    expect(readFileSync(join(r.reportDir!, 'timeline.svg'), 'utf8')).toMatch(/^<svg/);
  }

  beforeAll(async () => {
    home = freshHome('drx');
    const res = validateSpec({ name: LAB, subnet: SUBNET }, await machineNetworks());
    if (!res.spec) throw new Error(`spec rejected: ${JSON.stringify(res.issues)}`);
    const r = await up(res.spec, {
      emit: (e) => {
        upEvents.push(e);
      },
    });
    if (!r.ok) throw new Error(`up failed: ${JSON.stringify(r.error, null, 1)}`);
    lab = await LabHandle.open(LAB);
  });

  afterAll(async () => {
    if (!home) return;
    await lab?.close().catch(() => undefined);
    saveLabLog(home, LAB);
    let downOk = true;
    if (await readState(LAB).catch(() => undefined)) {
      const res = await down(LAB, { emit: () => {} });
      downOk = res.ok;
      if (!res.ok) console.error('down failed', res.error, res.leftovers);
    }
    const left = leaks(home, LAB);
    removeHome(home);
    expect(downOk).toBe(true);
    expect(left).toEqual([]);
  });

  it("quorum-table: the measured tolerance of 1..7 members equals the article's ⌊(n−1)/2⌋", async () => {
    const r = await drill('quorum-table');
    expect(r.result.error).toBeUndefined();
    expect(r.result.ok).toBe(true);
    for (let n = 1; n <= 7; n++) expect(measured(r, `tolerated-${n}`), `${n} members`).toBe(Math.floor((n - 1) / 2));
    expect(check(r, 'quorum-table')?.ok).toBe(true);
    expect(check(r, 'nothing-left')?.ok).toBe(true);
    // the formatted table was emitted
    const log = r.events
      .filter((e) => e.type === 'drill:log')
      .map((e) => (e as { message: string }).message)
      .join('\n');
    expect(log).toContain('tolerated (measured)  tolerated (article)');
    expectReport(r, ['7 members (majority 4): failures tolerated', '| 3 | ✓ as predicted']);
    // nothing of the throwaway clusters is left on the host
    const left = await lab!
      .remote('w2')
      .exec('ls -A /var/lib/halab-qt 2>/dev/null; pgrep -f -- "--data-dir=/var/lib/halab-q[t]" || true', {
        allowFail: true,
      });
    expect(left.stdout.trim()).toBe('');
  });

  it('partition: the isolated master refuses writes, the VIP keeps writing, then it converges', async () => {
    const r = await drill('partition');
    expect(r.result.error).toBeUndefined();
    expect(r.result.ok).toBe(true);
    expect(measured(r, 'isolated-writes')).toBe(0);
    expect(check(r, 'isolated-refused')?.ok).toBe(true);
    expect(check(r, 'majority-leader')?.ok).toBe(true);
    expect(check(r, 'majority-writes')?.ok).toBe(true);
    expect(check(r, 'vip-writes')?.ok).toBe(true);
    expect(measured(r, 'vip-writes')).toBeGreaterThan(0);
    expect(check(r, 'haproxy-dropped')?.ok).toBe(true);
    expect(check(r, 'caught-up')?.ok).toBe(true);
    expect(check(r, 'same-revision')?.ok).toBe(true);
    expect(check(r, 'haproxy-all-up')?.ok).toBe(true);
    expect(measured(r, 'converge')).toBeGreaterThan(0);
    expect(r.result.marks.some((m) => m.kind === 'fault' && /cable pulled/.test(m.label))).toBe(true);
    expectReport(r, [
      'Writes committed by the isolated member',
      'healthy and caught up after the cable is back',
      'HAProxy marks m2 DOWN',
    ]);
  });

  it('disk-loss: quorum is never lost, and the rebuilt member has the data written while it was gone', async () => {
    const r = await drill('disk-loss');
    expect(r.result.error).toBeUndefined();
    expect(r.result.ok).toBe(true);
    expect(measured(r, 'healthy-during')).toBe(2);
    expect(check(r, 'quorum-kept')?.ok).toBe(true);
    expect(measured(r, 'quorum-polls')).toBeGreaterThanOrEqual(5);
    expect(check(r, 'vip-writes')?.ok).toBe(true);
    expect(check(r, 'write-degraded')?.ok).toBe(true);
    expect(check(r, 'new-identity')?.ok).toBe(true);
    expect(check(r, 'key-on-new-member')?.ok).toBe(true);
    expect(check(r, 'configmap-on-new-member')?.ok).toBe(true);
    expect(check(r, 'same-revision')?.ok).toBe(true);
    // every command was recorded for the walkthrough: the stop, the wipe, member remove/add, the override, the start
    const cmds = r.result.walkthrough.map((w) => w.command).join('\n');
    for (const c of [
      's6-svc -d',
      '-mindepth 1 -delete',
      'member remove',
      'member add',
      'initial-cluster-state',
      's6-svc -u',
    ])
      expect(cmds, c).toContain(c);
    expect(r.events.filter((e) => e.type === 'drill:command').length).toBe(r.result.walkthrough.length);
    expectReport(r, [
      'Linearizable reads answered from the fault to the rejoin',
      'Re-added member healthy',
      'member remove',
    ]);
    // the one-time override is gone once the member has its data again
    const victim = (r.result.marks.find((m) => m.kind === 'fault')?.label ?? 'm3').split(':')[0]!;
    const o = await lab!
      .remote(victim)
      .exec('test -e /etc/halab/etcd/initial-cluster-state && echo present || echo absent');
    expect(o.stdout.trim()).toBe('absent');
  });
});
