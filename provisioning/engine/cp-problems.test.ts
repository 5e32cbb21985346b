import { describe, expect, it } from 'vitest';
import type { ControlPlaneStatus } from '../api/types.ts';
import { formatControlPlane } from '../cli/status.ts';
import { controlPlaneProblems } from './cp-problems.ts';

const up = (server: string) => ({ server, up: true, lastCheck: 'L7OK 200' });
const down = (server: string) => ({ server, up: false, lastCheck: 'L4CON: Invalid argument' });

function healthy(): Omit<ControlPlaneStatus, 'problems'> {
  return {
    vipHolder: 'lb1',
    vipHolders: ['lb1'],
    splitBrain: false,
    apiViaVip: true,
    lbs: ['lb1', 'lb2'].map((name) => ({
      name,
      reachable: true,
      vrrpState: name === 'lb1' ? 'MASTER' : 'BACKUP',
      hasVip: name === 'lb1',
      backends: [up('m1'), up('m2'), up('m3')],
      usableBackends: 3,
    })),
    etcd: ['m1', 'm2', 'm3'].map((name) => ({ name, healthy: true, leader: name === 'm1', revision: 393 })),
    etcdLeader: 'm1',
    etcdRevision: 393,
    badSnapshots: 0,
    apiservers: ['m1', 'm2', 'm3'].map((name) => ({ name, ready: true })),
    leases: [
      { name: 'kube-controller-manager', holder: 'm2_x' },
      { name: 'kube-scheduler', holder: 'm3_y' },
    ],
    nodes: [
      { name: 'w1', ready: true },
      { name: 'w2', ready: true },
    ],
  };
}

describe('controlPlaneProblems', () => {
  it('a healthy control plane has none', () => {
    expect(controlPlaneProblems(healthy())).toEqual([]);
  });

  it('flags a VIP holder that cannot reach any apiserver while the other LB can (issue 11, case 1)', () => {
    const cp = healthy();
    cp.lbs[0]!.backends = [down('m1'), down('m2'), down('m3')];
    cp.lbs[0]!.usableBackends = 0;
    const p = controlPlaneProblems(cp);
    expect(p[0]).toBe('VIP holder lb1 has 0 usable backends, lb2 has 3');
    expect(p).toHaveLength(1);
    expect(formatControlPlane({ ...cp, problems: p })[1]).toBe('  - VIP holder lb1 has 0 usable backends, lb2 has 3');
  });

  it('says split brain with both holders (issue 11, case 2)', () => {
    const cp = { ...healthy(), vipHolder: undefined, vipHolders: ['lb1', 'lb2'], splitBrain: true };
    cp.lbs[1]!.hasVip = true;
    const p = controlPlaneProblems(cp);
    expect(p[0]).toMatch(/^VIP on lb1 AND lb2 \(split brain\): /);
    expect(formatControlPlane({ ...cp, problems: p })).toContain(
      'API through the VIP: ready; VIP on lb1 AND lb2 (split brain)',
    );
  });

  it('names an LB that does not answer once, in the problems and in its own line', () => {
    const cp = healthy();
    cp.lbs[0] = { ...cp.lbs[0]!, reachable: false, error: 'lb1: not answering for 5 s', backends: [] };
    const p = controlPlaneProblems(cp);
    expect(p).toContain('lb1: not answering for 5 s');
    expect(formatControlPlane({ ...cp, problems: p })).toContain('  lb1: not answering for 5 s');
  });

  it('etcd that cannot be asked at all is a problem, not an empty list', () => {
    expect(controlPlaneProblems({ ...healthy(), etcd: [], etcdLeader: undefined })).toEqual([
      'etcd does not answer: no master could run etcdctl (see the masters above)',
    ]);
  });

  it('an LB that does not answer, a stale VIP, no leader, an expired lease, a NotReady node', () => {
    const cp = healthy();
    cp.lbs[1] = {
      ...cp.lbs[1]!,
      reachable: false,
      error: 'lb2: not answering for 5 s',
      backends: [],
      usableBackends: 0,
    };
    cp.etcdLeader = undefined;
    cp.leases[1] = { name: 'kube-scheduler', lastHolder: 'm1_z', expiredS: 12 };
    cp.nodes[1] = { name: 'w2', ready: false, reason: 'NodeStatusUnknown' };
    expect(controlPlaneProblems(cp, { stale: ['lb2'] })).toEqual([
      'stale VIP on lb2: its keepalived is not running as MASTER, but its kernel still answers ARP for it',
      'lb2: not answering for 5 s',
      'etcd has no leader: no quorum, writes fail',
      'the kube-scheduler lease is not held: m1 stopped renewing it 12 s ago',
      'node w2 is NotReady (NodeStatusUnknown)',
    ]);
  });
});
