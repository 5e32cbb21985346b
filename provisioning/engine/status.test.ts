// `halab status` when hosts do not answer (issue 11, cases 4 and 6): a frozen host, a host powered
// off while it was being read, a read that timed out: each is a value in the status with a
// sentence a person understands, never a crash and never the shell command that was sent.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LabState } from '../api/types.ts';
import { fastBootstrap } from '../bootstraps/fast/index.ts';
import { CommandError } from '../errors.ts';
import { notAnswering } from '../exec/ssh-connect.ts';
import { FakeServices } from '../hosts/fake-services.testutil.ts';
import { statusScript } from '../hosts/supervisor.ts';
import { FakeProvider } from '../providers/fake.testutil.ts';
import { writeState } from '../state/store.ts';
import { formatStatus } from '../cli/status.ts';
import { controlPlaneStatus } from './cp-status.ts';
import { fakeLab, testSpec } from './fake-lab.testutil.ts';
import { status } from './status.ts';

let home: string;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'halab-st-'));
  process.env.HALAB_HOME = home;
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

/** A service manager whose status() fails the way a host that does not answer fails. */
class Silent extends FakeServices {
  constructor(private readonly fail: () => Error) {
    super();
  }
  override async status(): Promise<never> {
    throw this.fail();
  }
}

async function labWith(name: string, provider: FakeProvider) {
  const spec = testSpec({ name });
  const state: LabState = {
    name,
    spec,
    phase: 'ready',
    tag: 'hl000001',
    createdAt: '',
    updatedAt: '',
    completedSteps: [],
    hosts: Object.fromEntries(
      spec.hosts.map((h) => [h.name, { name: h.name, role: h.role, address: h.address, hostKey: 'ssh-ed25519 AAAA' }]),
    ),
  };
  await writeState(state);
  for (const h of spec.hosts) provider.hosts.set(h.name, { on: true });
  return spec;
}

describe('status when a host does not answer', () => {
  it('a frozen master is "m1: not answering for 5 s", the others are read as usual (case 4)', async () => {
    const provider = new FakeProvider();
    await labWith('frz', provider);
    provider.svc.set('m1', new Silent(() => notAnswering('m1', 5000)));
    const st = await status('frz', { provider, bootstrap: fastBootstrap });
    expect(st.hosts.find((h) => h.name === 'm1')).toMatchObject({
      reachable: false,
      error: 'm1: not answering for 5 s',
    });
    expect(st.hosts.filter((h) => h.reachable).map((h) => h.name)).toEqual(['lb1', 'lb2', 'm2', 'm3', 'w1', 'w2']);
    const text = formatStatus(st);
    expect(text).toMatch(/^m1 +master +10\.213\.51\.21 +NO ANSWER +m1: not answering for 5 s$/m);
  });

  it('a read that times out names the host and the time, not the shell loop it sent (case 6)', async () => {
    const provider = new FakeProvider();
    await labWith('tmo', provider);
    const timeout = () =>
      new CommandError({
        command: statusScript(),
        exitCode: null,
        stdout: '',
        stderr: '',
        host: 'lb1',
        reason: 'timeout',
      });
    provider.svc.set('lb1', new Silent(timeout));
    const st = await status('tmo', { provider, bootstrap: fastBootstrap });
    const lb1 = st.hosts.find((h) => h.name === 'lb1')!;
    expect(lb1.error).toBe('lb1: not answering for 10 s');
    expect(JSON.stringify(st)).not.toMatch(/for d in|s6-svstat|\/run\/halab/);
  });

  it('a host powered off while it was being read is "powered off" (case 6)', async () => {
    const provider = new FakeProvider();
    await labWith('pwr', provider);
    provider.svc.set(
      'lb1',
      new Silent(() => {
        provider.hosts.get('lb1')!.on = false; // the cord is pulled mid-read
        return new CommandError({
          command: statusScript(),
          exitCode: null,
          stdout: '',
          stderr: '',
          host: 'lb1',
          reason: 'timeout',
        });
      }),
    );
    const st = await status('pwr', { provider, bootstrap: fastBootstrap });
    expect(st.hosts.find((h) => h.name === 'lb1')).toMatchObject({ reachable: false, error: 'powered off' });
    expect(formatStatus(st)).toMatch(/^lb1 +lb +10\.213\.51\.11 +powered off *$/m);
  });

  it('the control plane of a lab with a frozen master is a value too: every part that needs m1 says why (case 4)', async () => {
    const spec = testSpec({ name: 'cpfrz' });
    const lab = fakeLab(spec, (host) => {
      if (host.host === 'm1') throw notAnswering('m1', 5000);
      return { exitCode: 1, stderr: 'no such thing here' };
    });
    const cp = await controlPlaneStatus(lab);
    expect(cp.apiservers.find((a) => a.name === 'm1')).toEqual({ name: 'm1', ready: false });
    expect(cp.lbs.map((l) => l.error)).toEqual([
      "reading keepalived's state failed on lb1: no such thing here",
      "reading keepalived's state failed on lb2: no such thing here",
    ]);
    expect(cp.etcd.map((m) => m.healthy)).toEqual([false, false, false]);
    expect(cp.problems.length).toBeGreaterThan(0);
    expect(JSON.stringify(cp)).not.toMatch(/socat|etcdctl --|for d in/);
  });
});
