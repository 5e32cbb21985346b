import { describe, expect, it } from 'vitest';
import { testSpec } from '../engine/fake-lab.testutil.ts';
import { restoreMemberScript, restoreProcedure, restoreToken } from './restore.ts';

describe('snapshot restore', () => {
  const spec = testSpec({ name: 'r1' });
  it('restores one member into a new dir, also when its data dir is gone, and drops a disk-loss override', () => {
    const s = restoreMemberScript(
      spec,
      'm2',
      '/var/lib/etcd-snapshots/snap-20261130T000000Z.db',
      'halab-r1-restore-abcd',
    );
    expect(s.split('\n')[1]).toBe(
      'mountpoint -q /var/lib/etcd || { echo "/var/lib/etcd (disk A) is not mounted" >&2; exit 1; }',
    );
    expect(s).toContain(
      'snapshot restore /var/lib/etcd-snapshots/snap-20261130T000000Z.db --name m2 --initial-cluster m1=https://10.213.51.21:2380,m2=https://10.213.51.22:2380,m3=https://10.213.51.23:2380 --initial-cluster-token halab-r1-restore-abcd --initial-advertise-peer-urls https://10.213.51.22:2380 --data-dir /var/lib/etcd/data.restore',
    );
    expect(s).toContain('if [ -e /var/lib/etcd/data ]; then mv /var/lib/etcd/data /var/lib/etcd/data.pre-restore; fi');
    expect(s.trim().split('\n').at(-1)).toBe('rm -f /etc/halab/etcd/initial-cluster-state');
    expect(restoreToken(spec, 'run-12ab')).toBe('halab-r1-restore-12ab');
  });

  it('is a walkthrough without the health check first and without the probe (the API is down meanwhile)', () => {
    const d = restoreProcedure({
      master: 'm1',
      file: '/var/lib/etcd-snapshots/snap-20261130T000000Z.db',
      sizeBytes: 1,
      createdAt: '',
      ageS: 0,
      status: 'good',
      origin: 'manual',
      revision: 42,
      source: "m1's disk B",
    });
    expect(d.preflight).toBe(false);
    expect(d.probe).toBe(false);
    expect(d.steps.map((s) => s.id)).toEqual([
      'masters-on',
      'distribute',
      'stop',
      'restore',
      'start-etcd',
      'start-control-plane',
      'kubelets',
      'verify',
    ]);
    expect(d.info.title).toBe('Restore etcd from snap-20261130T000000Z.db (revision 42)');
  });
});
