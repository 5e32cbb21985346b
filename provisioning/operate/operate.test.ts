import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LabContext } from '../engine/context.ts';
import { fakeLab, testSpec } from '../engine/fake-lab.testutil.ts';
import type { Step } from '../engine/runner.ts';
import { FakeProvider } from '../providers/fake.testutil.ts';
import { parseActions, readActions, recordAction } from './actions.ts';
import { dataLossFix, judge, parseDataLossProbe } from './diagnose.ts';
import { alreadyThere, fault, heal, serviceAction } from './faults.ts';
import { withEtcdJoin, withNewMembers } from './etcd-join.ts';
import { removalQuorum, withHost, withoutHost } from './membership.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'halab-operate-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A fake lab whose provider is the in-memory one, with every host on. */
function lab() {
  const spec = testSpec();
  const l = fakeLab(spec, () => ({}), dir);
  const provider = new FakeProvider();
  for (const h of spec.hosts) provider.hosts.set(h.name, { on: true });
  const ctx = { ...l, provider, services: (h: string) => l.services(h) } as LabContext & typeof l;
  return { ctx, provider, l };
}

describe('actions by hand', () => {
  it('are recorded one line each and read back from a time on (torn lines skipped)', async () => {
    await recordAction(dir, { t: 10, kind: 'fault', label: 'lb1: power-off', host: 'lb1' });
    await recordAction(dir, { t: 20, kind: 'recovery', label: 'heal: lb1: powered on' });
    expect((await readActions(dir, 15)).map((a) => a.label)).toEqual(['heal: lb1: powered on']);
    expect(parseActions('{"t":1,"kind":"weird","label":"x"}\n{"t":2,"lab', 0)).toEqual([
      { t: 1, kind: 'info', label: 'x' },
    ]);
  });
});

describe('faults by hand', () => {
  it('say when the host is already in the asked state (pure)', () => {
    const on = { on: true, frozen: false, plugged: true };
    expect(alreadyThere('power-off', 'm1', on)).toBeUndefined();
    expect(alreadyThere('power-on', 'm1', on)).toBe('m1 is already powered on');
    expect(alreadyThere('thaw', 'm1', on)).toBe('m1 is not frozen');
    expect(alreadyThere('freeze', 'm1', { ...on, on: false })).toBe('m1 is powered off: there is nothing to freeze');
    expect(alreadyThere('unplug', 'm1', { ...on, plugged: false })).toBe("m1's cable is already unplugged");
    expect(alreadyThere('plug', 'm1', on)).toBe("m1's cable is already plugged in");
  });

  it('act through the provider, record the action, and change nothing the second time', async () => {
    const { ctx, provider } = lab();
    const first = await fault(ctx, 'm2', 'unplug');
    expect(first).toMatchObject({ changed: true, message: expect.stringContaining('m2: unplug') });
    const again = await fault(ctx, 'm2', 'unplug');
    expect(again).toEqual({ changed: false, message: "m2's cable is already unplugged: nothing changed" });
    expect(provider.actions.filter((a) => a.startsWith('power m2'))).toEqual(['power m2 link-down']);
    expect((await readActions(dir)).map((a) => `${a.kind} ${a.label}`)).toEqual(['fault m2: unplug']);
    await expect(fault(ctx, 'm9', 'unplug')).rejects.toMatchObject({ code: 'NO_HOST' });
    await expect(fault(ctx, 'm1', 'explode')).rejects.toMatchObject({ code: 'BAD_ACTION' });
  });

  it('a service action uses the bootstrap component names, refuses one the host does not run', async () => {
    const { ctx, l } = lab();
    await l.svc.get('lb1')!.ensure({ name: 'haproxy', command: ['haproxy'] });
    const r = await serviceAction(ctx, 'lb1', 'haproxy', 'stop');
    expect(r).toMatchObject({ changed: true, message: 'haproxy on lb1: stopped' });
    expect(await serviceAction(ctx, 'lb1', 'haproxy', 'stop')).toMatchObject({
      changed: false,
      message: 'haproxy on lb1 is already down',
    });
    await expect(serviceAction(ctx, 'lb1', 'etcd', 'stop')).rejects.toMatchObject({ code: 'NO_COMPONENT' });
    await expect(serviceAction(ctx, 'm1', 'etcd', 'reboot')).rejects.toMatchObject({ code: 'BAD_ACTION' });
  });

  it('heal powers on, thaws, plugs in and starts what is down, and says so', async () => {
    const { ctx, provider, l } = lab();
    await provider.power(ctx, 'lb1', 'off');
    await provider.power(ctx, 'm1', 'freeze');
    await provider.power(ctx, 'w2', 'link-down');
    await l.svc.get('lb2')!.ensure({ name: 'keepalived', command: ['keepalived'] });
    await l.svc.get('lb2')!.stop('keepalived');
    const did = await heal(ctx);
    expect(did).toEqual(
      expect.arrayContaining(['lb1: powered on', 'm1: thawed', 'w2: cable plugged in', 'lb2: keepalived started']),
    );
    expect((await readActions(dir)).at(-1)?.label).toMatch(/^heal: /);
    expect(await heal(ctx)).toEqual([]);
  });
});

describe('lost etcd data', () => {
  it('is judged from the data dir, the log and the service manager (pure)', () => {
    const f = (text: string, svc = { name: 'etcd', up: true, wantedUp: true, uptimeS: 1, restarts: 40 }) =>
      parseDataLossProbe(text, svc);
    expect(judge(f('member yes\nfiles 6\npanic 2\nmismatch 0'))).toBe('crash-loop');
    expect(judge(f('member yes\nfiles 6\npanic 0\nmismatch 12'))).toBe('foreign');
    expect(
      judge(
        f('member no\nfiles 0\npanic 0\nmismatch 0', {
          name: 'etcd',
          up: false,
          wantedUp: false,
          uptimeS: 0,
          restarts: 1,
        }),
      ),
    ).toBe('stopped-empty');
    // a healthy member that once panicked long ago, or that restarts for another reason
    expect(
      judge(
        f('member yes\nfiles 6\npanic 1\nmismatch 0', {
          name: 'etcd',
          up: true,
          wantedUp: true,
          uptimeS: 600,
          restarts: 5,
        }),
      ),
    ).toBeUndefined();
    expect(judge(f('member yes\nfiles 9\npanic 0\nmismatch 0'))).toBeUndefined();
  });
  it('the fix depends on quorum', () => {
    expect(dataLossFix(['m1', 'm2', 'm3'], ['m3'], 2)).toMatch(
      /disk-loss procedure.*`halab replace m3`.*`halab snapshot restore`/,
    );
    expect(dataLossFix(['m1', 'm2', 'm3'], ['m1', 'm2'], 1)).toMatch(
      /^quorum is lost \(1 of 3 members healthy, a majority is 2\): `halab snapshot restore`/,
    );
  });
});

describe('membership', () => {
  it('a new host takes the next free name and address of its role, after the last one', () => {
    const spec = testSpec();
    const w = withHost(spec, 'worker');
    expect(w.host).toEqual({ name: 'w3', role: 'worker', address: '10.213.51.33' });
    expect(w.spec.hosts.at(-1)).toEqual(w.host);
    const m = withHost(spec, 'master', 'm9');
    expect(m.host).toEqual({ name: 'm9', role: 'master', address: '10.213.51.24' });
    expect(m.spec.hosts.map((h) => h.name)).toEqual(['lb1', 'lb2', 'm1', 'm2', 'm3', 'm9', 'w1', 'w2']);
    const gap = withHost(withoutHost(spec, 'w1'), 'worker');
    expect(gap.host).toEqual({ name: 'w1', role: 'worker', address: '10.213.51.31' });
    expect(() => withHost(spec, 'worker', 'm1')).toThrow(expect.objectContaining({ code: 'HOST_EXISTS' }));
  });

  it('a master removal that would leave fewer healthy members than a majority is refused, with the figures', () => {
    const masters = ['m1', 'm2', 'm3'];
    const all = masters.map((name) => ({ name, healthy: true }));
    expect(removalQuorum(masters, all, 'm3').ok).toBe(true);
    const m1Off = all.map((m) => (m.name === 'm1' ? { ...m, healthy: false } : m));
    const r = removalQuorum(masters, m1Off, 'm2');
    expect(r.ok).toBe(false);
    expect(r.message).toBe(
      'removing m2 would leave 1 healthy member of 2, fewer than a majority (2): etcd would lose quorum (now 3 members (majority 2, tolerates 1), 2 healthy (m2, m3); after: 2 members (majority 2, tolerates 0), 1 healthy)',
    );
    // removing the dead one is what the article does
    expect(removalQuorum(masters, m1Off, 'm1').ok).toBe(true);
    expect(removalQuorum(['m1'], [{ name: 'm1', healthy: true }], 'm1').message).toMatch(/last master/);
    expect(
      removalQuorum(
        masters,
        all.map((m) => ({ ...m, healthy: m.name === 'm3' })),
        'm1',
      ).message,
    ).toMatch(/no quorum now/);
  });

  it('the etcd join steps go around the etcd steps of the plan', () => {
    const s = (id: string): Step<LabContext> => ({ id, title: id, run: async () => {} });
    const plan = withEtcdJoin([s('pki'), s('etcd:members'), s('etcd:healthy'), s('lb')], ['m4']);
    expect(plan.map((x) => x.id)).toEqual(['pki', 'etcd:join', 'etcd:members', 'etcd:healthy', 'etcd:join-done', 'lb']);
    const again = withNewMembers([s('pki'), s('etcd:members'), s('etcd:healthy')]);
    expect(again.map((x) => x.id)).toEqual([
      'pki',
      'etcd:new-members',
      'etcd:members',
      'etcd:healthy',
      'etcd:new-members-done',
    ]);
  });
});
