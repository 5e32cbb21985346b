// The health signals of `halab status` as sentences: what is wrong with the control plane, read
// from the gathered ControlPlaneStatus (pure). Each signal says what it means for a client and is
// checked the way the README's "Health signals" section describes.
import type { ControlPlaneStatus } from '../api/types.ts';

/** "1 usable backend" / "3 usable backends". */
function usable(n: number): string {
  return `${n} usable backend${n === 1 ? '' : 's'}`;
}

/**
 * Every unhealthy signal of a control plane, one sentence each, in the order VIP, HAProxy, API
 * through the VIP, etcd, snapshots, apiservers, leases, nodes. Empty when all are healthy.
 * `stale`: LBs holding a stale copy of the VIP (see vipView in steps/lb/status.ts).
 */
export function controlPlaneProblems(cp: Omit<ControlPlaneStatus, 'problems'>, o: { stale?: string[] } = {}): string[] {
  const out: string[] = [];
  // --- the VIP
  if (cp.lbs.length > 0) {
    if (cp.vipHolders.length === 0) out.push('VIP on no load balancer: the API endpoint does not answer');
    else if (cp.splitBrain)
      out.push(
        `VIP on ${cp.vipHolders.join(' AND ')} (split brain): the load balancers do not hear each other's VRRP adverts, and clients reach whichever answered their last ARP`,
      );
    for (const lb of (o.stale ?? []).filter((x) => x !== cp.vipHolder))
      out.push(`stale VIP on ${lb}: its keepalived is not running as MASTER, but its kernel still answers ARP for it`);
  }
  // --- HAProxy behind the VIP
  const holder = cp.lbs.find((l) => l.name === cp.vipHolder);
  if (holder && holder.reachable && !holder.error && holder.usableBackends === 0) {
    const others = cp.lbs.filter((l) => l.name !== holder.name && l.reachable && !l.error);
    out.push(
      `VIP holder ${holder.name} has 0 usable backends${others.length ? `, ${others.map((l) => `${l.name} has ${l.usableBackends}`).join(', ')}` : ''}`,
    );
  }
  for (const lb of cp.lbs) {
    if (!lb.reachable || lb.error) {
      // the reason names the LB already ("lb2: not answering for 5 s")
      out.push(lb.error ?? `${lb.name} does not answer`);
      continue;
    }
    if (lb.name === holder?.name && lb.usableBackends === 0) continue; // said above
    const down = lb.backends.filter((b) => !b.up);
    if (down.length)
      out.push(
        `${lb.name}'s HAProxy has ${usable(lb.usableBackends)} of ${lb.backends.length} (${down.map((b) => `${b.server} DOWN${b.lastCheck ? `: ${b.lastCheck}` : ''}`).join('; ')})`,
      );
  }
  if (!cp.apiViaVip) out.push('the API does not answer through the VIP');
  // --- etcd
  if (!cp.etcd.length && cp.apiservers.length)
    out.push('etcd does not answer: no master could run etcdctl (see the masters above)');
  if (cp.etcd.length) {
    if (!cp.etcdLeader) out.push('etcd has no leader: no quorum, writes fail');
    for (const m of cp.etcd.filter((x) => !x.healthy))
      out.push(`etcd member ${m.name} is unhealthy${m.error ? `: ${m.error}` : ''}`);
  }
  // --- snapshots
  if (cp.badSnapshots) out.push(`${cp.badSnapshots} BAD snapshot(s): see \`halab snapshot list\``);
  // --- apiservers, leases, nodes
  for (const a of cp.apiservers.filter((x) => !x.ready)) out.push(`the apiserver on ${a.name} is not ready`);
  for (const l of cp.leases) {
    if (l.holder) continue;
    out.push(
      l.lastHolder
        ? `the ${l.name} lease is not held: ${l.lastHolder.split('_')[0]} stopped renewing it ${l.expiredS ?? '?'} s ago`
        : `the ${l.name} lease is not held`,
    );
  }
  for (const n of cp.nodes.filter((x) => !x.ready))
    out.push(`node ${n.name} is NotReady${n.reason ? ` (${n.reason})` : ''}`);
  return out;
}
