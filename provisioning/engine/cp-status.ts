// What `halab status` says about the cluster: the VIP holder, each HAProxy's view of the
// apiservers, etcd members (health, leader, DB size), the last good snapshot, each apiserver's
// readiness, the leader leases and the nodes. Each part is gathered independently: one that
// cannot be read (a host powered off, the API down) is reported as such, never fatal.
import type { ControlPlaneStatus } from '../api/types.ts';
import { kubectl, leaseExpiry, leases, nodes } from '../k8s/kubectl.ts';
import type { LabContext } from '../providers/types.ts';
import { listSnapshotsReport } from '../snapshots/index.ts';
import { etcdEndpointsStatus } from '../steps/etcd/index.ts';
import { hostProblem } from '../hosts/host-errors.ts';
import { haproxyBackends, vipView, vrrpStates, type BackendStatus } from '../steps/lb/status.ts';
import { controlPlaneProblems } from './cp-problems.ts';
import { masterHosts } from '../spec/roles.ts';
import { lbHosts } from '../spec/roles.ts';

async function safe<T>(p: Promise<T>, fallback: T): Promise<T> {
  try {
    return await p;
  } catch {
    return fallback;
  }
}

export async function controlPlaneStatus(ctx: LabContext): Promise<ControlPlaneStatus> {
  const spec = ctx.state.spec;
  const lbNames = lbHosts(spec).map((h) => h.name);
  const [vrrp, backends, etcd, snaps, apiservers, vipReady, ls, ns] = await Promise.all([
    safe(vrrpStates(ctx), []),
    Promise.all(
      lbNames.map((lb) =>
        haproxyBackends(ctx, lb).then(
          (b): { backends: BackendStatus[]; error?: string } => ({ backends: b }),
          (err) => ({
            backends: [],
            error: hostProblem(lb, err, { timeoutMs: 10_000, what: "reading HAProxy's view" }),
          }),
        ),
      ),
    ),
    safe(etcdEndpointsStatus(ctx), []),
    safe(
      listSnapshotsReport(ctx, { clusterRevision: false }).then((r) => r.snapshots),
      [],
    ),
    Promise.all(
      masterHosts(spec).map(async (m) => {
        const r = await safe(
          ctx
            .remote(m.name)
            .exec(`curl -fsS -m 2 --cacert /etc/kubernetes/pki/ca.crt https://${m.address}:6443/readyz`, {
              allowFail: true,
              timeoutMs: 4000,
            }),
          undefined,
        );
        return { name: m.name, ready: r?.exitCode === 0 && r.stdout.trim() === 'ok' };
      }),
    ),
    safe(
      kubectl(ctx, ['get', '--raw', '/readyz'], { allowFail: true }).then((r) => r.stdout.trim() === 'ok'),
      false,
    ),
    safe(leases(ctx), []),
    // a loaded machine's API can take more than kubectl's 5 s for the list: the other parts
    // are read meanwhile, so this bounds status only when the API is slow
    safe(nodes(ctx, 12), []),
  ]);
  const good = snaps.filter((s) => s.status === 'good').sort((a, b) => a.ageS - b.ageS)[0];
  const vip = vipView(vrrp);
  const etcdRevision = Math.max(0, ...etcd.filter((m) => m.healthy).map((m) => m.revision ?? 0)) || undefined;
  const now = Date.now();
  const cp: Omit<ControlPlaneStatus, 'problems'> = {
    vipHolder: vip.holder,
    vipHolders: vip.holders,
    splitBrain: vip.splitBrain,
    apiViaVip: vipReady,
    lbs: lbNames.map((name, i) => {
      const v = vrrp.find((x) => x.lb === name);
      const b = backends[i] ?? { backends: [] };
      const reachable = v?.reachable ?? false;
      return {
        name,
        reachable,
        error: reachable ? b.error : (v?.error ?? b.error),
        vrrpState: v?.state,
        hasVip: v?.hasVip ?? false,
        backends: b.backends,
        usableBackends: b.backends.filter((x) => x.up).length,
      };
    }),
    etcd: etcd.map((m) => ({
      name: m.name,
      healthy: m.healthy,
      leader: m.isLeader,
      dbSizeBytes: m.dbSize,
      revision: m.revision,
      error: m.error,
    })),
    etcdLeader: etcd.find((m) => m.isLeader)?.name,
    etcdRevision,
    lastGoodSnapshot: good && {
      master: good.master,
      file: good.file,
      ageS: good.ageS,
      revision: good.revision,
      sizeBytes: good.sizeBytes,
      behind: etcdRevision !== undefined && good.revision !== undefined ? etcdRevision - good.revision : undefined,
    },
    badSnapshots: snaps.filter((s) => s.status === 'bad').length,
    apiservers,
    leases: ls.map((l) => {
      const e = leaseExpiry(l, now);
      return e.held ? { name: l.name, holder: l.holder } : { name: l.name, expiredS: e.expiredS, lastHolder: l.holder };
    }),
    nodes: ns,
  };
  return { ...cp, problems: controlPlaneProblems(cp, { stale: vip.stale }) };
}
