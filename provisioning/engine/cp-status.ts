// What `halab status` says about the cluster: the VIP holder, each HAProxy's view of the
// apiservers, etcd members (health, leader, DB size), the last good snapshot, each apiserver's
// readiness, the leader leases and the nodes. Each part is gathered independently: one that
// cannot be read (a host powered off, the API down) is reported as such, never fatal.
import type { ControlPlaneStatus } from '../api/types.ts';
import { kubectl, leases, nodes } from '../k8s/kubectl.ts';
import type { LabContext } from '../providers/types.ts';
import { listSnapshotsReport } from '../snapshots/index.ts';
import { etcdEndpointsStatus } from '../steps/etcd/index.ts';
import { haproxyBackends, pickVipHolder, vrrpStates } from '../steps/lb/status.ts';
import { masterHosts } from '../steps/pki/index.ts';

async function safe<T>(p: Promise<T>, fallback: T): Promise<T> {
  try {
    return await p;
  } catch {
    return fallback;
  }
}

export async function controlPlaneStatus(ctx: LabContext): Promise<ControlPlaneStatus> {
  const spec = ctx.state.spec;
  const lbNames = spec.hosts.filter((h) => h.role === 'lb').map((h) => h.name);
  const [vrrp, backends, etcd, snaps, apiservers, vipReady, ls, ns] = await Promise.all([
    safe(vrrpStates(ctx), []),
    Promise.all(lbNames.map((lb) => safe(haproxyBackends(ctx, lb), []))),
    safe(etcdEndpointsStatus(ctx), []),
    safe(listSnapshotsReport(ctx).then((r) => r.snapshots), []),
    Promise.all(masterHosts(spec).map(async (m) => {
      const r = await safe(ctx.remote(m.name).exec(`curl -fsS -m 2 --cacert /etc/kubernetes/pki/ca.crt https://${m.address}:6443/readyz`, { allowFail: true, timeoutMs: 4000 }), undefined);
      return { name: m.name, ready: r?.exitCode === 0 && r.stdout.trim() === 'ok' };
    })),
    safe(kubectl(ctx, ['get', '--raw', '/readyz'], { allowFail: true }).then((r) => r.stdout.trim() === 'ok'), false),
    safe(leases(ctx), []),
    safe(nodes(ctx), []),
  ]);
  const good = snaps.filter((s) => s.status === 'good').sort((a, b) => a.ageS - b.ageS)[0];
  return {
    vipHolder: pickVipHolder(vrrp),
    apiViaVip: vipReady,
    lbs: lbNames.map((name, i) => {
      const v = vrrp.find((x) => x.lb === name);
      return { name, reachable: v?.reachable ?? false, vrrpState: v?.state, hasVip: v?.hasVip ?? false, backends: backends[i] ?? [] };
    }),
    etcd: etcd.map((m) => ({ name: m.name, healthy: m.healthy, leader: m.isLeader, dbSizeBytes: m.dbSize, revision: m.revision, error: m.error })),
    etcdLeader: etcd.find((m) => m.isLeader)?.name,
    lastGoodSnapshot: good && { master: good.master, file: good.file, ageS: good.ageS, revision: good.revision, sizeBytes: good.sizeBytes },
    badSnapshots: snaps.filter((s) => s.status === 'bad').length,
    apiservers,
    leases: ls.map((l) => ({ name: l.name, holder: l.holder })),
    nodes: ns,
  };
}
