import { up, down, status } from '../provisioning/engine/lab.ts';
import type { LabSpec } from '../provisioning/api/types.ts';
const spec: LabSpec = {
  apiVersion: 'halab/v1',
  kind: 'Lab',
  name: process.argv[3] ?? 'smoke',
  provider: 'netns',
  bootstrap: 'fast',
  apiserverEtcd: 'all',
  subnet: '10.213.9.0/24',
  vip: '10.213.9.10',
  kubernetesVersion: 'v1.34.4',
  hosts: [
    { name: 'lb1', role: 'lb', address: '10.213.9.11' },
    { name: 'lb2', role: 'lb', address: '10.213.9.12' },
    { name: 'm1', role: 'master', address: '10.213.9.21' },
    { name: 'm2', role: 'master', address: '10.213.9.22' },
    { name: 'm3', role: 'master', address: '10.213.9.23' },
    { name: 'w1', role: 'worker', address: '10.213.9.31' },
    { name: 'w2', role: 'worker', address: '10.213.9.32' },
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
    nodeStatusUpdateFrequencyS: 4,
    nodeMonitorGracePeriodS: 16,
    podEvictionTolerationS: 10,
  },
  snapshots: { intervalS: 60, retain: 5 },
};
const emit = (e: unknown) => console.log(JSON.stringify(e));
const cmd = process.argv[2];
if (cmd === 'up') console.log(await up(spec, { emit }));
if (cmd === 'down') console.log(await down(spec.name, { emit }));
if (cmd === 'status') console.log(JSON.stringify(await status(spec.name), null, 1));
