import { describe, expect, it } from 'vitest';
import type { LabStatus } from '../../../../provisioning/api/types.ts';
import { holderHost, mapModel } from './topology.ts';

const svc = (name: string, up = true) => ({ name, up, restarts: 0 });
function status(): LabStatus {
  return {
    lab: 'lab1',
    phase: 'ready',
    provider: 'netns',
    vip: '10.213.7.10',
    hosts: [
      {
        name: 'lb1',
        role: 'lb',
        address: '.11',
        reachable: true,
        services: [svc('sshd'), svc('haproxy'), svc('keepalived')],
      },
      {
        name: 'lb2',
        role: 'lb',
        address: '.12',
        reachable: true,
        services: [svc('sshd'), svc('haproxy'), svc('keepalived')],
      },
      { name: 'm1', role: 'master', address: '.21', reachable: true, services: [svc('etcd'), svc('kube-apiserver')] },
      { name: 'm2', role: 'master', address: '.22', reachable: true, services: [svc('etcd')] },
      { name: 'w1', role: 'worker', address: '.31', reachable: true, services: [svc('kubelet')] },
    ],
    controlPlane: {
      vipHolder: 'lb1',
      vipHolders: ['lb1'],
      splitBrain: false,
      apiViaVip: true,
      lbs: [
        {
          name: 'lb1',
          reachable: true,
          vrrpState: 'MASTER',
          hasVip: true,
          backends: [{ server: 'm1', up: true }],
          usableBackends: 1,
        },
        { name: 'lb2', reachable: true, vrrpState: 'BACKUP', hasVip: false, backends: [], usableBackends: 0 },
      ],
      etcd: [
        { name: 'm1', healthy: true, leader: true },
        { name: 'm2', healthy: true, leader: false },
      ],
      etcdLeader: 'm1',
      badSnapshots: 0,
      apiservers: [
        { name: 'm1', ready: true },
        { name: 'm2', ready: true },
      ],
      leases: [
        { name: 'kube-scheduler', holder: 'm2_1234-abcd' },
        { name: 'kube-controller-manager', holder: 'm1_99' },
      ],
      nodes: [{ name: 'w1', ready: true }],
      problems: [],
    },
  };
}

describe('topology map model', () => {
  it('every host healthy, with the VIP, leader and lease badges where they belong', () => {
    const m = mapModel(status());
    expect(m.allHealthy).toBe(true);
    expect(m.vipHolder).toBe('lb1');
    expect(m.lbs[0]!.badges).toEqual([{ text: 'VIP 10.213.7.10', kind: 'vip' }]);
    expect(m.lbs[1]!.badges).toEqual([]);
    expect(m.masters[0]!.badges.map((b) => b.text)).toEqual(['etcd leader', 'controller-manager leader']);
    expect(m.masters[1]!.badges.map((b) => b.text)).toEqual(['scheduler leader']);
    expect(m.workers[0]!.badges).toEqual([{ text: 'Ready', kind: 'ok' }]);
  });

  it('a stopped service, an unhealthy member, a NotReady node or a powered-off host are not healthy', () => {
    const st = status();
    st.hosts[1]!.services[2]!.up = false;
    st.controlPlane!.etcd[1]!.healthy = false;
    st.controlPlane!.nodes[0]!.ready = false;
    st.hosts[2] = { ...st.hosts[2]!, reachable: false, error: 'powered off', services: [] };
    const m = mapModel(st);
    expect(m.allHealthy).toBe(false);
    expect(m.lbs[1]).toMatchObject({ health: 'degraded', problems: ['keepalived is down'] });
    expect(m.masters[0]).toMatchObject({ health: 'down' });
    expect(m.masters[0]!.problems[0]).toBe('powered off');
    expect(m.masters[1]!.problems).toContain('etcd unhealthy');
    expect(m.workers[0]!.problems).toEqual(['node NotReady']);
  });

  it('a split brain: both LBs carry the VIP badge as a problem, nobody is THE holder (issue 11, case 2)', () => {
    const st = status();
    const cp = st.controlPlane!;
    Object.assign(cp, { vipHolder: undefined, vipHolders: ['lb1', 'lb2'], splitBrain: true });
    cp.lbs[1]!.hasVip = true;
    cp.problems = ['VIP on lb1 AND lb2 (split brain): ...'];
    const m = mapModel(st);
    expect(m.vipText).toBe('lb1 AND lb2 (split brain)');
    expect(m.vipHolder).toBeUndefined();
    expect(m.lbs.map((h) => h.badges)).toEqual([
      [{ text: 'VIP 10.213.7.10 (split brain)', kind: 'bad' }],
      [{ text: 'VIP 10.213.7.10 (split brain)', kind: 'bad' }],
    ]);
    expect(m.lbs[0]!.problems).toEqual(['split brain: the VIP is also on lb2']);
    expect(m.lbs[0]!.health).toBe('degraded');
    expect(m.problems).toHaveLength(1);
  });

  it('the VIP holder with no usable backend is degraded (issue 11, case 1)', () => {
    const st = status();
    st.controlPlane!.lbs[0]!.backends = [{ server: 'm1', up: false }];
    st.controlPlane!.lbs[0]!.usableBackends = 0;
    expect(mapModel(st).lbs[0]!.problems).toEqual(['holds the VIP with 0 usable backends']);
  });

  it('without a control plane yet, hosts are judged by their services', () => {
    const st = status();
    delete st.controlPlane;
    const m = mapModel(st);
    expect(m.allHealthy).toBe(true);
    expect(m.vipHolder).toBeUndefined();
  });

  it('lease holders are host_uuid identities', () => {
    expect(holderHost('m3_abc')).toBe('m3');
    expect(holderHost(undefined)).toBeUndefined();
  });
});
