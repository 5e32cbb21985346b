// `halab watch [--lab LAB] [--duration S]`: the drills' probe through the VIP, one line a second,
// with every manual action (this terminal's, another's, the app's) as it happens; a report at the end.
import { join } from 'node:path';
import type { WatchTick } from '../drills/watch.ts';
import { REPORT_FILES } from '../drills/report.ts';
import { LabHandle } from '../engine/lab.ts';
import { HalabError } from '../errors.ts';
import type { CommandInput } from './extra.ts';

const out = (s = '') => process.stdout.write(`${s}\n`);
const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);

/** One live line (pure). */
export function formatTick(t: WatchTick): string {
  const v = t.view;
  const vip = v ? (v.vipHolders.length > 1 ? v.vipHolders.join('+') : (v.vipHolder ?? 'NONE')) : '?';
  const lease = (n: string) => v?.leases.find((l) => l.name === n)?.holder ?? (v ? 'NONE' : '?');
  return [
    `+${t.elapsedS.toFixed(0).padStart(4)} s`,
    `reads ${String(t.reads.ok).padStart(2)}/s${t.reads.failed ? ` ${t.reads.failed} FAILED` : ''}`,
    `writes ${t.writes.ok}/s${t.writes.failed ? ` ${t.writes.failed} FAILED` : ''}${t.writes.unknown ? ` ${t.writes.unknown} unknown` : ''}`,
    `failures ${t.failedReads}r/${t.failedWrites}w${t.unknownWrites ? `/${t.unknownWrites}?` : ''}`,
    `gap ${ms(t.gapMs)} (longest ${ms(t.longestGapMs)})`,
    `VIP ${vip}`,
    `etcd leader ${v ? (v.etcdLeader ?? 'NONE') : '?'}`,
    `leases cm ${lease('kube-controller-manager')}, sched ${lease('kube-scheduler')}`,
  ].join('  ');
}

export async function watchCommand(input: CommandInput): Promise<number> {
  const name = await input.resolveLab(input.pos[0] ?? (input.values.lab as string | undefined));
  const duration = input.values.duration === undefined ? undefined : Number(input.values.duration);
  if (duration !== undefined && !(duration > 0))
    throw new HalabError('USAGE', `--duration ${String(input.values.duration)} is not a number of seconds`, {
      fix: 'halab watch --duration 30',
    });
  const { startWatch, longestOutage } = await import('../drills/watch.ts');
  const lab = await LabHandle.open(name);
  try {
    const rel = (t: number) => `+${((t - w.startedAt) / 1000).toFixed(1)} s`;
    const w = await startWatch(lab, {
      onMark: (m) => {
        if (!input.json)
          out(`${rel(m.t).padStart(9)}  ${m.kind === 'fault' ? '⚡' : m.kind === 'recovery' ? '↺' : '•'} ${m.label}`);
        else out(JSON.stringify({ type: 'mark', mark: m }));
      },
    });
    if (!input.json)
      out(
        `watching lab ${name}: the probe on ${w.host} sends reads and writes through https://${lab.state.spec.vip}:6443${duration ? ` for ${duration} s` : ''}; Ctrl-C stops and writes the report`,
      );
    const done = new Promise<void>((resolve) => {
      const onSig = () => resolve();
      process.once('SIGINT', onSig);
      process.once('SIGTERM', onSig);
      if (duration) setTimeout(resolve, duration * 1000);
    });
    const timer = setInterval(() => {
      const t = w.tick();
      out(input.json ? JSON.stringify({ type: 'tick', ...t }) : formatTick(t));
    }, 1000);
    await done;
    clearInterval(timer);
    if (!input.json) out('stopping: the probe finishes its requests in flight…');
    const { result, reportDir } = await w.stop();
    const end = w.startedAt + result.durationMs;
    if (input.json) {
      out(JSON.stringify({ type: 'end', result, reportDir }));
      return 0;
    }
    for (const kind of ['read', 'write'] as const) {
      const st = result.probe.find((s) => s.kind === kind);
      const o = longestOutage(w.samples, kind, result.probeWindow?.from ?? w.startedAt, end);
      out(
        `${kind}s: ${st?.requests ?? 0} requests, ${st?.failures ?? 0} failed${kind === 'write' ? `, ${st?.unknowns ?? 0} unknown` : ''}; longest outage ${ms(o.ms)} (${rel(o.from)} → ${rel(o.to)}${o.failed ? `, ${o.failed} failed` : ''})`,
      );
    }
    if (result.marks.length) out(`done by hand: ${result.marks.map((m) => `${rel(m.t)} ${m.label}`).join('; ')}`);
    if (reportDir) out(`report: ${join(reportDir, REPORT_FILES.md)} (timeline: ${join(reportDir, REPORT_FILES.svg)})`);
    return 0;
  } finally {
    await lab.close();
  }
}
