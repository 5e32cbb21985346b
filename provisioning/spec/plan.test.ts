import { describe, expect, it } from 'vitest';
import type { SpecIssue } from '../api/types.ts';
import {
  derivedTimings,
  formatPlan,
  gatewayOf,
  hostDisks,
  hostPorts,
  planPreview,
  quorumLine,
  seconds,
} from './plan.ts';
import { DEFAULT_TIMERS, defaultSpec, specFromCounts } from './schema.ts';
import { validateSpec } from './validate.ts';

describe('planPreview', () => {
  const preview = planPreview(defaultSpec(), []);

  it('lists every host with role and address', () => {
    expect(preview.hosts.map((h) => [h.name, h.role, h.address])).toEqual([
      ['lb1', 'lb', '10.213.0.11'],
      ['lb2', 'lb', '10.213.0.12'],
      ['m1', 'master', '10.213.0.21'],
      ['m2', 'master', '10.213.0.22'],
      ['m3', 'master', '10.213.0.23'],
      ['w1', 'worker', '10.213.0.31'],
      ['w2', 'worker', '10.213.0.32'],
    ]);
    expect(preview).toMatchObject({
      lab: 'halab',
      provider: 'netns',
      subnet: '10.213.0.0/24',
      vip: '10.213.0.10',
      gateway: '10.213.0.1',
      bootstrap: 'kubeadm',
      kubernetesVersion: 'v1.34.4',
    });
  });

  it('gives masters the two etcd disks and nobody else any', () => {
    // the default bootstrap (kubeadm) adds the runtime disk on masters and workers
    expect(preview.hosts.find((h) => h.name === 'm2')?.disks).toEqual([
      { name: 'etcd-data', size: '512Mi', mountpoint: '/var/lib/etcd' },
      { name: 'etcd-snapshots', size: '256Mi', mountpoint: '/var/lib/etcd-snapshots' },
      { name: 'runtime', size: '4Gi', mountpoint: '/var/lib/containerd' },
    ]);
    expect(preview.hosts.filter((h) => h.role === 'lb').every((h) => h.disks.length === 0)).toBe(true);
    const disks = { etcdData: '1Gi', etcdSnapshots: '64Mi', runtime: '2Gi' };
    expect(hostDisks({ disks, bootstrap: 'fast' }, 'master').map((d) => d.size)).toEqual(['1Gi', '64Mi']);
    expect(hostDisks({ disks, bootstrap: 'fast' }, 'worker')).toEqual([]);
    // kubeadm: the runtime disk on every master and worker, none on the load balancers
    expect(hostDisks({ disks, bootstrap: 'kubeadm' }, 'master').map((d) => d.name)).toEqual([
      'etcd-data',
      'etcd-snapshots',
      'runtime',
    ]);
    expect(hostDisks({ disks, bootstrap: 'kubeadm' }, 'worker')).toEqual([
      { name: 'runtime', size: '2Gi', mountpoint: '/var/lib/containerd' },
    ]);
    expect(hostDisks({ disks, bootstrap: 'kubeadm' }, 'lb')).toEqual([]);
  });

  it('lists the ports of each role', () => {
    expect(hostPorts('lb')).toEqual([
      { port: 22, service: 'sshd' },
      { port: 6443, service: 'haproxy on VIP and 127.0.0.1' },
      { port: 8404, service: 'haproxy monitor on 127.0.0.1' },
      { port: 0, service: 'vrrp' },
    ]);
    expect(hostPorts('master')).toEqual([
      { port: 22, service: 'sshd' },
      { port: 2379, service: 'etcd client' },
      { port: 2380, service: 'etcd peer' },
      { port: 6443, service: 'kube-apiserver' },
      { port: 10257, service: 'kube-controller-manager' },
      { port: 10259, service: 'kube-scheduler' },
    ]);
    expect(hostPorts('worker')).toEqual([
      { port: 22, service: 'sshd' },
      { port: 10250, service: 'kubelet' },
    ]);
    expect(preview.hosts[0]?.ports).toEqual(hostPorts('lb'));
  });

  it('computes quorum from the masters, the 1..7 table, and carries timers, snapshots and issues', () => {
    expect(preview.quorum).toEqual({ members: 3, majority: 2, tolerated: 1 });
    expect(preview.quorumTable).toHaveLength(7);
    expect(preview.quorumTable[3]).toEqual({ members: 4, majority: 3, tolerated: 1 });
    expect(preview.timers).toEqual(DEFAULT_TIMERS);
    expect(preview.snapshots).toEqual({ intervalS: 60, retain: 5 });
    const five = planPreview(specFromCounts({ lbs: 2, masters: 5, workers: 1 }), []);
    expect(five.quorum).toEqual({ members: 5, majority: 3, tolerated: 2 });
    const issue: SpecIssue = { severity: 'warning', path: 'hosts', message: 'm', fix: 'f' };
    expect(planPreview(defaultSpec(), [issue]).issues).toEqual([issue]);
  });

  it('gateway is the first address of the subnet', () => {
    expect(gatewayOf('10.213.7.0/24')).toBe('10.213.7.1');
    expect(gatewayOf('10.50.0.0/16')).toBe('10.50.0.1');
    expect(() => gatewayOf('x')).toThrow(RangeError);
  });
});

describe('derivedTimings', () => {
  it('matches the article and the measured lab at the defaults', () => {
    const d = derivedTimings(DEFAULT_TIMERS);
    expect(d.vipTakeoverS).toBeCloseTo(0.721875, 9);
    expect(seconds(d.vipTakeoverS)).toBe('0.72');
    expect(d.apiserverDownAfterS).toBe(1);
    expect(d.apiserverUpAfterS).toBe(1);
    expect(d.etcdElectionMinS).toBe(1);
    expect(d.etcdElectionMaxS).toBe(2);
    expect(d.leaderTakeoverS).toBe(10);
    expect(d.nodeNotReadyAfterS).toBe(20);
    expect(d.podsEvictedAfterS).toBe(30);
  });

  it('advert 1 s gives the 3.61 s takeover measured with keepalived', () => {
    expect(seconds(derivedTimings({ ...DEFAULT_TIMERS, vrrpAdvertInt: 1 }).vipTakeoverS)).toBe('3.61');
  });
});

describe('quorumLine', () => {
  it('says members, majority and tolerance', () => {
    expect(quorumLine({ members: 3, majority: 2, tolerated: 1 })).toBe(
      'etcd: 3 members, majority 2, tolerates 1 failure',
    );
    expect(quorumLine({ members: 1, majority: 1, tolerated: 0 })).toBe(
      'etcd: 1 member, majority 1, tolerates 0 failures',
    );
    expect(quorumLine({ members: 5, majority: 3, tolerated: 2 })).toBe(
      'etcd: 5 members, majority 3, tolerates 2 failures',
    );
    expect(quorumLine({ members: 0, majority: 0, tolerated: 0 })).toBe('etcd: no members (no master)');
  });
});

describe('formatPlan', () => {
  const text = formatPlan(planPreview(defaultSpec(), []));
  const lines = text.split('\n');

  it('shows the lab, network, hosts table and port legend', () => {
    expect(lines.slice(0, 4)).toEqual([
      'Lab halab (provider netns, bootstrap kubeadm, Kubernetes v1.34.4)',
      '  subnet   10.213.0.0/24',
      '  gateway  10.213.0.1 (this machine, on the lab bridge)',
      '  VIP      10.213.0.10 (the API endpoint: https://10.213.0.10:6443, held by keepalived)',
    ]);
    expect(lines).toContain(
      '  NAME  ROLE    ADDRESS      DISKS                                                                        PORTS',
    );
    expect(lines).toContain(
      '  lb1   lb      10.213.0.11  -                                                                            22 6443 8404 vrrp',
    );
    expect(lines).toContain(
      '  m1    master  10.213.0.21  512Mi /var/lib/etcd, 256Mi /var/lib/etcd-snapshots, 4Gi /var/lib/containerd  22 2379 2380 6443 10257 10259 10250 10256',
    );
    expect(lines).toContain(
      '  w2    worker  10.213.0.32  4Gi /var/lib/containerd                                                      22 10250 10256',
    );
    expect(lines).toContain('  all hosts  22 sshd');
    expect(lines).toContain(
      '  lb         6443 haproxy on VIP and 127.0.0.1, 8404 haproxy monitor on 127.0.0.1, vrrp (IP protocol 112)',
    );
    expect(lines).toContain(
      '  master     2379 etcd client, 2380 etcd peer, 6443 kube-apiserver, 10257 kube-controller-manager, 10259 kube-scheduler, 10250 kubelet, 10256 kube-proxy health',
    );
    expect(lines).toContain('  worker     10250 kubelet, 10256 kube-proxy health');
  });

  it('shows the quorum line and the 1..7 table with this lab marked', () => {
    const at = lines.indexOf('etcd: 3 members, majority 2, tolerates 1 failure');
    expect(at).toBeGreaterThan(0);
    expect(lines.slice(at + 1, at + 9)).toEqual([
      '  members  majority  tolerates',
      '  1        1         0',
      '  2        2         0',
      '  3        2         1  <- this lab',
      '  4        3         1',
      '  5        3         2',
      '  6        4         2',
      '  7        4         3',
    ]);
  });

  it('shows every timer with its meaning and the derived failure figures', () => {
    expect(lines).toContain('  vrrpAdvertInt               0.2 s    keepalived advertisement interval');
    expect(lines).toContain('  haproxyCheckFall            2        failed checks before an apiserver is marked down');
    expect(lines).toContain(
      '  podEvictionTolerationS      10 s     how long pods wait on a NotReady node before eviction',
    );
    expect(lines).toContain('  VIP takeover           ≈ 0.72 s             3 × 0.2 s + (256 - 100)/256 × 0.2 s');
    expect(lines).toContain('  apiserver marked down  after 1 s            500 ms × 2 failed checks (back after 1 s)');
    expect(lines).toContain(
      '  lost node              NotReady after 20 s  its pods are evicted 10 s later (30 s after it went silent)',
    );
    for (const key of Object.keys(DEFAULT_TIMERS)) expect(text).toContain(`  ${key} `);
  });

  it('shows the snapshot schedule, or that there is none', () => {
    expect(lines).toContain('Snapshots: every 60 s on each master to /var/lib/etcd-snapshots, keeping the last 5');
    const off = formatPlan(planPreview({ ...defaultSpec(), snapshots: { intervalS: 0, retain: 3 } }, []));
    expect(off).toContain(
      'Snapshots: no schedule (intervalS 0); manual snapshots go to /var/lib/etcd-snapshots, keeping the last 3',
    );
  });

  it('ends with "No problems found." or the warnings then the errors, each with its fix', () => {
    expect(lines[lines.length - 1]).toBe('No problems found.');
    const r = validateSpec(
      {
        vip: '10.213.0.21',
        hosts: [
          { name: 'lb1', role: 'lb', address: '10.213.0.11' },
          { name: 'm1', role: 'master', address: '10.213.0.21' },
          { name: 'w1', role: 'worker', address: '10.213.0.31' },
        ],
      },
      { cidrs: [] },
    );
    expect(r.draft).toBeDefined();
    const withIssues = formatPlan(planPreview(r.draft!, r.issues));
    expect(
      withIssues.endsWith(
        [
          'Warnings (2)',
          'warning hosts: no control-plane HA: losing the master loses the API',
          '        fix: use three masters so the lab survives losing one',
          'warning hosts: the load balancer is a single point of failure',
          '        fix: add a second host with role lb so keepalived can move the VIP',
          '',
          'Errors (1)',
          'error   vip: VIP 10.213.0.21 is also the address of m1 (hosts[1])',
          '        fix: set vip to a free address inside 10.213.0.0/24, e.g. 10.213.0.10',
        ].join('\n'),
      ),
    ).toBe(true);
    expect(withIssues).toContain('etcd: 1 member, majority 1, tolerates 0 failures');
  });
});
