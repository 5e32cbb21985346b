import type { LabStatus } from '../api/types.ts';

export function formatStatus(st: LabStatus): string {
  const lines = [`lab ${st.lab} (${st.provider}) — ${st.phase}; API VIP ${st.vip}`, ''];
  lines.push(`${'HOST'.padEnd(8)}${'ROLE'.padEnd(8)}${'ADDRESS'.padEnd(16)}${'STATE'.padEnd(14)}SERVICES (restarts)`);
  for (const h of st.hosts) {
    const state = h.reachable ? 'up' : h.error ?? 'unreachable';
    const svcs = h.services.map((s) => `${s.name}:${s.up ? 'up' : 'DOWN'}${s.restarts ? `(${s.restarts})` : ''}`).join(' ');
    lines.push(`${h.name.padEnd(8)}${h.role.padEnd(8)}${h.address.padEnd(16)}${state.slice(0, 13).padEnd(14)}${svcs}`);
  }
  if (st.controlPlane) lines.push('', ...formatControlPlane(st.controlPlane));
  return `${lines.join('\n')}\n`;
}

function formatControlPlane(cp: Record<string, unknown>): string[] {
  return Object.entries(cp).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
}
