// The drills, in the order `halab drill list` shows them.
import type { Drill } from '../engine.ts';
import { etcdRestore } from './etcd-restore.ts';
import { externalLb } from './external-lb.ts';
import { lbFailover } from './lb-failover.ts';
import { masterDown } from './master-down.ts';
import { quorumLoss } from './quorum-loss.ts';
import { workerDown } from './worker-down.ts';
import { diskLoss } from './disk-loss.ts';
import { partition } from './partition.ts';
import { quorumTable } from './quorum-table.ts';
import { lbNoBackends } from './lb-no-backends.ts';
import { splitBrain } from './split-brain.ts';
import { frozenMaster } from './frozen-master.ts';
import { controlPlaneDown } from './control-plane-down.ts';
import { inClusterClients } from './in-cluster-clients.ts';

export const DRILLS: Drill[] = [
  masterDown,
  lbFailover,
  quorumLoss,
  workerDown,
  etcdRestore,
  externalLb,
  diskLoss,
  partition,
  quorumTable,
  lbNoBackends,
  splitBrain,
  frozenMaster,
  controlPlaneDown,
  inClusterClients,
];
