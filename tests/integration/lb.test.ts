// The load-balancer layer on a real netns lab (root): HAProxy + keepalived as s6 services on
// lb1/lb2, validated by the real tools, the VIP on lb1 only, backends read over the admin socket,
// a broken template stopping `up` without leftovers, and a keepalived crash moving the VIP.
//
//   npx vitest run --project integration tests/integration/lb.test.ts
//
// The apiservers do not exist yet at this layer: a throw-away CA is generated here, put where the
// engine puts the Kubernetes CA (/etc/halab/pki/ca.crt), and every master runs a tiny TLS server
// (openssl s_server -www: "200 ok" for any GET) with a certificate from that CA, so HAProxy's
// verified /readyz checks have something real to pass against.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineEvent, LabSpec, LabState } from '../../provisioning/api/types.ts';
import { LabHandle, down, labPlan, up } from '../../provisioning/engine/lab.ts';
import type { Step } from '../../provisioning/engine/runner.ts';
import { run } from '../../provisioning/exec/local.ts';
import { Supervisor } from '../../provisioning/hosts/supervisor.ts';
import { getProvider } from '../../provisioning/providers/index.ts';
import type { LabContext } from '../../provisioning/providers/types.ts';
import { labDir, readState } from '../../provisioning/state/store.ts';
import {
  TEST_BREAK_LINE,
  haproxyBackends,
  haproxyViews,
  lbSteps,
  vipHolder,
  vrrpStates,
  waitBackendsUp,
  type LbOptions,
} from '../../provisioning/steps/lb/index.ts';

const HOME = mkdtempSync(join(tmpdir(), 'halab-itlb-'));
process.env.HALAB_HOME = HOME;

const LAB = 'itlb';
const NET = '10.213.42';
const spec: LabSpec = {
  apiVersion: 'halab/v1',
  kind: 'Lab',
  name: LAB,
  provider: 'netns',
  bootstrap: 'fast',
  apiserverEtcd: 'all',
  subnet: `${NET}.0/24`,
  vip: `${NET}.10`,
  kubernetesVersion: 'v1.34.4',
  hosts: [
    { name: 'lb1', role: 'lb', address: `${NET}.11` },
    { name: 'lb2', role: 'lb', address: `${NET}.12` },
    { name: 'm1', role: 'master', address: `${NET}.21` },
    { name: 'm2', role: 'master', address: `${NET}.22` },
    { name: 'm3', role: 'master', address: `${NET}.23` },
    { name: 'w1', role: 'worker', address: `${NET}.31` },
    { name: 'w2', role: 'worker', address: `${NET}.32` },
  ],
  disks: { etcdData: '512Mi', etcdSnapshots: '256Mi', runtime: '4Gi' },
  timers: {
    vrrpAdvertInt: 0.2,
    haproxyCheckInterMs: 500,
    haproxyCheckFall: 2,
    haproxyCheckRise: 2,
    etcdHeartbeatMs: 100,
    etcdElectionMs: 1000,
    leaseDurationS: 8,
    renewDeadlineS: 6,
    retryPeriodS: 2,
    nodeStatusUpdateFrequencyS: 4,
    nodeMonitorGracePeriodS: 16,
    podEvictionTolerationS: 10,
  },
  snapshots: { intervalS: 60, retain: 5 },
};
const masters = spec.hosts.filter((h) => h.role === 'master');

// ---- throw-away PKI and fake apiservers (the part another step of the engine will do for real) ----

const PKI = join(HOME, 'test-pki');

async function makePki() {
  await run('mkdir', ['-p', PKI]);
  const o = (f: string) => join(PKI, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await run('openssl', [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    o('ca.key'),
    '-out',
    o('ca.crt'),
    '-days',
    '1',
    '-subj',
    '/CN=itlb-test-ca',
  ]);
  await run('openssl', ['req', ...ec, '-keyout', o('srv.key'), '-out', o('srv.csr'), '-subj', '/CN=kube-apiserver']);
  const san = `subjectAltName=DNS:kubernetes,${masters.map((m) => `IP:${m.address}`).join(',')}\nextendedKeyUsage=serverAuth\n`;
  await run('sh', ['-c', `cat > ${o('srv.ext')}`], { input: san });
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    o('srv.csr'),
    '-CA',
    o('ca.crt'),
    '-CAkey',
    o('ca.key'),
    '-CAcreateserial',
    '-days',
    '1',
    '-out',
    o('srv.crt'),
    '-extfile',
    o('srv.ext'),
  ]);
}

let captured: LabState | undefined;

const testPki: Step<LabContext> = {
  id: 'test:pki',
  title: 'test only: throw-away CA on the LBs, a TLS "apiserver" on every master',
  run: async (ctx) => {
    captured = structuredClone(ctx.state);
    for (const h of ctx.state.spec.hosts) {
      const r = ctx.remote(h.name);
      if (h.role === 'lb') {
        await r.exec('mkdir -p /etc/halab/pki');
        await r.upload('/etc/halab/pki/ca.crt', readFileSync(join(PKI, 'ca.crt')));
      }
      if (h.role === 'master') {
        await r.exec('mkdir -p /etc/halab/test');
        await r.upload('/etc/halab/test/srv.crt', readFileSync(join(PKI, 'srv.crt')));
        await r.upload('/etc/halab/test/srv.key', readFileSync(join(PKI, 'srv.key')), 0o600);
        await new Supervisor(r).ensure({
          name: 'fake-apiserver',
          command: [
            'openssl',
            's_server',
            '-quiet',
            '-accept',
            `${h.address}:6443`,
            '-cert',
            '/etc/halab/test/srv.crt',
            '-key',
            '/etc/halab/test/srv.key',
            '-www',
          ],
        });
      }
    }
  },
};

/** This file builds the hosts, a throw-away PKI and the LB steps only (with `lbOpts`). */
let lbOpts: LbOptions = {};
const plan = (s: LabSpec) => [...labPlan(s, { hostsOnly: true }), testPki, ...Object.values(lbSteps(s, lbOpts) ?? {})];

// ---- helpers ----

let events: EngineEvent[] = [];
const emit = (e: EngineEvent) => {
  events.push(e);
};
const stepStatus = (id: string) =>
  events
    .filter((e) => e.type === 'step:end' && e.stepId === id)
    .map((e) => (e as { status: string }).status)
    .pop();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function upOk() {
  events = [];
  const res = await up(spec, { emit, plan: plan(spec) });
  if (!res.ok) throw new Error(`up failed: ${JSON.stringify(res.error, null, 1)}`);
}

async function poll<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

let lab: LabHandle | undefined;

async function sh(host: string, cmd: string) {
  return lab!.remote(host).exec(cmd, { allowFail: true, timeoutMs: 30_000 });
}

beforeAll(async () => {
  await makePki();
});

afterAll(async () => {
  await lab?.close().catch(() => undefined);
  if (await readState(LAB).catch(() => undefined)) {
    const res = await down(LAB, { emit: () => {} });
    if (!res.ok) console.error('down failed', res.error, res.leftovers);
  }
  rmSync(HOME, { recursive: true, force: true });
});

// ---- the tests, in order ----

describe.sequential('load balancers on a netns lab', () => {
  for (const tool of ['haproxy', 'keepalived'] as const) {
    it(`a broken ${tool} template stops up with the validator's output, and leaves nothing behind`, async () => {
      lbOpts = { transform: { [tool]: (t: string) => `${t}${TEST_BREAK_LINE}\n` } };
      captured = undefined;
      events = [];
      try {
        const res = await up(spec, { emit, plan: plan(spec) });
        expect(res.ok).toBe(false);
        expect(stepStatus('lb:configs')).toBe('failed');
        expect(res.error?.code).toBe('CONFIG_INVALID');
        expect(res.error?.message).toMatch(
          tool === 'haproxy' ? /^haproxy -c rejected .* lb1/ : /^keepalived -t rejected .* lb1/,
        );
        expect(res.error?.details).toMatch(
          tool === 'haproxy'
            ? /unknown keyword 'halab-test-break-invalid-keyword'/
            : /Unknown keyword 'halab-test-break-invalid-keyword'/,
        );
      } finally {
        lbOpts = {};
      }
      // default teardown: nothing of the lab is left on the machine, and no state
      expect(captured).toBeDefined();
      expect(await getProvider('netns').leftovers(new LabHandle(captured!, labDir(LAB)))).toEqual([]);
      expect(existsSync(labDir(LAB))).toBe(false);
    });
  }

  it('up brings HAProxy and keepalived up, with the VIP on lb1 only', async () => {
    await upOk();
    for (const id of ['lb:configs', 'lb:haproxy', 'lb:keepalived', 'lb:ready']) expect(stepStatus(id)).toBe('done');
    lab = await LabHandle.open(LAB);
    // straight from each LB's eth0
    const a1 = await sh('lb1', 'ip -4 addr show dev eth0');
    const a2 = await sh('lb2', 'ip -4 addr show dev eth0');
    expect(a1.stdout).toContain(`inet ${spec.vip}/24`);
    expect(a2.stdout).not.toContain(`inet ${spec.vip}/`);
    expect(await vipHolder(lab)).toBe('lb1');
    const st = await vrrpStates(lab);
    expect(st.map((s) => [s.lb, s.process, s.state, s.hasVip])).toEqual([
      ['lb1', 'running', 'MASTER', true],
      ['lb2', 'running', 'BACKUP', false],
    ]);
    for (const lb of ['lb1', 'lb2']) {
      const svc = await lab.services(lb).status();
      expect(svc.filter((s) => s.name === 'haproxy' || s.name === 'keepalived').map((s) => s.up)).toEqual([true, true]);
      expect((await sh(lb, 'curl -fsS -m 2 http://127.0.0.1:8404/healthz')).exitCode).toBe(0);
    }
  });

  it('both HAProxy configs pass haproxy -c on their LB', async () => {
    for (const lb of ['lb1', 'lb2']) {
      const r = await sh(lb, 'haproxy -c -f /etc/haproxy/haproxy.cfg');
      expect(r.exitCode, r.stderr + r.stdout).toBe(0);
      expect(r.stdout + r.stderr).toContain('Configuration file is valid');
    }
  });

  it('keepalived uses unicast to the other LB and no multicast', async () => {
    for (const [lb, self, peer] of [
      ['lb1', `${NET}.11`, `${NET}.12`],
      ['lb2', `${NET}.12`, `${NET}.11`],
    ] as const) {
      const conf = (await sh(lb, 'cat /etc/keepalived/keepalived.conf')).stdout;
      expect(conf).toContain(`unicast_src_ip ${self}`);
      expect(conf).toMatch(new RegExp(`unicast_peer \\{\\s+${peer.replace(/\./g, '\\.')}\\s+\\}`));
      expect(conf).toContain('unicast_fault_no_peer');
      expect(conf).not.toMatch(/mcast|224\.0\.0\.18/);
      const t = await sh(lb, 'keepalived -t -f /etc/keepalived/keepalived.conf');
      expect(t.exitCode, t.stderr + t.stdout).toBe(0);
      // the running keepalived did not join the VRRP multicast group, and says it is unicast
      expect((await sh(lb, 'ip maddr show dev eth0')).stdout).not.toContain('224.0.0.18');
      expect((await sh(lb, 'cat /var/log/halab/keepalived/current')).stdout).toMatch(/VRRP sockpool: .*unicast/);
    }
  });

  it('waitBackendsUp sees the apiservers UP through verified TLS checks, and a stopped one DOWN', async () => {
    await waitBackendsUp(lab!, 3, 30_000);
    // Both LBs agree on three verified TLS checks. Polled, not read once: the test's apiserver is
    // `openssl s_server`, which answers one connection at a time, so on a loaded machine two LBs'
    // checks every 500 ms can make it miss `fall` checks in a row and flap for a second.
    const allUp = masters.map((m) => ({ server: m.name, up: true, lastCheck: 'L7OK 200' }));
    await expect
      .poll(() => haproxyViews(lab!), { timeout: 30_000, interval: 50 })
      .toEqual([
        { lb: 'lb1', backends: allUp },
        { lb: 'lb2', backends: allUp },
      ]);
    await lab!.services('m3').stop('fake-apiserver');
    await poll(
      'm3 DOWN on both LBs',
      async () => {
        const views = await haproxyViews(lab!);
        return views.every((v) => v.backends.find((b) => b.server === 'm3')?.up === false) ? true : undefined;
      },
      15_000,
    );
    const m3 = (await haproxyBackends(lab!, 'lb1')).find((b) => b.server === 'm3');
    expect(m3?.lastCheck).toMatch(/^L4CON/);
    const err = await waitBackendsUp(lab!, 3, 1500).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'LB_BACKENDS_DOWN', details: expect.stringMatching(/lb1: .*m3 DOWN/) });
    await waitBackendsUp(lab!, 2, 5000);
    await lab!.services('m3').start('fake-apiserver');
    await waitBackendsUp(lab!, 3, 30_000);
  });

  it('a second up changes nothing', async () => {
    const pids = async () =>
      Object.fromEntries(
        await Promise.all(
          ['lb1', 'lb2'].map(
            async (lb) =>
              [
                lb,
                (await lab!.services(lb).status())
                  .filter((s) => s.name === 'haproxy' || s.name === 'keepalived')
                  .map((s) => s.pid),
              ] as const,
          ),
        ),
      );
    const before = await pids();
    await upOk();
    expect(['lb:configs', 'lb:haproxy', 'lb:keepalived'].map(stepStatus)).toEqual(['skipped', 'skipped', 'skipped']);
    expect(stepStatus('lb:ready')).toBe('done');
    expect(await pids()).toEqual(before);
    expect(await vipHolder(lab!)).toBe('lb1');
  });

  it('a keepalived crash on lb1 (SIGSTOP, then SIGKILL) moves the VIP to lb2 within a few seconds', async () => {
    // once: s6 must not restart it (a restarted keepalived would take the VIP back at once)
    await sh('lb1', 's6-svc -O /run/halab/service/keepalived');
    // lb1 has its own PID namespace: pidof sees lb1's keepalived (parent + VRRP child) only
    const pids = (await sh('lb1', 'pidof keepalived')).stdout.trim();
    expect(pids.split(/\s+/)).toHaveLength(2);
    const t0 = Date.now();
    // freeze first: a SIGKILLed parent would make the child exit gracefully (priority 0): keepalived's VRRP child gets SIGTERM when its parent dies
    const k = await sh('lb1', `kill -STOP ${pids} && kill -KILL ${pids}`);
    expect(k.exitCode, k.stderr).toBe(0);
    const st = await poll(
      'the VIP on lb2',
      async () => {
        const s = await vrrpStates(lab!);
        return s.find((x) => x.lb === 'lb2')?.hasVip ? s : undefined;
      },
      10_000,
    );
    const movedMs = Date.now() - t0;
    console.log(`VIP on lb2 ${movedMs} ms after the crash`);
    expect(movedMs).toBeLessThan(5000);
    expect(st.find((x) => x.lb === 'lb2')).toMatchObject({ process: 'running', state: 'MASTER' });
    // the crashed MASTER keeps a stale VIP (killed without cleanup, it leaves the address); the holder is the live MASTER
    expect(st.find((x) => x.lb === 'lb1')?.process).toBe('absent');
    expect(await vipHolder(lab!)).toBe('lb2');
    const events = (await sh('lb2', 'cat /var/log/halab/vrrp-events.log')).stdout.trim().split('\n');
    expect(events.at(-1)).toMatch(/^\d+\.\d+ lb2 MASTER$/);
  });

  it('up restarts the crashed keepalived and lb1 takes the VIP back', async () => {
    await upOk();
    expect(stepStatus('lb:keepalived')).toBe('done');
    const st = await vrrpStates(lab!);
    expect(st.map((s) => [s.lb, s.process, s.state, s.hasVip])).toEqual([
      ['lb1', 'running', 'MASTER', true],
      ['lb2', 'running', 'BACKUP', false],
    ]);
  });

  it('down removes everything', async () => {
    await lab!.close();
    const state = (await readState(LAB))!;
    const res = await down(LAB, { emit });
    expect(res.ok, JSON.stringify(res.error)).toBe(true);
    expect(res.leftovers).toEqual([]);
    expect(await getProvider('netns').leftovers(new LabHandle(state, labDir(LAB)))).toEqual([]);
    expect(existsSync(labDir(LAB))).toBe(false);
  });
});
