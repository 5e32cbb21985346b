// etcd as a supervised service on each master (pure renderers).

import type { LabSpec } from '../../api/types.ts';
import { HalabError } from '../../errors.ts';
import type { ServiceDef } from '../../hosts/services.ts';
import { parseSize } from '../../spec/schema.ts';
import { ETCD_DATA_DIR, etcdClientURL, etcdPeerURL } from '../pki/kubeadm-config.ts';
import { ETCD_TLS } from '../pki/paths.ts';
import { masterHosts } from '../../spec/roles.ts';

export const ETCD_SERVICE = 'etcd';
export const ETCD_BIN = '/usr/bin/etcd';
/** Disk A's mountpoint on a master. */
export const ETCD_DISK = '/var/lib/etcd';
export const ETCD_METRICS_URL = 'http://127.0.0.1:2381';
/**
 * Optional override read by the run script when the data dir is EMPTY: its content ("existing")
 * becomes --initial-cluster-state. For a drill that replaces a member (`member remove` + `member
 * add`, wipe, restart): a new member joining a running cluster must start "existing".
 */
export const INITIAL_STATE_OVERRIDE = '/etc/halab/etcd/initial-cluster-state';

export function initialCluster(spec: LabSpec): string {
  return masterHosts(spec)
    .map((m) => `${m.name}=${etcdPeerURL(m.address)}`)
    .join(',');
}

export function clusterToken(spec: LabSpec): string {
  return `halab-${spec.name}`;
}

/**
 * Backend quota: 40% of disk A (at least 64 MiB). etcd's default quota (2 GiB) is larger than
 * the lab's data disk, so without this a growing database would hit ENOSPC (a crash) before the
 * NOSPACE alarm (a read-only cluster you can compact and defragment). The rest of the disk is for
 * the WAL (64 MB segments, up to --max-wals=5) and raft snapshots.
 */
export function quotaBackendBytes(spec: LabSpec): number {
  const disk = parseSize(spec.disks.etcdData);
  if (!disk) throw new HalabError('BAD_SPEC', `disks.etcdData ${spec.disks.etcdData} is not a size`);
  return Math.max(64 * 1024 ** 2, Math.floor((disk * 0.4) / 1024 ** 2) * 1024 ** 2);
}

/**
 * The service of one member. --initial-cluster-state is decided by the run script on every
 * start, from the data dir: "existing" when it holds a member (etcd then ignores every
 * --initial-* flag and restarts from its WAL and snapshot, which is why one static service
 * definition is right for the first boot and every restart after it), "new" when it is empty
 * (first boot of the cluster: all members start together with the same --initial-cluster and
 * token). A member wiped and re-added to a running cluster needs "existing" on an empty dir:
 * the drill writes INITIAL_STATE_OVERRIDE for that.
 */
export function etcdServiceDef(spec: LabSpec, masterName: string): ServiceDef {
  const m = masterHosts(spec).find((h) => h.name === masterName);
  if (!m) throw new HalabError('NO_HOST', `${masterName} is not a master of lab ${spec.name}`);
  const client = etcdClientURL(m.address);
  const peer = etcdPeerURL(m.address);
  return {
    name: ETCD_SERVICE,
    prepare: [
      `if ! mountpoint -q ${ETCD_DISK}; then echo "halab: ${ETCD_DISK} (disk A) is not mounted: refusing to start etcd on the root filesystem"; sleep 5; exit 1; fi`,
      `mkdir -p ${ETCD_DATA_DIR} && chmod 0700 ${ETCD_DATA_DIR}`,
      `if [ -d ${ETCD_DATA_DIR}/member ]; then ETCD_INITIAL_CLUSTER_STATE=existing`,
      `elif [ -s ${INITIAL_STATE_OVERRIDE} ]; then ETCD_INITIAL_CLUSTER_STATE=$(cat ${INITIAL_STATE_OVERRIDE})`,
      `else ETCD_INITIAL_CLUSTER_STATE=new; fi`,
      `export ETCD_INITIAL_CLUSTER_STATE`,
      `echo "halab: starting etcd ${m.name}, data dir ${ETCD_DATA_DIR}, initial-cluster-state $ETCD_INITIAL_CLUSTER_STATE"`,
    ],
    command: [
      ETCD_BIN,
      `--name=${m.name}`,
      `--data-dir=${ETCD_DATA_DIR}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--listen-client-urls=${client},https://127.0.0.1:2379`,
      `--advertise-client-urls=${client}`,
      `--listen-metrics-urls=${ETCD_METRICS_URL}`,
      `--initial-cluster=${initialCluster(spec)}`,
      `--initial-cluster-token=${clusterToken(spec)}`,
      // client TLS: only certificates signed by the etcd CA get in
      `--cert-file=${ETCD_TLS.serverCert}`,
      `--key-file=${ETCD_TLS.serverKey}`,
      `--trusted-ca-file=${ETCD_TLS.ca}`,
      '--client-cert-auth=true',
      // peer TLS, mutual
      `--peer-cert-file=${ETCD_TLS.peerCert}`,
      `--peer-key-file=${ETCD_TLS.peerKey}`,
      `--peer-trusted-ca-file=${ETCD_TLS.ca}`,
      '--peer-client-cert-auth=true',
      `--heartbeat-interval=${spec.timers.etcdHeartbeatMs}`,
      `--election-timeout=${spec.timers.etcdElectionMs}`,
      // a member that returns (power on, heal a partition) first asks whether it could win before
      // it calls an election, so it does not depose a healthy leader (etcd 3.4 defaults to off)
      '--pre-vote=true',
      // kubeadm's value (etcd 3.4 defaults to 100000 entries between raft snapshots)
      '--snapshot-count=10000',
      `--quota-backend-bytes=${quotaBackendBytes(spec)}`,
      '--logger=zap',
      '--log-outputs=stderr',
    ],
  };
}
