import { describe, expect, it } from 'vitest';
import { HalabError } from '../../errors.ts';
import { referenceSpec, referenceSpecV2 } from './fixtures.ts';
import {
  apiBackends,
  lbModel,
  lbNode,
  lbNodes,
  masterDownMs,
  masterLb,
  virtualRouterId,
  vrrpSettings,
} from './model.ts';

describe('vrrpSettings', () => {
  it('uses VRRPv3 without authentication for a fractional advert interval (the default 0.2 s)', () => {
    expect(vrrpSettings(referenceSpec())).toEqual({
      version: 3,
      advertInt: 0.2,
      authenticated: false,
      virtualRouterId: virtualRouterId('halab'),
    });
  });
  it('uses VRRPv2 with PASS authentication for a whole-second interval', () => {
    expect(vrrpSettings(referenceSpecV2())).toMatchObject({ version: 2, advertInt: 1, authenticated: true });
  });
  it.each([0, -1, 41, 0.123])('refuses advert interval %s', (advert) => {
    const s = referenceSpec();
    expect(() => vrrpSettings({ ...s, timers: { ...s.timers, vrrpAdvertInt: advert } })).toThrow(HalabError);
  });
  it('accepts hundredths that are not exact in binary floating point', () => {
    const s = referenceSpec();
    expect(vrrpSettings({ ...s, timers: { ...s.timers, vrrpAdvertInt: 0.29 } }).version).toBe(3);
  });
});

describe('virtualRouterId', () => {
  it('is 1..255 and stable per lab name', () => {
    const ids = ['halab', 'lab2', 'itlb', 'lbdev', 'x'].map(virtualRouterId);
    for (const id of ids) {
      expect(id).toBeGreaterThanOrEqual(1);
      expect(id).toBeLessThanOrEqual(255);
    }
    expect(virtualRouterId('halab')).toBe(virtualRouterId('halab'));
    expect(virtualRouterId('halab')).toBe(196);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('LB nodes', () => {
  it('makes the first LB MASTER 101 and the next BACKUP 100, peering with each other', () => {
    expect(lbNodes(referenceSpec())).toEqual([
      { name: 'lb1', address: '10.213.0.11', index: 0, state: 'MASTER', priority: 101, peers: ['10.213.0.12'] },
      { name: 'lb2', address: '10.213.0.12', index: 1, state: 'BACKUP', priority: 100, peers: ['10.213.0.11'] },
    ]);
    expect(masterLb(referenceSpec()).name).toBe('lb1');
  });
  it('gives further LBs descending priorities and every other LB as peer', () => {
    const s = referenceSpec();
    const spec = { ...s, hosts: [...s.hosts, { name: 'lb3', role: 'lb' as const, address: '10.213.0.13' }] };
    expect(lbNodes(spec).map((n) => [n.name, n.state, n.priority, n.peers])).toEqual([
      ['lb1', 'MASTER', 101, ['10.213.0.12', '10.213.0.13']],
      ['lb2', 'BACKUP', 100, ['10.213.0.11', '10.213.0.13']],
      ['lb3', 'BACKUP', 99, ['10.213.0.11', '10.213.0.12']],
    ]);
  });
  it('follows spec order, not names', () => {
    const s = referenceSpec();
    const spec = { ...s, hosts: [s.hosts[1]!, s.hosts[0]!, ...s.hosts.slice(2)] };
    expect(masterLb(spec).name).toBe('lb2');
  });
  it('refuses a host that is not an LB', () => {
    expect(() => lbNode(referenceSpec(), 'm1')).toThrow(/not a load balancer/);
  });
});

describe('backends and timers', () => {
  it('balances over every master on :6443', () => {
    expect(apiBackends(referenceSpec())).toEqual([
      { name: 'm1', address: '10.213.0.21', port: 6443 },
      { name: 'm2', address: '10.213.0.22', port: 6443 },
      { name: 'm3', address: '10.213.0.23', port: 6443 },
    ]);
  });
  it('takes the check timers from the spec, with a check timeout of at least 1 s', () => {
    const s = referenceSpec();
    expect(lbModel(s).check).toEqual({ interMs: 500, fall: 2, rise: 2, timeoutMs: 1000 });
    expect(
      lbModel({ ...s, timers: { ...s.timers, haproxyCheckInterMs: 2000, haproxyCheckFall: 3, haproxyCheckRise: 4 } })
        .check,
    ).toEqual({ interMs: 2000, fall: 3, rise: 4, timeoutMs: 2000 });
    expect(lbModel(s)).toMatchObject({ vip: '10.213.0.10', prefix: 24 });
  });
  it('computes the master-down interval of the lowest-priority BACKUP', () => {
    // 3 x 200 ms + (256 - 100) / 256 x 200 ms
    expect(masterDownMs(referenceSpec())).toBe(722);
    expect(masterDownMs(referenceSpecV2())).toBe(3610);
  });
});
