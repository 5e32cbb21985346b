// `halab kubeconfig` and `halab snapshot save|list`.
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { homedir } from 'node:os';
import { LabHandle } from '../engine/lab.ts';
import { HalabError } from '../errors.ts';
import { adminKubeconfig } from '../k8s/kubectl.ts';
import { listSnapshotsReport, saveSnapshot, type SnapshotInfo } from '../snapshots/index.ts';
import type { CommandInput } from './extra.ts';

async function withLab<T>(input: CommandInput, fn: (lab: LabHandle) => Promise<T>): Promise<T> {
  const lab = await LabHandle.open(await input.resolveLab((input.values.lab as string | undefined) ?? undefined));
  try {
    return await fn(lab);
  } finally {
    await lab.close();
  }
}

const size = (b: number) => (b < 1024 * 1024 ? `${(b / 1024).toFixed(0)} KiB` : `${(b / 1024 / 1024).toFixed(1)} MiB`);
const age = (s: number) =>
  s < 120 ? `${Math.round(s)}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;

export function formatSnapshots(list: SnapshotInfo[]): string {
  if (!list.length) return 'no snapshots yet (take one with `halab snapshot save`)\n';
  const rows = [
    `${'MASTER'.padEnd(8)}${'FILE'.padEnd(50)}${'SIZE'.padEnd(10)}${'AGE'.padEnd(7)}${'STATUS'.padEnd(8)}DETAIL`,
  ];
  for (const s of list) {
    // each snapshot's revision against the cluster's current one: an old file, or one saved by a
    // member that was behind, shows here
    const of =
      s.behind !== undefined && s.revision !== undefined ? ` of ${s.revision + s.behind} (${s.behind} behind)` : '';
    const detail =
      s.status === 'good' ? `revision ${s.revision}${of}, ${s.keys} keys, hash ${s.hash}` : (s.error ?? '');
    rows.push(
      `${s.master.padEnd(8)}${s.file.padEnd(50)}${size(s.sizeBytes).padEnd(10)}${age(s.ageS).padEnd(7)}${(s.status === 'good' ? 'good' : 'BAD').padEnd(8)}${detail}`,
    );
  }
  return `${rows.join('\n')}\n`;
}

/**
 * `halab kubeconfig [LAB] [-o FILE]`: the lab's admin kubeconfig as a file of its own (default
 * ~/.kube/halab-LAB.conf). `up` already merged the context halab-LAB into the default kubeconfig.
 */
export async function kubeconfigCommand(input: CommandInput): Promise<number> {
  const name = await input.resolveLab(input.pos[0] ?? (input.values.lab as string | undefined));
  const lab = await LabHandle.open(name);
  await lab.close();
  const src = adminKubeconfig(lab.dir);
  const out = resolve((input.values.out as string | undefined) ?? `${homedir()}/.kube/halab-${name}.conf`);
  await mkdir(dirname(out), { recursive: true });
  await copyFile(src, out).catch(() => {
    throw new HalabError('NO_KUBECONFIG', `lab ${name} has no admin kubeconfig yet`, {
      fix: 'run `halab up` to finish the lab',
    });
  });
  if (input.json)
    process.stdout.write(`${JSON.stringify({ path: out, server: `https://${lab.state.spec.vip}:6443` })}\n`);
  else
    process.stdout.write(
      `wrote ${out} (server https://${lab.state.spec.vip}:6443, user: cluster admin)\n  export KUBECONFIG=${out}\n  kubectl get nodes\n`,
    );
  return 0;
}

/** `halab snapshot save|list|restore|export [--lab LAB] [--master M]` (restore and export: snapshot-ops.ts). */
export async function snapshotCommand(input: CommandInput): Promise<number> {
  const sub = input.pos[0];
  if (sub === 'save') {
    return withLab(input, async (lab) => {
      const s = await saveSnapshot(lab, input.values.master as string | undefined);
      if (input.json) process.stdout.write(`${JSON.stringify(s)}\n`);
      else process.stdout.write(formatSnapshots([s]));
      return s.status === 'good' ? 0 : 1;
    });
  }
  if (sub === 'list' || sub === undefined) {
    return withLab(input, async (lab) => {
      const r = await listSnapshotsReport(lab);
      if (input.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else {
        process.stdout.write(formatSnapshots(r.snapshots));
        for (const u of r.unreachable) process.stderr.write(`  ${u.master}: cannot list (${u.error})\n`);
      }
      return 0;
    });
  }
  if (sub === 'restore' || sub === 'export') {
    const m = await import('./snapshot-ops.ts');
    return sub === 'restore' ? m.restoreCommand(input) : m.exportCommand(input);
  }
  throw new HalabError('USAGE', `unknown snapshot command "${sub}"`, {
    fix: 'halab snapshot save | list | restore [--snapshot FILE | --from LOCAL] | export FILE -o LOCAL',
  });
}
