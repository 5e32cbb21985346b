// `stop` and `start`: a lab that is not needed now gives its memory back and comes back later
// (also after this machine rebooted) with the same addresses, host keys, disks and etcd data.
// stop: every process ends, the kernel objects go (the provider's stop), the files stay;
// start: `up` with the lab's recorded spec, whose steps make the kernel objects again over them.
import type { LabState, LabSummary } from '../api/types.ts';
import { HalabError } from '../errors.ts';
import { recordAction } from '../operate/actions.ts';
import { acquireLock, labDir, listLabs, readState } from '../state/store.ts';
import { LabHandle, type LabParts } from './handle.ts';
import { runSteps, type Emit, type RunResult, type Step } from './runner.ts';
import { up, type UpOptions } from './up.ts';

/**
 * Stop lab `name`: every process of every host ends, and its namespaces, links, mounts, loop
 * devices and cgroups are released; its state, keys, the hosts' files and the disk images stay.
 * Then checks that nothing of it runs (the provider's and bootstrap's leftover checks). Errors:
 * NO_LAB, LAB_BUSY; LEFTOVERS as a failed run.
 */
export async function stop(name: string, o: { emit: Emit } & LabParts): Promise<RunResult & { leftovers: string[] }> {
  const lab = await LabHandle.open(name, o);
  const release = await acquireLock(name, 'stop');
  let leftovers: string[] = [];
  const step: Step<LabHandle> = {
    id: 'stop',
    title: `Stop lab ${name}: every process, then its namespaces, network, mounts and loop devices (its files stay)`,
    run: async (l, t) => {
      await l.close();
      const t0 = Date.now();
      await l.provider.stop(l, { log: (m, x) => t.log(m, x) });
      await l.bootstrap.release?.(l, { log: (m) => t.log(m) });
      l.state.phase = 'stopped';
      await l.save();
      leftovers = [...(await l.provider.leftovers(l)), ...((await l.bootstrap.leftovers?.(l)) ?? [])];
      if (leftovers.length)
        throw new HalabError('LEFTOVERS', `lab ${name} was not stopped completely`, {
          details: leftovers.join('\n'),
          fix: `run \`halab stop ${name}\` again; \`halab down ${name}\` removes the lab altogether`,
        });
      t.log(`stopped in ${((Date.now() - t0) / 1000).toFixed(1)} s; \`halab start ${name}\` brings it back`);
      await recordAction(l.dir, { kind: 'info', label: 'lab stopped', command: `halab stop ${name}` });
    },
  };
  try {
    const res = await runSteps({ lab: name, action: 'stop', steps: [step], ctx: lab, emit: o.emit });
    return { ...res, leftovers };
  } finally {
    await lab.close();
    await release();
  }
}

/**
 * Start lab `name` again (after `stop`, a reboot of this machine, or to finish / repair it):
 * `up` with the spec recorded in its state. Errors: NO_LAB, and up's.
 */
export async function start(name: string, o: Omit<UpOptions, 'hostsOnly'>): Promise<RunResult> {
  const state = await readState(name);
  if (!state)
    throw new HalabError('NO_LAB', `there is no lab named ${name}`, {
      fix: 'see `halab list`, or create it with `halab up`',
    });
  return up(state.spec, o);
}

/** Is anything of the lab running: at least one host powered on? */
export async function isRunning(state: LabState, parts: LabParts = {}): Promise<boolean> {
  const lab = new LabHandle(state, labDir(state.name), parts);
  for (const h of state.spec.hosts) if (await lab.provider.isPoweredOn(lab, h.name).catch(() => false)) return true;
  return false;
}

/** Every lab with whether it runs now (`halab list`: a reboot leaves a "ready" lab stopped). */
export async function listLabsRunning(): Promise<(LabSummary & { running: boolean })[]> {
  const out: (LabSummary & { running: boolean })[] = [];
  for (const l of await listLabs()) {
    const state = await readState(l.name).catch(() => undefined);
    out.push({ ...l, running: state ? await isRunning(state).catch(() => false) : false });
  }
  return out;
}
