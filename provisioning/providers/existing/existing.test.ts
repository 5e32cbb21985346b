// The existing provider's preflight refuses machines over a faked SSH layer: every machine answers
// the real facts script with what a Debian 12 lab host printed (tests/integration: a netns host),
// one of them changed; the refusal names the machine, the cause and the fix, and nothing else runs.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LabState } from '../../api/types.ts';
import type { LabContext } from '../../engine/context.ts';
import type { StepTools } from '../../engine/runner.ts';
import { HalabError } from '../../errors.ts';
import { testSpec } from '../../engine/fake-lab.testutil.ts';
import { ExistingProvider, type OpenSession } from './index.ts';
import { loginOf, type Login, type Session } from './login.ts';
import { validateSpec } from '../../spec/validate.ts';
import { machineProblems, parseFacts } from './preflight.ts';
import { existingState } from './state.ts';

/** What `factsScript` printed on a Debian 12 netns lab host (m1), its address substituted. */
function healthyFacts(address: string): string {
  return [
    'os_id=debian',
    'os_like=',
    'os_name=Debian GNU/Linux 12 (bookworm)',
    'systemd=no',
    'kernel=6.18.44-fc-v769',
    'nonlocal_bind=1',
    'sigstop=yes',
    'iptables=yes',
    'iface=eth0',
    `listen=tcp/${address}:22`,
    'missing=iputils-ping:ping',
    's6=theirs',
    '',
  ].join('\n');
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A lab of provider existing over machines that answer `facts(host)`; records every script run. */
function fakeLab(facts: (host: string, address: string) => string) {
  const dir = mkdtempSync(join(tmpdir(), 'halab-existing-'));
  dirs.push(dir);
  const key = join(dir, 'user-key');
  writeFileSync(key, 'not read by the fake');
  const spec = testSpec({
    name: 'exunit',
    provider: 'existing',
    existing: { user: 'root', privateKey: key, port: 22 },
  });
  const ran: { host: string; script: string }[] = [];
  const open: OpenSession = async (login: Login): Promise<Session> => ({
    hostKey: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${login.host.padEnd(43, 'A')}`,
    sh: async (script: string) => {
      ran.push({ host: login.host, script });
      if (script.includes('os_id=')) return { stdout: facts(login.host, login.address), stderr: '', exitCode: 0 };
      return { stdout: '', stderr: '', exitCode: 0 };
    },
    close: () => undefined,
  });
  const state: LabState = {
    name: spec.name,
    spec,
    phase: 'creating',
    tag: 'exu1',
    createdAt: '',
    updatedAt: '',
    completedSteps: [],
    hosts: {},
  };
  const provider = new ExistingProvider({ open });
  const lab = {
    state,
    dir,
    save: async () => undefined,
    provider,
    sshKey: { privateKeyPath: join(dir, 'k'), publicKeyPath: join(dir, 'k.pub') },
    disks: () => [],
  } as unknown as LabContext;
  const tools = { log: () => undefined, progress: () => undefined } as unknown as StepTools;
  const step = provider.createSteps(spec).find((s) => s.id === 'existing:preflight')!;
  return { lab, ran, run: () => step.run(lab, tools) };
}

async function refusal(run: () => Promise<void>): Promise<HalabError> {
  const err = await run().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HalabError);
  return err as HalabError;
}

describe('provider existing: the preflight over SSH', () => {
  it('refuses a machine that already runs Kubernetes, naming it, the cause and the fix; nothing is changed anywhere', async () => {
    const { lab, ran, run } = fakeLab((host, address) =>
      host === 'm2'
        ? `${healthyFacts(address)}k8s_proc=kubelet:812\nk8s_proc=etcd:644\nk8s_dir=/etc/kubernetes\n`
        : healthyFacts(address),
    );
    const err = await refusal(run);
    expect(err.code).toBe('MACHINE_REFUSED');
    expect(err.message).toContain('m2 (10.213.51.22): it already runs Kubernetes: kubelet (pid 812), etcd (pid 644)');
    expect(err.details).toContain('m2 (10.213.51.22): it already has /etc/kubernetes');
    expect(err.fix).toMatch(/remove that cluster first/);
    // only m2 is named: the others passed
    expect(
      err.details
        ?.split('\n')
        .filter((l) => !l.startsWith(' '))
        .every((l) => l.startsWith('m2 ')),
    ).toBe(true);
    // every machine was read, none was changed (no baseline, no key, no sysctl)
    expect(new Set(ran.map((r) => r.host)).size).toBe(7);
    expect(ran.every((r) => r.script.includes('os_id='))).toBe(true);
    const recs = Object.values(existingState(lab.state).hosts);
    expect(recs.every((r) => !r.prepared && !r.baseline && r.authorizedKeys === undefined)).toBe(true);
  });

  it('refuses a port the plan needs that is in use (etcd on a master, HAProxy on an LB)', async () => {
    const { run } = fakeLab((host, address) => {
      if (host === 'm3') return `${healthyFacts(address)}listen=tcp/0.0.0.0:2379\n`;
      if (host === 'lb2') return `${healthyFacts(address)}listen=tcp/[::]:6443\n`;
      return healthyFacts(address);
    });
    const err = await refusal(run);
    expect(err.details).toContain('m3 (10.213.51.23): port 2379 (etcd client) is already in use');
    expect(err.details).toContain('lb2 (10.213.51.12): port 6443 (haproxy on VIP and 127.0.0.1) is already in use');
    expect(err.details).toMatch(/fix: stop what listens on 2379/);
  });

  it('accepts a machine that has what the steps need (a missing ping is only noted)', () => {
    const facts = parseFacts(healthyFacts('10.213.51.21'));
    expect(facts.listening).toEqual([{ proto: 'tcp', port: 22 }]);
    expect(
      machineProblems(facts, { name: 'm1', role: 'master', address: '10.213.51.21' }, { bootstrap: 'fast' }, 22),
    ).toEqual([]);
  });

  it('refuses an OS that is not Debian-like, an LB whose lab address is not on eth0, and a missing etcd', () => {
    const text = healthyFacts('10.0.0.11')
      .replace('os_id=debian', 'os_id=fedora')
      .replace('os_name=Debian GNU/Linux 12 (bookworm)', 'os_name=Fedora Linux 41')
      .replace('iface=eth0', 'iface=ens3');
    const lb = machineProblems(
      parseFacts(text),
      { name: 'lb1', role: 'lb', address: '10.0.0.11' },
      { bootstrap: 'fast' },
      22,
    );
    expect(lb.map((p) => p.cause)).toEqual([
      'its OS is Fedora Linux 41, not Debian or Ubuntu-like',
      'its lab address 10.0.0.11 is on ens3: keepalived is configured for eth0',
    ]);
    const m = machineProblems(
      parseFacts(`${healthyFacts('10.0.0.21')}missing=etcd-server:etcd\n`),
      { name: 'm1', role: 'master', address: '10.0.0.21' },
      { bootstrap: 'fast' },
      22,
    );
    expect(m).toEqual([
      { host: 'm1', cause: 'etcd is missing (Debian package etcd-server)', fix: 'apt-get install -y etcd-server' },
    ]);
  });
});

describe('provider existing: the spec', () => {
  const machine = { cidrs: [{ cidr: '10.213.51.0/24', source: 'eth9' }] };
  const base = {
    name: 'office',
    provider: 'existing',
    bootstrap: 'fast',
    subnet: '10.213.51.0/24',
    existing: { privateKey: '/root/.ssh/id_ed25519', jump: 'admin@bastion:2222' },
    hosts: [
      { name: 'lb1', role: 'lb', address: '10.213.51.11' },
      {
        name: 'm1',
        role: 'master',
        address: '10.213.51.21',
        ssh: { address: '192.168.9.21', port: 2200, user: 'ops' },
      },
    ],
  };

  it('accepts the login block (defaults root and 22), a per-host override, and a subnet this machine routes to', () => {
    const v = validateSpec(base, machine);
    expect(v.issues.filter((i) => i.severity === 'error')).toEqual([]);
    const spec = v.spec!;
    expect(loginOf(spec, 'lb1')).toEqual({
      host: 'lb1',
      address: '10.213.51.11',
      port: 22,
      user: 'root',
      privateKeyPath: '/root/.ssh/id_ed25519',
      jump: { user: 'admin', address: 'bastion', port: 2222 },
    });
    expect(loginOf(spec, 'm1')).toMatchObject({ address: '192.168.9.21', port: 2200, user: 'ops' });
  });

  it('refuses a missing login block, the block with another provider, the kubeadm bootstrap and a bad jump', () => {
    const errors = (input: object) =>
      validateSpec(input, { cidrs: [] })
        .issues.filter((i) => i.severity === 'error')
        .map((i) => `${i.path}: ${i.message}`);
    expect(errors({ ...base, existing: undefined })).toEqual([
      'existing: provider existing needs to know how to log in to the machines: `existing` is missing',
    ]);
    expect(errors({ ...base, provider: 'netns' })).toEqual([
      'hosts[1].ssh: hosts[1].ssh is only read by provider existing',
      "existing: `existing` is only read by provider existing, and this spec's provider is netns",
    ]);
    expect(errors({ ...base, bootstrap: 'kubeadm' })[0]).toMatch(
      /^bootstrap: provider existing runs the fast bootstrap only/,
    );
    expect(errors({ ...base, existing: { privateKey: 'id_ed25519', jump: 'bastion' } })).toEqual([
      'existing.privateKey: privateKey "id_ed25519" is not an absolute path',
      'existing.jump: jump "bastion" is not user@host or user@host:port',
    ]);
  });
});
