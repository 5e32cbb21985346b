// Predictions come from the lab's own configuration: change a timer, the prediction follows.
import { describe, expect, it } from 'vitest';
import type { LabSpec } from '../api/types.ts';
import { validateSpec } from '../spec/validate.ts';
import { predictEtcdRestore } from './catalog/etcd-restore.ts';
import { predictExternalLb } from './catalog/external-lb.ts';
import { predictLbFailover } from './catalog/lb-failover.ts';
import { predictMasterDown } from './catalog/master-down.ts';
import { membersToStop, predictQuorumLoss } from './catalog/quorum-loss.ts';
import { predictWorkerDown } from './catalog/worker-down.ts';
import { verdictFor } from './engine.ts';
import { listDrills } from './index.ts';

function spec(extra: Record<string, unknown> = {}): LabSpec {
  const v = validateSpec({ name: 'pred', subnet: '10.213.99.0/24', ...extra }, { cidrs: [] });
  if (!v.spec) throw new Error(JSON.stringify(v.issues));
  return v.spec;
}
const byId = (ps: { id: string }[], id: string) =>
  ps.find((p) => p.id === id) as { id: string; value: number; min?: number; margin: number; formula: string };

describe('predictions from the lab spec', () => {
  it('lb-failover: VIP takeover = 3 × advert + (256 − prio)/256 × advert', () => {
    const p = byId(predictLbFailover(spec()), 'vip-takeover');
    // default advert 0.2 s, BACKUP priority 100: 600 + 156/256 × 200 = 721.875 -> 722 ms
    expect(p.value).toBe(722);
    expect(p.min).toBe(522);
    expect(p.formula).toContain('3 × advert_int 0.2 s');
    expect(p.formula).toContain('(256 − priority 100)/256');
    const slow = byId(predictLbFailover(spec({ timers: { vrrpAdvertInt: 1 } })), 'vip-takeover');
    expect(slow.value).toBe(3610);
    expect(slow.formula).toContain('VRRPv2');
  });

  it('master-down: read failures and stalls depend on which etcd members the apiservers use', () => {
    const all = predictMasterDown(spec());
    const local = predictMasterDown(spec({ apiserverEtcd: 'local' }));
    // all: 12.5 reads/s, 1 in 3 a quorum GET, 1 in 3 of those to the dead member for 10 s ≈ 13.9, + 1.25 cut
    expect(byId(all, 'read-failures')).toMatchObject({ value: 15, margin: 10 });
    expect(byId(all, 'quorum-stall')).toMatchObject({ value: 10 });
    // local: only the reads cut while connecting to the dead master (12.5/s × 0.3 s ÷ 3)
    expect(byId(local, 'read-failures')).toMatchObject({ value: 1, min: 0, margin: 2 });
    expect(byId(local, 'quorum-stall')).toMatchObject({ value: 0, margin: 2.6 });
    expect(byId(all, 'read-failures').formula).toContain('stacked');
  });

  it('master-down: HAProxy marks a powered-off master down after fall × (connect timeout + inter)', () => {
    const p = predictMasterDown(spec());
    // fall 2 × (connect timeout 300 ms + inter 500 ms); min: 2 timeouts + 1 inter
    expect(byId(p, 'haproxy-down')).toMatchObject({ value: 1600, min: 1100 });
    expect(byId(p, 'etcd-members')).toMatchObject({ value: 2, min: 2 });
    expect(byId(p, 'lease-takeover')).toMatchObject({ value: 10, min: 6 });
    const q = predictMasterDown(
      spec({
        timers: {
          haproxyCheckInterMs: 200,
          haproxyCheckFall: 3,
          leaseDurationS: 15,
          retryPeriodS: 2,
          renewDeadlineS: 10,
        },
      }),
    );
    expect(byId(q, 'haproxy-down')).toMatchObject({ value: 3 * (200 + 200), min: 3 * 200 + 2 * 200 }); // inter 200 < connect timeout 300: the check waits min(300, 200)
    expect(byId(q, 'lease-takeover')).toMatchObject({ value: 17, min: 13 });
  });

  it('quorum-loss: stop n − majority + 1 members; recovery from election and HAProxy rise', () => {
    expect([1, 2, 3, 4, 5, 7].map(membersToStop)).toEqual([1, 1, 2, 2, 3, 4]);
    const p = predictQuorumLoss(spec());
    expect(byId(p, 'writes-during-loss')).toMatchObject({ value: 0, margin: 0 });
    expect(byId(p, 'api-all-down')).toMatchObject({ value: 3000, min: 2500 });
    expect(byId(p, 'write-recovery').min).toBe(2);
  });

  it('worker-down: NotReady after the grace period, eviction after the toleration', () => {
    const p = predictWorkerDown(spec());
    expect(byId(p, 'node-notready')).toMatchObject({ value: 22, min: 10 });
    expect(byId(p, 'pods-evicted')).toMatchObject({ value: 32, min: 20 });
    const q = predictWorkerDown(spec({ timers: { nodeMonitorGracePeriodS: 40, podEvictionTolerationS: 30 } }));
    expect(byId(q, 'node-notready')).toMatchObject({ value: 42, min: 30 });
    expect(byId(q, 'pods-evicted')).toMatchObject({ value: 72, min: 60 });
  });

  it('external-lb: a stopped apiserver is refused, so HAProxy drops it within fall × inter', () => {
    const p = predictExternalLb(spec());
    expect(byId(p, 'haproxy-down')).toMatchObject({ value: 1000, min: 500 });
    expect(byId(p, 'vip-node-notready')).toMatchObject({ value: 0, margin: 0 });
    expect(byId(p, 'pinned-notready')).toMatchObject({ value: 22, min: 10 });
  });

  it('etcd-restore: prediction plus margin is the 15 s target', () => {
    const p = byId(predictEtcdRestore(spec()), 'etcd-restore');
    expect(p.value + p.margin).toBe(15);
    expect(p.formula).toContain('leader first');
  });

  it('every drill lists its steps, with preflight first and the cleanup last', () => {
    for (const d of listDrills()) {
      expect(d.steps[0]?.id, d.name).toBe('preflight');
      expect(
        d.steps.slice(-2).map((s) => s.phase),
        d.name,
      ).toEqual(['cleanup', 'cleanup']);
      expect(d.concept.length, d.name).toBeGreaterThan(80);
    }
    expect(listDrills().map((d) => d.name)).toEqual(
      expect.arrayContaining([
        'master-down',
        'lb-failover',
        'quorum-loss',
        'worker-down',
        'etcd-restore',
        'external-lb',
      ]),
    );
  });
});

describe('verdictFor', () => {
  const p = { id: 'x', label: 'x', unit: 'ms' as const, value: 1000, margin: 500, formula: '' };
  it('as predicted up to value + margin, worse above, better below value − margin (or min)', () => {
    expect(verdictFor(p, 1000)).toBe('as predicted');
    expect(verdictFor(p, 1500)).toBe('as predicted');
    expect(verdictFor(p, 1501)).toBe('worse than predicted');
    expect(verdictFor(p, 600)).toBe('as predicted');
    expect(verdictFor(p, 499)).toBe('better than predicted');
    expect(verdictFor({ ...p, min: 800 }, 700)).toBe('better than predicted');
    expect(verdictFor({ ...p, value: 0, margin: 0 }, 0)).toBe('as predicted');
    expect(verdictFor({ ...p, value: 0, margin: 0 }, 1)).toBe('worse than predicted');
  });
});
