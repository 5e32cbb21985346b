// `halab snapshot restore [--snapshot FILE | --from LOCAL] [--yes|--step]` and
// `halab snapshot export FILE -o LOCAL`.
import { join, resolve } from 'node:path';
import type { DrillEvent } from '../api/drills.ts';
import { REPORT_FILES } from '../drills/report.ts';
import { LabHandle } from '../engine/lab.ts';
import { HalabError } from '../errors.ts';
import { chooseSnapshot, exportSnapshot, restoreSnapshot } from '../snapshots/restore.ts';
import { confirm, enterWaiter, humanRenderer, summary } from './drill.ts';
import type { CommandInput } from './extra.ts';

const out = (s = '') => process.stdout.write(`${s}\n`);

export async function restoreCommand(input: CommandInput): Promise<number> {
  const name = await input.resolveLab(input.values.lab as string | undefined);
  const snapshot = (input.values.snapshot as string | undefined) ?? input.pos[1];
  const from = input.values.from as string | undefined;
  if (snapshot && from)
    throw new HalabError('USAGE', 'restore either a snapshot on a master (--snapshot) or a local file (--from)', {
      fix: 'halab snapshot restore [--snapshot FILE | --from LOCAL_FILE] [--yes|--step]',
    });
  const stepwise = input.values.step === true;
  const lab = await LabHandle.open(name);
  try {
    const src = { snapshot, from: from ? resolve(from) : undefined };
    if (input.values.yes !== true && !stepwise) {
      // say which snapshot before asking (it is checked again right before the restore)
      const snap = await chooseSnapshot(lab, src);
      if (!process.stdin.isTTY)
        throw new HalabError(
          'CONFIRM',
          `restoring ${snap.master}:${snap.file} replaces every etcd member's data in lab ${name}: confirm with --yes`,
          { fix: `halab snapshot restore --lab ${name} --snapshot ${snap.master}:${snap.file} --yes` },
        );
      out(
        `${snap.master}:${snap.file}: revision ${snap.revision}, ${snap.keys} keys, taken ${snap.createdAt} (${snap.source})`,
      );
      if (!(await confirm(`Replace every etcd member's data in lab ${name} with it? [y/N] `))) {
        process.stderr.write('not restored\n');
        return 1;
      }
    }
    const ac = new AbortController();
    const onSig = () => {
      process.stderr.write('\nstopping the restore: etcd and the control plane are started again first\n');
      ac.abort();
    };
    process.on('SIGINT', onSig);
    const waiter = stepwise ? enterWaiter() : undefined;
    const render = input.json
      ? (e: DrillEvent) => process.stdout.write(`${JSON.stringify(e)}\n`)
      : humanRenderer(Date.now());
    try {
      const r = await restoreSnapshot(lab, src, {
        emit: render,
        stepwise,
        waitForContinue: waiter?.wait,
        signal: ac.signal,
      });
      if (!input.json) {
        out(summary(r.result));
        if (r.reportDir) out(`report: ${join(r.reportDir, REPORT_FILES.md)}`);
      }
      return r.result.ok ? 0 : 1;
    } finally {
      waiter?.close();
      process.off('SIGINT', onSig);
    }
  } finally {
    await lab.close();
  }
}

export async function exportCommand(input: CommandInput): Promise<number> {
  const file = input.pos[1] ?? (input.values.snapshot as string | undefined);
  const to = input.values.out as string | undefined;
  if (!file || !to)
    throw new HalabError('USAGE', 'which snapshot, and where to?', {
      fix: 'halab snapshot export FILE -o LOCAL_FILE  (FILE: a name from `halab snapshot list`, or MASTER:PATH)',
    });
  const name = await input.resolveLab(input.values.lab as string | undefined);
  const lab = await LabHandle.open(name);
  try {
    const r = await exportSnapshot(lab, file, resolve(to));
    if (input.json) out(JSON.stringify({ path: r.path, sha256: r.sha256, snapshot: r.snapshot }));
    else
      out(
        `wrote ${r.path}: ${r.snapshot.master}:${r.snapshot.file}, revision ${r.snapshot.revision}, ${r.snapshot.keys} keys, sha256 ${r.sha256.slice(0, 16)}…\n  restore it (into this lab or another): halab snapshot restore --from ${r.path}`,
      );
    return 0;
  } finally {
    await lab.close();
  }
}
