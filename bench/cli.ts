// Bench `cli`: how fast the `halab` CLI answers, next to `kubectl version --client` measured in the
// same run (the kubectl of the Kubernetes cache). `halab --help` and `halab status` on a ready
// reference lab, through bin/halab as a user runs it (the bundle in dist/cli, built first), and
// from the TypeScript sources (tsx) for comparison. Targets: --help 0.3 s, status 1 s.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { binaryPath } from '../provisioning/artifacts/kubernetes.ts';
import { down, up } from '../provisioning/engine/lab.ts';
import { machineNetworks } from '../provisioning/machine.ts';
import { validateSpec } from '../provisioning/spec/validate.ts';
import { buildCli } from '../build/build-cli.ts';
import type { Bench } from './suites.ts';

const ROOT = join(import.meta.dirname, '..');
const HALAB = join(ROOT, 'bin', 'halab');
const RUNS = 7;

export interface Timing {
  /** Median wall time, in seconds. */
  median: number;
  min: number;
  max: number;
}

/** Wall time of `runs` runs of `cmd args` (one warm-up run first, not counted); a failing run throws. */
export async function timeCommand(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  runs = RUNS,
): Promise<Timing> {
  const once = async () => {
    const t = performance.now();
    await promisify(execFile)(cmd, args, { env, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
    return (performance.now() - t) / 1000;
  };
  await once();
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) ts.push(await once());
  ts.sort((a, b) => a - b);
  return { median: ts[Math.floor(ts.length / 2)]!, min: ts[0]!, max: ts[ts.length - 1]! };
}

/** One line: the figure, its spread, and the target with its verdict (pure: checked without a lab). */
export function timingLine(label: string, t: Timing, targetS?: number): string {
  const figure = `${t.median.toFixed(2)} s (min ${t.min.toFixed(2)}, max ${t.max.toFixed(2)})`;
  const target = targetS === undefined ? '' : `  target ${targetS} s: ${t.median <= targetS ? 'met' : 'MISSED'}`;
  return `  ${label.padEnd(48)} ${figure.padEnd(32)}${target}`;
}

export const cliBench: Bench = {
  name: 'cli',
  title: `CLI response time (median of ${RUNS} runs each, wall time) next to kubectl, on a ready reference lab`,
  async run() {
    await buildCli();
    const v = validateSpec({ name: 'benchcli', subnet: '10.213.94.0/24' }, await machineNetworks());
    if (!v.spec) throw new Error(v.issues.map((i) => i.message).join('; '));
    const res = await up(v.spec, { emit: () => {} });
    if (!res.ok) throw new Error(`up failed: ${res.error?.message}`);
    try {
      const sources = { ...process.env, HALAB_FROM_SOURCES: '1' };
      const kubectl = await timeCommand(binaryPath('kubectl'), ['version', '--client']);
      const help = await timeCommand(HALAB, ['--help']);
      const status = await timeCommand(HALAB, ['status', 'benchcli']);
      const helpSrc = await timeCommand(HALAB, ['--help'], sources, 3);
      const statusSrc = await timeCommand(HALAB, ['status', 'benchcli'], sources, 3);
      console.log(timingLine('kubectl version --client', kubectl));
      console.log(timingLine('halab --help (bundle)', help, 0.3));
      console.log(timingLine('halab status (bundle, 7 hosts, control plane)', status, 1));
      console.log(timingLine('halab --help (from sources: tsx)', helpSrc));
      console.log(timingLine('halab status (from sources: tsx)', statusSrc));
    } finally {
      await down(v.spec.name, { emit: () => {} });
    }
  },
};
