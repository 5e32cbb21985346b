// One real lab for a whole test file, built in-process before its tests and removed after them,
// even when they fail; afterAll fails the file if anything of the lab is left on the machine.
import { afterAll, beforeAll, expect } from 'vitest';
import { down, LabHandle, up } from '../../provisioning/engine/lab.ts';
import { machineNetworks } from '../../provisioning/machine.ts';
import { validateSpec } from '../../provisioning/spec/validate.ts';
import { cli, freshHome, leaks, removeHome, saveLabLog } from './helpers.ts';

export interface LabFixture {
  /** The open handle (set once beforeAll has run). */
  readonly lab: LabHandle;
  /** This file's HALAB_HOME (for the CLI). */
  readonly home: string;
}

/**
 * Register beforeAll/afterAll for the lab `name` in `subnet`, built from the spec fields in
 * `input` (everything else defaults: the reference lab).
 */
export function useLab(o: {
  tag: string;
  name: string;
  subnet: string;
  input?: Record<string, unknown>;
  /** HALAB_HOME under ~/.local/state, like the default (see freshHome). */
  underHome?: boolean;
}): LabFixture {
  let home = '';
  let lab: LabHandle | undefined;
  beforeAll(async () => {
    home = freshHome(o.tag, { underHome: o.underHome });
    const v = validateSpec({ ...o.input, name: o.name, subnet: o.subnet }, await machineNetworks());
    if (!v.spec) throw new Error(v.issues.map((i) => i.message).join('; '));
    const res = await up(v.spec, { emit: () => {} });
    if (!res.ok) throw new Error(`up failed: ${res.error?.message} ${res.error?.details ?? ''}`);
    lab = await LabHandle.open(o.name);
  });
  afterAll(async () => {
    await lab?.close();
    await removeLab(home, o.name);
  });
  return {
    get lab() {
      if (!lab) throw new Error(`lab ${o.name} is not up (beforeAll failed)`);
      return lab;
    },
    get home() {
      return home;
    },
  };
}

/**
 * Remove lab `name` of `home` after a test file, whatever state its tests left it in (up, half
 * down, already gone): its log is saved, the engine's `down` runs, then the CLI's when anything is
 * left; the home is removed; fails (expect) when anything of the lab is still on the machine.
 */
export async function removeLab(home: string, name: string): Promise<void> {
  saveLabLog(home, name);
  let downOk = false;
  try {
    downOk = (await down(name, { emit: () => {} })).ok;
  } catch {
    /* checked below through leaks */
  }
  const left = leaks(home, name);
  if (!downOk || left.length) await cli(home, ['down', name]);
  const left2 = leaks(home, name);
  removeHome(home);
  expect(left).toEqual([]);
  expect(left2).toEqual([]);
}
