import type { ControlPlaneStatus, LabStatus } from '../api/types.ts';

const mib = (b?: number) => (b === undefined ? '?' : `${(b / 1024 / 1024).toFixed(1)} MiB`);
const age = (s: number) =>
  s < 120 ? `${Math.round(s)} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;

export function formatStatus(st: LabStatus): string {
  const lines = [`lab ${st.lab} (${st.provider}) — ${st.phase}; API endpoint https://${st.vip}:6443`, ''];
  lines.push(`${'HOST'.padEnd(8)}${'ROLE'.padEnd(8)}${'ADDRESS'.padEnd(16)}${'STATE'.padEnd(14)}SERVICES (restarts)`);
  for (const h of st.hosts) {
    // a host that does not answer is a value: its state column says so, the reason follows in full
    const state = h.reachable ? 'up' : h.error === 'powered off' ? 'powered off' : 'NO ANSWER';
    const svcs = h.reachable
      ? h.services.map((s) => `${s.name}:${s.up ? 'up' : 'DOWN'}${s.restarts ? `(${s.restarts})` : ''}`).join(' ')
      : h.error && h.error !== 'powered off'
        ? h.error
        : '';
    lines.push(`${h.name.padEnd(8)}${h.role.padEnd(8)}${h.address.padEnd(16)}${state.padEnd(14)}${svcs}`);
  }
  if (st.controlPlane) lines.push('', ...formatControlPlane(st.controlPlane));
  return `${lines.join('\n')}\n`;
}

export function formatControlPlane(cp: ControlPlaneStatus): string[] {
  const l: string[] = [];
  if (cp.problems.length) l.push('PROBLEMS', ...cp.problems.map((p) => `  - ${p}`), '');
  const vip = cp.splitBrain
    ? `VIP on ${cp.vipHolders.join(' AND ')} (split brain)`
    : `VIP held by ${cp.vipHolder ?? (cp.vipHolders.length ? cp.vipHolders.join(' AND ') : 'nobody')}`;
  l.push(`API through the VIP: ${cp.apiViaVip ? 'ready' : 'NOT READY'}; ${vip}`);
  for (const lb of cp.lbs) {
    const up = lb.backends.filter((b) => b.up).length;
    l.push(
      `  ${lb.name}: ${
        lb.reachable
          ? `VRRP ${lb.vrrpState ?? '?'}${lb.hasVip ? ' (has VIP)' : ''}, HAProxy sees ${up}/${lb.backends.length} apiservers up${lb.backends
              .filter((b) => !b.up)
              .map((b) => ` [${b.server} down: ${b.lastCheck ?? '?'}]`)
              .join('')}`
          : // the error names the host already ("lb1: not answering for 5 s")
            (lb.error?.replace(new RegExp(`^${lb.name}: `), '') ?? 'unreachable')
      }`,
    );
  }
  l.push(
    `etcd: leader ${cp.etcdLeader ?? 'NONE'}; ${cp.etcd.filter((m) => m.healthy).length}/${cp.etcd.length} healthy`,
  );
  for (const m of cp.etcd)
    l.push(
      `  ${m.name}: ${m.healthy ? 'healthy' : `UNHEALTHY${m.error ? ` (${m.error.slice(0, 60)})` : ''}`}${m.leader ? ' leader' : ''}, db ${mib(m.dbSizeBytes)}${m.revision ? `, revision ${m.revision}` : ''}`,
    );
  l.push(
    cp.lastGoodSnapshot
      ? `last good snapshot: ${cp.lastGoodSnapshot.master}:${cp.lastGoodSnapshot.file} (${age(cp.lastGoodSnapshot.ageS)} ago, revision ${cp.lastGoodSnapshot.revision ?? '?'}${cp.lastGoodSnapshot.behind !== undefined ? ` of ${cp.etcdRevision}` : ''}, ${mib(cp.lastGoodSnapshot.sizeBytes)})`
      : 'last good snapshot: none yet',
  );
  if (cp.badSnapshots) l.push(`  ${cp.badSnapshots} BAD snapshot(s): see \`halab snapshot list\``);
  l.push(`apiservers: ${cp.apiservers.map((a) => `${a.name} ${a.ready ? 'ready' : 'NOT READY'}`).join(', ')}`);
  l.push(
    `leaders: ${cp.leases.map((x) => `${x.name} ${x.holder?.split('_')[0] ?? (x.lastHolder ? `NONE (${x.lastHolder.split('_')[0]} expired ${x.expiredS ?? '?'} s ago)` : 'NONE')}`).join(', ')}`,
  );
  l.push(
    `nodes: ${cp.nodes.length ? cp.nodes.map((n) => `${n.name} ${n.ready ? 'Ready' : 'NotReady'}`).join(', ') : 'unknown (API unreachable)'}`,
  );
  return l;
}
