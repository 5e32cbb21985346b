// Issue "Guided failure drills": each drill runs end to end on one real lab, and the tests assert
// what was MEASURED (the VIP moved, reads kept working, writes failed and came back, the namespace
// came back, the pinned node went NotReady), then that the lab is healthy again. Timing figures
// belong to the bench: the margins here are generous enough for a loaded 2-core machine and still
// say something (an outage of a whole grace period would fail them).
// The lab is the default (kubeadm: real kubelets and pods), so the drills that need real pods run here too.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DrillEvent, DrillResult } from '../../provisioning/api/drills.ts';
import { controlPlaneStatus } from '../../provisioning/engine/cp-status.ts';
import { listReports, runDrill } from '../../provisioning/drills/index.ts';
import { readState } from '../../provisioning/state/store.ts';
import { cli, skipUnlessRoot } from './helpers.ts';
import { useLab } from './lab-fixture.ts';

const skip = skipUnlessRoot();
const LAB = 'itdrill';
const SUBNET = '10.213.80.0/24';

const check = (r: DrillResult, id: string) => r.checks.find((c) => c.id === id);
const measured = (r: DrillResult, id: string) => r.measurements.find((m) => m.id === id);
const prediction = (r: DrillResult, id: string) => r.predictions.find((p) => p.id === id)!;
const failed = (r: DrillResult) => JSON.stringify({ error: r.error, failed: r.checks.filter((c) => !c.ok) }, null, 1);

describe.skipIf(!!skip)('drills on a real lab', () => {
  const fx = useLab({ tag: 'drill', name: LAB, subnet: SUBNET });

  /** Run a drill in-process; check its report files and that the lab is healthy afterwards. */
  async function drill(name: string): Promise<{ r: DrillResult; events: DrillEvent[] }> {
    const events: DrillEvent[] = [];
    const r = await runDrill(fx.lab, name, { emit: (e) => events.push(e) });
    const end = events.at(-1);
    expect(end?.type).toBe('drill:end');
    const dir = end?.type === 'drill:end' ? end.reportDir : undefined;
    expect(dir).toBeTruthy();
    for (const f of ['report.json', 'report.md', 'timeline.svg', 'report.html'])
      expect(existsSync(join(dir!, f)), f).toBe(true);
    const md = readFileSync(join(dir!, 'report.md'), 'utf8');
    expect(md).toContain('## Prediction vs measured');
    expect(md).toContain('| what | predicted | measured | verdict |');
    for (const p of r.predictions) expect(md).toContain(`| ${p.label.replace(/\|/g, '\\|')} |`);
    const json = JSON.parse(readFileSync(join(dir!, 'report.json'), 'utf8'));
    expect(json.result.runId).toBe(r.runId);
    expect(readFileSync(join(dir!, 'timeline.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
    // healthy again, seen independently of the drill's own final check
    const st = await controlPlaneStatus(fx.lab);
    expect(st.vipHolder, name).toBe('lb1');
    expect(st.etcd.filter((m) => m.healthy).length, name).toBe(3);
    expect(st.apiservers.filter((a) => a.ready).length, name).toBe(3);
    // the default bootstrap (kubeadm) registers the masters as nodes too
    expect(st.nodes.map((n) => `${n.name}:${n.ready}`).sort(), name).toEqual(
      ['m1', 'm2', 'm3', 'w1', 'w2'].map((h) => `${h}:true`),
    );
    // the probe kept its pace: ≥ 10 reads/s and ≥ 2 writes/s nominal (12.5 and 2.5), some slack for a loaded machine
    if (r.probeWindow && r.probe.length) {
      const s = (r.probeWindow.to - r.probeWindow.from) / 1000;
      expect(r.probe[0]!.requests / s, `${name}: reads/s`).toBeGreaterThan(9);
      expect(r.probe[1]!.requests / s, `${name}: writes/s`).toBeGreaterThan(1.8);
      expect(json.samples.length).toBe(
        r.probe[0]!.requests +
          r.probe[1]!.requests +
          json.samples.filter((x: { t: number }) => x.t < r.probeWindow!.from || x.t >= r.probeWindow!.to).length,
      );
    }
    return { r, events };
  }

  it('master-down: reads through the VIP keep working, etcd keeps quorum, the leases move', async () => {
    const { r, events } = await drill('master-down');
    expect(r.ok, failed(r)).toBe(true);
    const fault = r.marks.find((m) => m.kind === 'fault');
    expect(fault?.label).toMatch(/^m\d powered off$/);
    // the measured read outage stays within prediction + margin (≈ 0 s + 1.5 s: one HAProxy connect timeout and some load)
    const out = measured(r, 'read-outage')!;
    const p = prediction(r, 'read-outage');
    expect(out.value).toBeLessThanOrEqual(p.value + p.margin);
    expect(check(r, 'read-outage')?.ok).toBe(true);
    expect(check(r, 'etcd-quorum')?.ok).toBe(true);
    expect(check(r, 'leases-live')?.ok).toBe(true);
    expect(check(r, 'haproxy-dropped')?.ok).toBe(true);
    // HAProxy saw it go, within a few seconds (not a grace period)
    expect(measured(r, 'haproxy-down')!.value).toBeLessThan(6000);
    expect(events.some((e) => e.type === 'drill:samples')).toBe(true);
  });

  it('lb-failover (through the CLI): the VIP moves to lb2 and the API answers through it', async () => {
    const c = await cli(fx.home, ['drill', 'run', 'lb-failover', '--lab', LAB, '--yes', '--json'], 600_000);
    const events = c.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as DrillEvent);
    const end = events.at(-1);
    expect(end?.type, c.stderr).toBe('drill:end');
    const r = (end as Extract<DrillEvent, { type: 'drill:end' }>).result;
    expect(c.code, failed(r)).toBe(0);
    expect(check(r, 'vip-moved')).toMatchObject({ ok: true, observed: 'on lb2' });
    expect(check(r, 'api-via-vip')?.ok).toBe(true);
    const takeover = measured(r, 'vip-takeover')!;
    expect(takeover.value).toBeGreaterThan(0);
    expect(takeover.value).toBeLessThan(5000);
    expect(check(r, 'read-outage')?.ok).toBe(true);
    expect(r.marks.map((m) => m.label)).toEqual(
      expect.arrayContaining(['lb1 powered off', 'VIP on lb2', 'VIP back on lb1']),
    );
    // the CLI powered lb1 off and on in another process: this handle's view of the hosts is stale
    fx.lab.state = (await readState(LAB))!;
    const st = await controlPlaneStatus(fx.lab);
    expect(st.vipHolder).toBe('lb1');
    // `halab drill report` prints the Markdown of the last run and the SVG's path
    const rep = await cli(fx.home, ['drill', 'report', '--lab', LAB]);
    expect(rep.code, rep.stderr).toBe(0);
    expect(rep.stdout).toContain('# Drill lb-failover');
    expect(rep.stdout).toMatch(/timeline: \S+timeline\.svg/);
  });

  it('quorum-loss: writes fail (or are unknown) while 2 of 3 members are down, and succeed after one returns', async () => {
    const { r } = await drill('quorum-loss');
    expect(r.ok, failed(r)).toBe(true);
    expect(check(r, 'writes-fail')?.ok).toBe(true);
    expect(measured(r, 'writes-during-loss')!.value).toBe(0);
    expect(check(r, 'reads-cut')?.ok).toBe(true);
    expect(check(r, 'writes-back')?.ok).toBe(true);
    expect(check(r, 'etcd-majority')?.ok).toBe(true);
    const rec = measured(r, 'write-recovery')!;
    expect(rec.value).toBeGreaterThan(0);
    expect(rec.value).toBeLessThan(60);
  });

  it('worker-down: the node goes NotReady and its pods are rescheduled onto the other worker', async () => {
    const { r } = await drill('worker-down');
    expect(r.ok, failed(r)).toBe(true);
    expect(check(r, 'node-notready')).toMatchObject({ ok: true, title: 'w2 is NotReady' });
    expect(check(r, 'pods-rescheduled')?.ok).toBe(true);
    expect(check(r, 'old-pods-terminating')?.ok).toBe(true);
    const nr = measured(r, 'node-notready')!;
    const p = prediction(r, 'node-notready');
    // not before the grace period minus one lease interval, not much after it
    expect(nr.value).toBeGreaterThanOrEqual(p.min! - 1);
    expect(nr.value).toBeLessThan(p.value + 30);
  });

  it('etcd-restore: the deleted namespace and its objects come back after restoring every member', async () => {
    const { r } = await drill('etcd-restore');
    expect(r.ok, failed(r)).toBe(true);
    expect(check(r, 'namespace-gone')?.ok).toBe(true);
    expect(check(r, 'new-cluster')?.ok).toBe(true);
    expect(check(r, 'namespace-back')?.ok).toBe(true);
    expect(check(r, 'objects-back')?.ok).toBe(true);
    expect(measured(r, 'etcd-restore')!.value).toBeLessThan(60);
    // the walkthrough has every command, with the restore on every master
    const restores = r.walkthrough.filter((w) => w.command.includes('snapshot restore'));
    expect(restores.map((w) => w.host).sort()).toEqual(['m1', 'm2', 'm3']);
    expect(restores[0]!.command).toMatch(/--initial-cluster-token halab-itdrill-restore-[0-9a-f]{4}/);
  });

  it('external-lb: the node pinned to one apiserver goes NotReady, the one behind the VIP stays Ready', async () => {
    const { r } = await drill('external-lb');
    expect(r.ok, failed(r)).toBe(true);
    expect(check(r, 'pinned-notready')?.ok).toBe(true);
    expect(check(r, 'vip-ready')?.ok).toBe(true);
    expect(measured(r, 'vip-node-notready')!.value).toBe(0);
    expect(measured(r, 'pinned-notready')!.value).toBeGreaterThan(0);
  });

  it('control-plane-down (real pods): a Service keeps answering a pod while every master is off, the API does not', async () => {
    const { r } = await drill('control-plane-down');
    expect(r.ok, failed(r)).toBe(true);
    expect(check(r, 'service-kept-serving')?.ok).toBe(true);
    expect(measured(r, 'service-failures')!.value).toBe(0);
    expect(check(r, 'api-gone')?.ok).toBe(true);
    // the client pod's requests were read from its log on its node: there were many
    expect(check(r, 'service-kept-serving')!.observed).toMatch(/^(\d{2,})\/\1 answered$/);
  });

  it('in-cluster-clients (real pods): a dead apiserver leaves kubernetes.default.svc, then no pod request fails', async () => {
    const { r } = await drill('in-cluster-clients');
    expect(r.ok, failed(r)).toBe(true);
    expect(check(r, 'pod-kept-reading')?.ok).toBe(true);
    expect(check(r, 'no-failure-after')?.ok).toBe(true);
    expect(measured(r, 'pod-failures-after')!.value).toBe(0);
    const removed = measured(r, 'endpoint-removed')!;
    const p = prediction(r, 'endpoint-removed');
    expect(removed.value).toBeGreaterThan(0);
    expect(removed.value).toBeLessThanOrEqual(p.value + p.margin);
  });

  it('every run left a report, listed newest first', async () => {
    const list = await listReports(fx.lab.dir);
    expect(list.map((x) => x.drill).sort()).toEqual(
      [
        'control-plane-down',
        'etcd-restore',
        'external-lb',
        'in-cluster-clients',
        'lb-failover',
        'master-down',
        'quorum-loss',
        'worker-down',
      ].sort(),
    );
    expect(list[0]!.drill).toBe('in-cluster-clients');
  });
});
