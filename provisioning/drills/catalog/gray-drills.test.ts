// The gray-failure drills of issue 11 (lb-no-backends, split-brain, frozen-master): their
// predictions follow the lab's own timers, and their fault commands are what the issue describes.
import { describe, expect, it } from 'vitest';
import type { Prediction } from '../../api/drills.ts';
import { testSpec } from '../../engine/fake-lab.testutil.ts';
import { infoOf } from '../engine.ts';
import { FREEZE_S, frozenMaster, predictFrozenMaster } from './frozen-master.ts';
import { blackholeCommands, lbNoBackends, predictLbNoBackends } from './lb-no-backends.ts';
import { NOBODY_MAC, neighCommands, neighPointsAt, predictSplitBrain, splitBrain } from './split-brain.ts';

const byId = (ps: Prediction[], id: string) => ps.find((p) => p.id === id)!;
const spec = testSpec;

describe('lb-no-backends', () => {
  it('predicts from the HAProxy and keepalived timers (reference lab)', () => {
    const p = predictLbNoBackends(spec());
    // HAProxy: fall 2 × inter 500 ms; keepalived: fall 3 × 1 s + master-down 3 × 0.2 s + skew 0.122 s
    expect(byId(p, 'haproxy-all-down')).toMatchObject({ value: 1000, min: 500 });
    expect(byId(p, 'vip-takeover')).toMatchObject({ value: 3722, min: 2522 });
    expect(byId(p, 'failback')).toMatchObject({ value: 1000 + 2000 + 722 });
    const slow = predictLbNoBackends(spec({ timers: { ...spec().timers, vrrpAdvertInt: 1 } }));
    expect(byId(slow, 'vip-takeover').value).toBe(3000 + 3610);
  });

  it('blackholes every master on the LB, and removes exactly those routes', () => {
    expect(blackholeCommands(spec())).toEqual({
      add: 'ip route replace blackhole 10.213.51.21/32 && ip route replace blackhole 10.213.51.22/32 && ip route replace blackhole 10.213.51.23/32',
      del: 'ip route del blackhole 10.213.51.21/32 2>/dev/null; ip route del blackhole 10.213.51.22/32 2>/dev/null; ip route del blackhole 10.213.51.23/32 2>/dev/null; true',
    });
  });
});

describe('split-brain', () => {
  it('predicts the split from the master-down interval and the heal from one advert', () => {
    const p = predictSplitBrain(spec());
    expect(byId(p, 'split')).toMatchObject({ value: 722, min: 522 });
    expect(byId(p, 'one-holder').value).toBe(200);
    expect(byId(p, 'arp-fixed')).toMatchObject({ value: 200, margin: 1000 });
    expect(byId(p, 'heal-read-failures')).toMatchObject({ value: 0, margin: 4 });
    // 4 ARP flips × 12.5 reads/s × 50 ms in flight (margin: 400 ms, loaded)
    expect(byId(p, 'split-read-failures')).toMatchObject({ value: 3, margin: 20 });
  });

  it("points each LB's adverts at a MAC nobody owns, as the issue's reproduction does", () => {
    expect(neighCommands('10.213.51.12')).toEqual({
      cut: `ip neigh replace 10.213.51.12 lladdr ${NOBODY_MAC} dev eth0 nud permanent`,
      heal: 'ip neigh del 10.213.51.12 dev eth0 2>/dev/null; true',
    });
    expect(neighPointsAt('10.213.51.10', 'aa:bb:cc:dd:ee:ff')).toBe(
      "ip neigh show 10.213.51.10 dev eth0 | grep -qi ' lladdr aa:bb:cc:dd:ee:ff '",
    );
  });

  it('needs exactly two load balancers', () => {
    const s = spec();
    expect(splitBrain.needs(s)).toEqual([]);
    expect(splitBrain.needs({ ...s, hosts: s.hosts.filter((h) => h.name !== 'lb2') })[0]).toMatch(/1 load balancer/);
  });
});

describe('frozen-master', () => {
  it('predicts HAProxy by check timeouts, the leases from their timers, the stalled reads from apiserverEtcd', () => {
    const p = predictFrozenMaster(spec());
    // fall 2 × (check connect timeout 300 ms, which covers the TLS handshake, + inter 500 ms)
    expect(byId(p, 'haproxy-down')).toMatchObject({ value: 1600, min: 1100 });
    // apiserverEtcd all: 5/9 of the attempts hang 3 s (+ 2 s retry): 1.25 of them expected
    // at worst until the etcd clients' keepalive drops the frozen member: 30 + 10 s, + a retry
    expect(byId(p, 'lease-takeover')).toMatchObject({ value: 16.3, min: 6, margin: 25.8 });
    expect(byId(predictFrozenMaster(spec({ apiserverEtcd: 'local' })), 'lease-takeover')).toMatchObject({
      value: 10,
      margin: 1,
    });
    const all = byId(p, 'read-failures').value;
    const local = byId(predictFrozenMaster(spec({ apiserverEtcd: 'local' })), 'read-failures').value;
    // all: + 12.5/3 quorum GETs/s × 30 s ÷ 3 stalled on the frozen etcd member
    const hung = (12.5 * 1.6) / 3;
    expect(all - local).toBe(Math.round(hung + ((12.5 / 3) * FREEZE_S) / 3) - Math.round(hung));
    // it retries for its renew deadline before it gives up
    expect(byId(p, 'old-leader-exit')).toMatchObject({ value: 6, min: 0, margin: 3 });
  });

  it('every new drill has a preflight first and a cleanup last, and runs on the reference lab', () => {
    for (const d of [lbNoBackends, splitBrain, frozenMaster]) {
      const info = infoOf(d);
      expect(info.steps[0]!.id).toBe('preflight');
      expect(info.steps.at(-1)!.id).toBe('healthy-again');
      expect(d.needs(spec())).toEqual([]);
      for (const pr of d.predict(spec())) expect(pr.formula.length, `${d.info.name} ${pr.id}`).toBeGreaterThan(20);
    }
  });
});
