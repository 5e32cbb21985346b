// The reference lab (the spec defaults: `halab`, 10.213.0.0/24, lb1 lb2, m1-m3, w1 w2) written out
// by hand, for the renderer tests. Kept here rather than imported from provisioning/spec so the
// snapshots change only when this layer changes.

import type { LabSpec } from '../../api/types.ts';

export function referenceSpec(over: Partial<LabSpec> = {}): LabSpec {
  return {
    apiVersion: 'halab/v1',
    kind: 'Lab',
    name: 'halab',
    provider: 'netns',
    bootstrap: 'fast',
    apiserverEtcd: 'all',
    subnet: '10.213.0.0/24',
    vip: '10.213.0.10',
    kubernetesVersion: 'v1.34.4',
    hosts: [
      { name: 'lb1', role: 'lb', address: '10.213.0.11' },
      { name: 'lb2', role: 'lb', address: '10.213.0.12' },
      { name: 'm1', role: 'master', address: '10.213.0.21' },
      { name: 'm2', role: 'master', address: '10.213.0.22' },
      { name: 'm3', role: 'master', address: '10.213.0.23' },
      { name: 'w1', role: 'worker', address: '10.213.0.31' },
      { name: 'w2', role: 'worker', address: '10.213.0.32' },
    ],
    disks: { etcdData: '512Mi', etcdSnapshots: '256Mi', runtime: '4Gi' },
    timers: {
      vrrpAdvertInt: 0.2,
      haproxyCheckInterMs: 500,
      haproxyCheckFall: 2,
      haproxyCheckRise: 2,
      etcdHeartbeatMs: 100,
      etcdElectionMs: 1000,
      leaseDurationS: 8,
      renewDeadlineS: 6,
      retryPeriodS: 2,
      nodeStatusUpdateFrequencyS: 10,
      nodeMonitorGracePeriodS: 20,
      podEvictionTolerationS: 10,
    },
    snapshots: { intervalS: 60, retain: 5 },
    ...over,
  };
}

/** The reference lab with a whole-second advert interval: VRRPv2 with PASS authentication. */
export function referenceSpecV2(): LabSpec {
  const s = referenceSpec();
  return { ...s, timers: { ...s.timers, vrrpAdvertInt: 1 } };
}
