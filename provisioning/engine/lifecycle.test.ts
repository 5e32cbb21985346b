import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EngineEvent } from '../api/types.ts';
import { fastBootstrap } from '../bootstraps/fast/index.ts';
import { FakeProvider } from '../providers/fake.testutil.ts';
import { labDir, readState } from '../state/store.ts';
import { testSpec } from './fake-lab.testutil.ts';
import { isRunning, start, stop } from './lifecycle.ts';
import { labPlan } from './plan.ts';
import { up } from './up.ts';

let home: string;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'halab-lifecycle-'));
  process.env.HALAB_HOME = home;
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

async function made() {
  const spec = testSpec({ name: 'lc1' });
  const provider = new FakeProvider();
  const plan = labPlan(spec, { provider, hostsOnly: true });
  const r = await up(spec, { emit: () => {}, provider, bootstrap: fastBootstrap, plan });
  expect(r.ok).toBe(true);
  return { spec, provider };
}

describe('stop and start', () => {
  it('stop ends the hosts, keeps the state, says stopped; start brings them back with the recorded spec', async () => {
    const { spec, provider } = await made();
    expect(await isRunning((await readState('lc1'))!, { provider })).toBe(true);
    const events: EngineEvent[] = [];
    const s = await stop('lc1', { emit: (e) => events.push(e), provider, bootstrap: fastBootstrap });
    expect(s.ok).toBe(true);
    expect(provider.actions).toContain('stop');
    expect(provider.hosts.size).toBe(0);
    const st = await readState('lc1');
    expect(st?.phase).toBe('stopped');
    expect(existsSync(join(labDir('lc1'), 'state.json'))).toBe(true);
    expect(await isRunning(st!, { provider })).toBe(false);
    expect(events.map((e) => e.type)).toEqual(['run:start', 'step:start', 'step:log', 'step:end', 'run:end']);

    const plan = labPlan(spec, { provider, hostsOnly: true });
    const r = await start('lc1', { emit: () => {}, provider, bootstrap: fastBootstrap, plan });
    expect(r.ok).toBe(true);
    expect(provider.hosts.size).toBe(spec.hosts.length);
    expect((await readState('lc1'))?.phase).toBe('ready');
  });

  it('a stop that leaves something behind fails and says what', async () => {
    const { provider } = await made();
    provider.left = ['loop device /dev/loop9'];
    const s = await stop('lc1', { emit: () => {}, provider, bootstrap: fastBootstrap });
    expect(s.ok).toBe(false);
    expect(s.error).toMatchObject({ code: 'LEFTOVERS', details: 'loop device /dev/loop9' });
  });

  it('start of a lab that does not exist says so', async () => {
    await expect(start('nolab', { emit: () => {} })).rejects.toMatchObject({ code: 'NO_LAB' });
  });
});
