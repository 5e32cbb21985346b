// `down`: remove everything of a lab, from its recorded state, in a fresh process if need be,
// and prove it is gone (the provider's leftover check).
import { promises as fs } from 'node:fs';
import { HalabError } from '../errors.ts';
import { acquireLock } from '../state/store.ts';
import type { LabContext } from './context.ts';
import { LabHandle, type LabParts } from './handle.ts';
import { runSteps, type Emit, type RunResult, type Step } from './runner.ts';

/**
 * Destroy the lab's resources and, when nothing is left, its state directory. Returns what is
 * left (empty on success); the state directory is kept otherwise, so `down` can be run again.
 */
export async function removeLab(
  lab: LabContext,
  log: (message: string, level?: 'info' | 'warn') => void,
): Promise<string[]> {
  lab.state.phase = 'destroying';
  await lab.save().catch(() => undefined);
  await lab.provider.destroy(lab, { log: (m, o) => log(m, o?.level === 'warn' ? 'warn' : 'info') });
  await lab.bootstrap.release?.(lab, { log: (m) => log(m) });
  const left = [...(await lab.provider.leftovers(lab)), ...((await lab.bootstrap.leftovers?.(lab)) ?? [])];
  if (left.length === 0) await fs.rm(lab.dir, { recursive: true, force: true });
  return left;
}

/** Remove everything of a lab. Errors: NO_LAB; LEFTOVERS (as a failed run) with the list. */
export async function down(name: string, o: { emit: Emit } & LabParts): Promise<RunResult & { leftovers: string[] }> {
  const lab = await LabHandle.open(name, o);
  const release = await acquireLock(name, 'down');
  let leftovers: string[] = [];
  const step: Step<LabHandle> = {
    id: 'down',
    title: `Remove lab ${name}: processes, disks, namespaces, network, state`,
    run: async (l, t) => {
      await l.close();
      leftovers = await removeLab(l, (m, level) => t.log(m, { level }));
      if (leftovers.length) {
        throw new HalabError('LEFTOVERS', `lab ${name} was not removed completely`, {
          details: leftovers.join('\n'),
          fix: `run \`halab down ${name}\` again; if it persists, report it with this list`,
        });
      }
    },
  };
  try {
    const res = await runSteps({ lab: name, action: 'down', steps: [step], ctx: lab, emit: o.emit });
    return { ...res, leftovers };
  } finally {
    await lab.close();
    if (leftovers.length) await release();
  }
}
