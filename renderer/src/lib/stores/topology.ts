// The topology map's model: every host of a LabStatus with its health, the reasons when it is
// not healthy, and its badges (VIP holder, etcd leader, lease holders, node readiness). Pure.
import type { HostRole, LabStatus } from '../../../../provisioning/api/types.ts';

export type Health = 'healthy' | 'degraded' | 'down' | 'unknown';

export interface MapHost {
  name: string;
  role: HostRole;
  address: string;
  health: Health;
  /** Why it is not healthy (empty when healthy). */
  problems: string[];
  badges: { text: string; kind: 'vip' | 'leader' | 'lease' | 'ok' | 'bad' | 'info' }[];
  /** One line per component: "apiserver ready", "etcd healthy (leader)", "VRRP MASTER". */
  facts: string[];
}

export interface MapModel {
  vip: string;
  /** THE holder of the VIP (undefined: none, or several: see vipHolders). */
  vipHolder?: string;
  /** Every LB with the VIP; two or more live ones = split brain. */
  vipHolders: string[];
  splitBrain: boolean;
  /** Where the VIP is, in words: "lb1", "lb1 AND lb2 (split brain)", "nobody". */
  vipText: string;
  /** The control plane's unhealthy signals (ControlPlaneStatus.problems). */
  problems: string[];
  apiViaVip?: boolean;
  lbs: MapHost[];
  masters: MapHost[];
  workers: MapHost[];
  /** Every host healthy. */
  allHealthy: boolean;
}

/** "m1_4f2c..." -> "m1" (leader-election identities are host_uuid). */
export function holderHost(holder: string | undefined): string | undefined {
  return holder ? holder.split('_')[0] : undefined;
}

export function mapModel(st: LabStatus): MapModel {
  const cp = st.controlPlane;
  const hosts: MapHost[] = st.hosts.map((h) => {
    const problems: string[] = [];
    const badges: MapHost['badges'] = [];
    const facts: string[] = [];
    if (!h.reachable) problems.push(h.error ?? 'unreachable');
    for (const s of h.services) if (!s.up) problems.push(`${s.name} is down`);
    if (h.reachable) facts.push(`${h.services.filter((s) => s.up).length}/${h.services.length} services up`);
    if (cp && h.role === 'lb') {
      const lb = cp.lbs.find((x) => x.name === h.name);
      if (lb) {
        facts.push(`VRRP ${lb.vrrpState ?? 'unknown'}`);
        const up = lb.backends.filter((b) => b.up).length;
        facts.push(`HAProxy sees ${up}/${lb.backends.length} apiservers up`);
        if (h.reachable && !lb.reachable) problems.push('keepalived state unreadable');
        if (lb.hasVip && lb.backends.length && lb.usableBackends === 0)
          problems.push('holds the VIP with 0 usable backends');
      }
      if (cp.splitBrain && cp.vipHolders.includes(h.name))
        badges.push({ text: `VIP ${st.vip} (split brain)`, kind: 'bad' });
      else if (cp.vipHolder === h.name) badges.push({ text: `VIP ${st.vip}`, kind: 'vip' });
      if (cp.splitBrain && cp.vipHolders.includes(h.name))
        problems.push(`split brain: the VIP is also on ${cp.vipHolders.filter((x) => x !== h.name).join(', ')}`);
    }
    if (cp && h.role === 'master') {
      const m = cp.etcd.find((x) => x.name === h.name);
      const a = cp.apiservers.find((x) => x.name === h.name);
      if (!m || !m.healthy) problems.push(`etcd ${m ? 'unhealthy' : 'not reporting'}`);
      if (!a || !a.ready) problems.push('apiserver not ready');
      facts.push(`etcd ${m?.healthy ? 'healthy' : 'unhealthy'}${m?.revision ? `, revision ${m.revision}` : ''}`);
      facts.push(`apiserver ${a?.ready ? 'ready' : 'not ready'}`);
      if (m?.leader) badges.push({ text: 'etcd leader', kind: 'leader' });
      for (const l of cp.leases) {
        if (holderHost(l.holder) === h.name)
          badges.push({ text: `${l.name.replace(/^kube-/, '')} leader`, kind: 'lease' });
      }
    }
    if (cp && h.role === 'worker') {
      const n = cp.nodes.find((x) => x.name === h.name);
      if (!n) problems.push('node not registered');
      else if (!n.ready) problems.push(`node NotReady${n.reason ? ` (${n.reason})` : ''}`);
      facts.push(`node ${n ? (n.ready ? 'Ready' : 'NotReady') : 'unknown'}`);
      if (n?.ready) badges.push({ text: 'Ready', kind: 'ok' });
    }
    const health: Health = !h.reachable ? 'down' : problems.length ? 'degraded' : 'healthy';
    return { name: h.name, role: h.role, address: h.address, health, problems, badges, facts };
  });
  const holders = cp?.vipHolders ?? [];
  return {
    vip: st.vip,
    vipHolder: cp?.vipHolder,
    vipHolders: holders,
    splitBrain: cp?.splitBrain ?? false,
    vipText: cp?.splitBrain
      ? `${holders.join(' AND ')} (split brain)`
      : (cp?.vipHolder ?? (holders.length ? holders.join(' AND ') : 'nobody')),
    problems: cp?.problems ?? [],
    apiViaVip: cp?.apiViaVip,
    lbs: hosts.filter((h) => h.role === 'lb'),
    masters: hosts.filter((h) => h.role === 'master'),
    workers: hosts.filter((h) => h.role === 'worker'),
    allHealthy: hosts.length > 0 && hosts.every((h) => h.health === 'healthy'),
  };
}
