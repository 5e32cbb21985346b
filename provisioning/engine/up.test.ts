import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EngineEvent, LabSpec } from '../api/types.ts';
import { fastBootstrap } from '../bootstraps/fast/index.ts';
import { FakeProvider } from '../providers/fake.testutil.ts';
import { labDir, readState } from '../state/store.ts';
import type { LabContext } from './context.ts';
import { testSpec } from './fake-lab.testutil.ts';
import { down, labPlan, status, up } from './lab.ts';
import type { Step } from './runner.ts';

let home: string;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'halab-up-'));
  process.env.HALAB_HOME = home;
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

/** A step that counts its runs and is done once it ran (it "looks at reality": the counter). */
function counted(id: string, o: { fail?: boolean; block?: boolean; onStart?: () => void } = {}) {
  const c = { runs: 0, ran: false };
  const step: Step<LabContext> = {
    id,
    title: id,
    done: async () => c.ran,
    run: async (_lab, t) => {
      c.runs++;
      o.onStart?.();
      if (o.fail) throw new Error(`${id} broke`);
      if (o.block) {
        await new Promise((_r, reject) => t.signal.addEventListener('abort', () => reject(new Error('aborted'))));
      }
      c.ran = true;
    },
  };
  return { step, c };
}

function run(
  spec: LabSpec,
  provider: FakeProvider,
  steps: Step<LabContext>[],
  o: { keep?: boolean; signal?: AbortSignal } = {},
) {
  const events: EngineEvent[] = [];
  const plan = [...labPlan(spec, { provider, hostsOnly: true }), ...steps];
  const p = up(spec, {
    emit: (e) => events.push(e),
    provider,
    bootstrap: fastBootstrap,
    plan,
    keepOnFailure: o.keep,
    signal: o.signal,
  });
  return { p, events };
}

const ends = (events: EngineEvent[]) =>
  events.flatMap((e) => (e.type === 'step:end' ? [`${e.stepId}:${e.status}`] : []));

describe('up and down over a fake provider', () => {
  it('makes the lab key first, then the hosts, then the steps; a second run skips every done step', async () => {
    const spec = testSpec({ name: 'ok1' });
    const provider = new FakeProvider();
    const a = counted('a');
    const first = run(spec, provider, [a.step]);
    expect((await first.p).ok).toBe(true);
    expect(ends(first.events)).toEqual(['lab:key:done', 'fake:hosts:done', 'a:done']);
    expect(existsSync(join(labDir('ok1'), 'keys', 'id_ed25519'))).toBe(true);
    expect((await readState('ok1'))?.phase).toBe('ready');
    const again = run(spec, provider, [a.step]);
    expect((await again.p).ok).toBe(true);
    expect(ends(again.events)).toEqual(['lab:key:skipped', 'fake:hosts:skipped', 'a:skipped']);
    expect(a.c.runs).toBe(1);
  });

  it('a failed step tears down a lab this run created, and leaves nothing', async () => {
    const spec = testSpec({ name: 'fail1' });
    const provider = new FakeProvider();
    const { p, events } = run(spec, provider, [counted('a').step, counted('b', { fail: true }).step]);
    const res = await p;
    expect(res.ok).toBe(false);
    expect(res.error?.message).toBe('b broke');
    expect(provider.actions.at(-1)).toBe('destroy');
    expect(events.some((e) => e.type === 'step:log' && /removing the half-built lab fail1/.test(e.message))).toBe(true);
    expect(await readState('fail1')).toBeUndefined();
    expect(existsSync(labDir('fail1'))).toBe(false);
  });

  it('keepOnFailure keeps the half-built lab, marked failed', async () => {
    const spec = testSpec({ name: 'keep1' });
    const provider = new FakeProvider();
    const res = await run(spec, provider, [counted('b', { fail: true }).step], { keep: true }).p;
    expect(res.ok).toBe(false);
    expect(provider.actions).not.toContain('destroy');
    expect((await readState('keep1'))?.phase).toBe('failed');
  });

  it('never destroys a lab that existed before this run: it is kept, marked failed', async () => {
    const spec = testSpec({ name: 'exist1' });
    const provider = new FakeProvider();
    expect((await run(spec, provider, [counted('a').step]).p).ok).toBe(true);
    const res = await run(spec, provider, [counted('a').step, counted('b', { fail: true }).step]).p;
    expect(res.ok).toBe(false);
    expect(provider.actions).not.toContain('destroy');
    const st = await readState('exist1');
    expect(st?.phase).toBe('failed');
    expect(existsSync(join(labDir('exist1'), 'keys', 'id_ed25519'))).toBe(true);
  });

  it('cancel leaves the lab interrupted and resumable: the next run finishes it without redoing done steps', async () => {
    const spec = testSpec({ name: 'cancel1' });
    const provider = new FakeProvider();
    const a = counted('a');
    const ac = new AbortController();
    // cancelled while b runs (whatever the machine's load: not after a fixed delay)
    const blocking = counted('b', { block: true, onStart: () => setTimeout(() => ac.abort(), 0) });
    const first = run(spec, provider, [a.step, blocking.step], { signal: ac.signal });
    const res = await first.p;
    expect(res.cancelled).toBe(true);
    expect(provider.actions).not.toContain('destroy');
    const st = await readState('cancel1');
    expect(st?.phase).toBe('interrupted');
    expect(st?.completedSteps).toEqual(['lab:key', 'fake:hosts', 'a']);
    const b2 = counted('b');
    const second = run(spec, provider, [a.step, b2.step]);
    expect((await second.p).ok).toBe(true);
    expect(ends(second.events)).toEqual(['lab:key:skipped', 'fake:hosts:skipped', 'a:skipped', 'b:done']);
    expect(a.c.runs).toBe(1);
    expect((await readState('cancel1'))?.phase).toBe('ready');
  });

  it('refuses, before changing anything, missing prerequisites and a name taken by another spec', async () => {
    const provider = new FakeProvider();
    provider.checks = [{ id: 'root', title: 'running as root', ok: false, required: true, fix: 'run halab with sudo' }];
    await expect(run(testSpec({ name: 'pre1' }), provider, []).p).rejects.toMatchObject({
      code: 'PREREQUISITES',
      fix: 'run halab with sudo',
    });
    expect(await readState('pre1')).toBeUndefined();
    provider.checks = [];
    expect((await run(testSpec({ name: 'same1' }), provider, []).p).ok).toBe(true);
    await expect(run(testSpec({ name: 'same1', vip: '10.213.51.9' }), provider, []).p).rejects.toMatchObject({
      code: 'LAB_EXISTS',
    });
  });

  it('down removes the lab, or reports what is left and keeps its state for another try', async () => {
    const spec = testSpec({ name: 'down1' });
    const provider = new FakeProvider();
    expect((await run(spec, provider, []).p).ok).toBe(true);
    provider.left = ['link hl123456v1'];
    const events: EngineEvent[] = [];
    const res = await down('down1', { emit: (e) => events.push(e), provider, bootstrap: fastBootstrap });
    expect(res.ok).toBe(false);
    expect(res.leftovers).toEqual(['link hl123456v1']);
    expect(res.error).toMatchObject({ code: 'LEFTOVERS', details: 'link hl123456v1' });
    expect((await readState('down1'))?.phase).toBe('destroying');
    provider.left = [];
    const again = await down('down1', { emit: () => {}, provider, bootstrap: fastBootstrap });
    expect(again.ok).toBe(true);
    expect(existsSync(labDir('down1'))).toBe(false);
  });

  it('status reports a powered-off host as a value and asks the bootstrap whether there is a cluster', async () => {
    const spec = testSpec({ name: 'st1' });
    const provider = new FakeProvider();
    expect((await run(spec, provider, []).p).ok).toBe(true);
    await provider.services(undefined as never, 'm1').ensure({ name: 'etcd', command: ['etcd'] });
    provider.hosts.get('w2')!.on = false;
    const st = await status('st1', { provider, bootstrap: fastBootstrap });
    expect(st.controlPlane).toBeUndefined();
    expect(st.hosts.find((h) => h.name === 'w2')).toMatchObject({ reachable: false, error: 'powered off' });
    expect(st.hosts.find((h) => h.name === 'm1')?.services.map((s) => `${s.name}:${s.up}`)).toEqual(['etcd:true']);
  });
});
