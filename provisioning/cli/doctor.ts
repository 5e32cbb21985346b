import type { DoctorCheck } from '../api/types.ts';
import { bootstrapPreflight } from '../bootstraps/index.ts';
import { providerPreflight } from '../providers/index.ts';

/** `halab doctor`: the union of every provider's and every bootstrap's preflight. */
export async function runDoctor(): Promise<DoctorCheck[]> {
  const [p, b] = await Promise.all([providerPreflight(), bootstrapPreflight()]);
  return [...p, ...b];
}

export function formatDoctor(checks: DoctorCheck[]): string {
  const lines: string[] = [];
  for (const c of checks) {
    const mark = c.ok ? '✔' : c.required ? '✖' : '·';
    lines.push(`${mark} ${c.title}${c.detail && !c.ok ? ` — ${c.detail}` : ''}`);
    if (!c.ok && c.fix) lines.push(`    fix: ${c.fix}`);
  }
  const missing = checks.filter((c) => c.required && !c.ok).length;
  lines.push(
    '',
    missing ? `${missing} required item${missing === 1 ? '' : 's'} missing` : 'all prerequisites are present',
  );
  return `${lines.join('\n')}\n`;
}
