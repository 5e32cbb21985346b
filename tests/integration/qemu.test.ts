// The qemu provider on real VMs (issue 13), as root:
//
//   npx vitest run --project integration tests/integration/qemu.test.ts
//
// One lab of 3 VMs for the whole file, booted in parallel from the locally built base image:
// lb1 and lb2 (HAProxy + keepalived holding the VIP) and m1 (one etcd member, its data and its
// snapshots on two virtio disks of its own). The spec allows one master (with a warning). Under
// TCG (here /dev/kvm is PVM: QEMU emulates the CPU) a VM takes about a minute to SSH and a
// kube-apiserver did not get past its start in 5 minutes, so the lab is built with up's own steps
// up to the load balancers (the fast bootstrap's plan without its control plane and nodes: hosts,
// PKI, etcd, HAProxy, keepalived) and the spec's slow timers (VRRP advert 1 s, HAProxy check
// 2 s, etcd heartbeat 200 ms): a 0.2 s advert is missed whenever an emulated CPU stalls.
//
// Then: each VM over ssh2, m1's disks, the VIP on lb1, a freeze (QMP stop) of the VIP holder,
// `halab stop` then start (the same addresses, an etcd key written before read after), the
// lb-failover drill's own steps (a QMP power cut; without a control plane there is no probe and
// no API to ask, so only its VIP checks are asserted; last, because a TCG guest's power-on takes
// the longest), `halab down` (no QEMU, socket, overlay or disk of the lab left). About 4-5 minutes
// on a quiet 2-core machine; it failed its waits when other labs loaded the machine (load 20-50).
// A kubeadm lab on VMs runs only with KVM or HVF; under TCG it is skipped with the reason printed.
//
// Lab vmit in 10.213.240.0/24; the kubeadm lab vmkube in 10.213.241.0/24.
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineEvent, LabSpec } from '../../provisioning/api/types.ts';
import { LabHandle, labPlanThrough, start, up } from '../../provisioning/engine/lab.ts';
import { executeDrill, type Drill } from '../../provisioning/drills/engine.ts';
import { lbFailover } from '../../provisioning/drills/catalog/lb-failover.ts';
import { run } from '../../provisioning/exec/local.ts';
import { machineNetworks } from '../../provisioning/machine.ts';
import { detectAccelerator, TCG_TIMERS } from '../../provisioning/providers/qemu/accel.ts';
import { ensureImage, imagePaths } from '../../provisioning/providers/qemu/image.ts';
import { vmPaths, vmsDir } from '../../provisioning/providers/qemu/names.ts';
import { qmpStatus } from '../../provisioning/providers/qemu/qmp.ts';
import { qemuState } from '../../provisioning/providers/qemu/state.ts';
import { strayVmPids } from '../../provisioning/providers/qemu/lifecycle.ts';
import { validateSpec } from '../../provisioning/spec/validate.ts';
import { etcdctl } from '../../provisioning/steps/etcd/etcdctl.ts';
import { kubectl } from '../../provisioning/k8s/kubectl.ts';
import { poll } from '../../provisioning/util/poll.ts';
import { cli, freshHome, leaks, skipUnlessRoot } from './helpers.ts';
import { removeLab } from './lab-fixture.ts';

const ACCEL = detectAccelerator();
const skip = skipUnlessRoot() ?? skipUnlessQemu();

function skipUnlessQemu(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) if (existsSync(join(dir, 'qemu-system-x86_64'))) return;
  const why = 'qemu-system-x86_64 is not installed (apt-get install -y qemu-system-x86 qemu-utils)';
  console.warn(`SKIP: ${why}`);
  return why;
}

const LAB = 'vmit';
const NET = '10.213.240';
const HOSTS = [
  { name: 'lb1', role: 'lb', address: `${NET}.11` },
  { name: 'lb2', role: 'lb', address: `${NET}.12` },
  { name: 'm1', role: 'master', address: `${NET}.21` },
] as const;
const VIP = `${NET}.10`;

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const log = (m: string) => console.log(`[qemu.test] ${m}`);

/** The fast bootstrap's plan up to the load balancers (no control plane, no nodes: see the file comment). */
const plan = (spec: LabSpec) => labPlanThrough(spec, 'lb:ready');

async function specFor(name: string, subnet: string, input: Record<string, unknown>): Promise<LabSpec> {
  const v = validateSpec({ name, subnet, provider: 'qemu', ...input }, await machineNetworks());
  if (!v.spec) throw new Error(v.issues.map((i) => i.message).join('; '));
  return v.spec;
}

/** The lab's VIP on `lb`'s eth0, asked over its own SSH connection. */
async function hasVip(lab: LabHandle, lb: string): Promise<boolean> {
  const r = await lab.remote(lb).exec('ip -4 -o addr show dev eth0', { timeoutMs: 20_000, allowFail: true });
  return r.stdout.includes(` ${VIP}/`);
}

/** Poll until `lb` holds the VIP (ms it took); on a timeout, each LB's VRRP states and keepalived's last lines are logged. */
async function waitVipOn(lab: LabHandle, lb: string, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  try {
    await poll({ what: `the VIP on ${lb}`, check: () => hasVip(lab, lb), timeoutMs, intervalMs: 250 });
  } catch (e) {
    for (const h of ['lb1', 'lb2']) {
      const r = await lab
        .remote(h)
        .exec(
          'uptime; ip -4 -o addr show dev eth0; tail -n 5 /var/log/halab/vrrp-events.log; tail -n 30 /var/log/halab/keepalived/current',
          { timeoutMs: 30_000, allowFail: true },
        )
        .catch((err: Error) => ({ stdout: `(no answer: ${err.message})`, stderr: '' }));
      log(`${h} when the VIP was not on ${lb}:\n${r.stdout}${r.stderr}`);
    }
    throw e;
  }
  return Date.now() - t0;
}

describe.skipIf(!!skip)(`qemu provider: a VM lab (accelerator ${ACCEL.accel})`, () => {
  let home = '';
  let lab: LabHandle | undefined;
  let spec: LabSpec;
  const halab = (args: string[], timeoutMs = 600_000) => cli(home, [...args, '--lab', LAB], timeoutMs);
  /** Open the handle again after the CLI changed the lab in another process. */
  const reopen = async () => {
    await lab?.close();
    lab = await LabHandle.open(LAB);
    return lab;
  };

  beforeAll(async () => {
    home = freshHome('vm');
    // the set-up builds the image; taken from the cache when it is there
    const t0 = Date.now();
    const img = await ensureImage({ onLog: log });
    log(`base image ${img.cached ? 'cached' : 'built'} (${secs(Date.now() - t0)}): ${imagePaths().root}`);
    spec = await specFor(LAB, `${NET}.0/24`, { bootstrap: 'fast', vip: VIP, hosts: HOSTS, timers: TCG_TIMERS });
    const steps: string[] = [];
    const sshLogins: string[] = [];
    const t1 = Date.now();
    const res = await up(spec, {
      plan: plan(spec),
      emit: (e: EngineEvent) => {
        if (e.type === 'step:end') steps.push(`${e.stepId} ${secs(e.durationMs)}`);
        if (e.type === 'step:log' && e.stepId === 'qemu:ssh') sshLogins.push(`${e.host}: ${e.message}`);
      },
    });
    log(`up ${res.ok ? 'done' : 'FAILED'} in ${secs(Date.now() - t1)} (${ACCEL.accel}): ${steps.join(', ')}`);
    for (const l of sshLogins) log(l);
    if (!res.ok) throw new Error(`up failed: ${res.error?.message} ${res.error?.details ?? ''}`);
    lab = await LabHandle.open(LAB);
  });

  afterAll(async () => {
    await lab?.close();
    // the last test takes the lab down; after a failure before it, this does
    await removeLab(home, LAB);
  });

  it('boots every VM from an overlay on the locally built image, each reachable over ssh2 as itself', async () => {
    const l = lab!;
    const qs = qemuState(l.state);
    const base = imagePaths(qs.image).root;
    const ids = new Set<string>();
    for (const h of HOSTS) {
      // the overlay's backing file is the cached base image
      const info = JSON.parse(
        (await run('qemu-img', ['info', '--output=json', '-U', vmPaths(l.dir, h.name).root])).stdout,
      ) as { 'backing-filename'?: string };
      expect(info['backing-filename']).toBe(base);
      // a completed login over the pooled ssh2 connection, through the loopback port forward
      expect(l.state.hosts[h.name]?.ssh?.address).toBe('127.0.0.1');
      const r = await l.remote(h.name).exec('hostname; cat /etc/machine-id; ip -4 -o addr show dev eth0', {
        timeoutMs: 30_000,
      });
      const [name, machineId, addr] = r.stdout.split('\n');
      expect(name).toBe(h.name);
      expect(addr).toContain(` ${h.address}/24`);
      ids.add(machineId!.trim());
      // a real VM: QEMU's own process, recorded by pid, with the lab's files on its command line
      const pid = qs.hosts[h.name]!.pid!;
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain(vmPaths(l.dir, h.name).qmp);
    }
    expect(ids.size).toBe(HOSTS.length);
  });

  it("mounts m1's two virtio disks at the etcd data and snapshot paths", async () => {
    const l = lab!;
    const disks = l.disks('m1');
    expect(disks.map((d) => d.mountpoint).sort()).toEqual(['/var/lib/etcd', '/var/lib/etcd-snapshots']);
    const devices = new Set<string>();
    for (const d of disks) {
      const r = await l
        .remote('m1')
        .exec(
          `readlink -f /dev/disk/by-id/virtio-${d.name}; findmnt -n -o SOURCE,FSTYPE --mountpoint ${d.mountpoint}`,
          { timeoutMs: 30_000 },
        );
      const [dev, mnt] = r.stdout.trim().split('\n');
      expect(dev).toMatch(/^\/dev\/vd[b-z]$/);
      expect(mnt?.split(/\s+/)).toEqual([dev, 'ext4']);
      devices.add(dev!);
    }
    expect(devices.size).toBe(2);
    // etcd writes its data there
    const ls = await l.remote('m1').exec('find /var/lib/etcd -maxdepth 2 -name member', { timeoutMs: 30_000 });
    expect(ls.stdout).toMatch(/^\/var\/lib\/etcd\/.*member$/m);
  });

  it("VRRP between the LB VMs holds the VIP on lb1 only: m1 reaches it at lb1's MAC", async () => {
    const l = lab!;
    expect(await hasVip(l, 'lb1')).toBe(true);
    expect(await hasVip(l, 'lb2')).toBe(false);
    // across the lab segment (a multicast group on this machine's loopback): m1 resolves the VIP to lb1
    const mac = (await l.remote('lb1').exec('cat /sys/class/net/eth0/address', { timeoutMs: 20_000 })).stdout.trim();
    const r = await l
      .remote('m1')
      .exec(`ping -c 2 -W 5 ${VIP} >/dev/null; ip neigh show ${VIP} dev eth0`, { timeoutMs: 40_000, allowFail: true });
    expect(r.stdout, r.stderr).toContain(`lladdr ${mac}`);
    // this machine is on the segment too (its tap): HAProxy's frontend on the VIP accepts from here
    await new Promise<void>((resolve, reject) => {
      const c = connect({ host: VIP, port: 6443, timeout: 10_000 }, () => {
        c.destroy();
        resolve();
      });
      c.on('timeout', () => c.destroy(new Error(`no TCP connection to ${VIP}:6443 from this machine`)));
      c.on('error', reject);
    });
  });

  it('a freeze of the VIP holder (halab fault freeze: QMP stop) moves the VIP to lb2; thawed, lb1 takes it back', async () => {
    let l = await reopen();
    expect(await hasVip(l, 'lb1')).toBe(true);
    const f = await halab(['fault', 'lb1', 'freeze']);
    expect(f.code, f.stderr).toBe(0);
    try {
      expect(await qmpStatus(vmPaths(l.dir, 'lb1').qmp)).toBe('paused');
      const ms = await waitVipOn(l, 'lb2', 60_000);
      log(`freeze: VIP on lb2 ${secs(ms)} after the freeze returned`);
    } finally {
      const t = await halab(['fault', 'lb1', 'thaw']);
      expect(t.code, t.stderr).toBe(0);
    }
    l = await reopen();
    expect(await qmpStatus(vmPaths(l.dir, 'lb1').qmp)).toBe('running');
    await waitVipOn(l, 'lb1', 120_000);
    await poll({ what: 'the VIP off lb2', check: async () => !(await hasVip(l, 'lb2')), timeoutMs: 60_000 });
  });

  it('halab stop, then start: every VM again with the same address, and the etcd data written before', async () => {
    let l = await reopen();
    const diskNames = l.disks('m1').map((d) => d.name);
    const value = `written-${Date.now()}`;
    await etcdctl(l, 'm1', ['put', '/halab-test/qemu', value]);
    const ports = Object.fromEntries(HOSTS.map((h) => [h.name, l.state.hosts[h.name]!.ssh!.port]));
    await l.close();
    lab = undefined;
    const s = await halab(['stop'], 600_000);
    expect(s.code, s.stderr + s.stdout).toBe(0);
    const dir = join(home, 'labs', LAB);
    expect(strayVmPids(dir)).toEqual([]);
    // the VMs' files stay: overlays and m1's two disks
    for (const h of HOSTS) expect(existsSync(vmPaths(dir, h.name).root)).toBe(true);
    for (const d of diskNames) expect(existsSync(vmPaths(dir, 'm1').disk(d))).toBe(true);
    // start = up with the recorded spec; here with the same steps the lab was built with
    const t0 = Date.now();
    const st = await start(LAB, { plan: plan(spec), emit: () => {} });
    log(`start: ${secs(Date.now() - t0)}`);
    expect(st.ok, `${st.error?.message} ${st.error?.details ?? ''}`).toBe(true);
    l = await reopen();
    for (const h of HOSTS) {
      const r = await l.remote(h.name).exec('hostname; ip -4 -o addr show dev eth0', { timeoutMs: 30_000 });
      expect(r.stdout).toContain(`${h.name}\n`);
      expect(r.stdout).toContain(` ${h.address}/24`);
      log(`${h.name}: ${h.address}, SSH forward 127.0.0.1:${ports[h.name]} -> ${l.state.hosts[h.name]!.ssh!.port}`);
    }
    expect((await etcdctl(l, 'm1', ['get', '/halab-test/qemu', '--print-value-only'])).trim()).toBe(value);
    await waitVipOn(l, 'lb1', 60_000);
    expect(await hasVip(l, 'lb2')).toBe(false);
  });

  it("lb-failover's steps with a QMP power cut: the VIP moves to lb2, and back once lb1 is on again", async () => {
    const l = await reopen();
    const pidBefore = qemuState(l.state).hosts.lb1!.pid;
    // the catalog's drill as it is, but for what needs a control plane: no probe (it reads and
    // writes through the API), no health check of apiservers and nodes before or after
    const drill: Drill = { ...lbFailover, needs: () => [], probe: false, preflight: false, healthTimeoutMs: 1000 };
    const t0 = Date.now();
    const out = await executeDrill(l, drill, { emit: () => {} });
    const r = out.result;
    log(`lb-failover steps: ${secs(Date.now() - t0)}${r.error ? ` (${r.error})` : ''}`);
    for (const x of r.checks) log(`  check ${x.id}: ${x.ok ? 'ok' : 'not ok'} (${x.observed})`);
    for (const m of r.measurements) log(`  measured ${m.id}: ${m.value} ${m.unit}`);
    expect(r.checks.find((x) => x.id === 'vip-moved')).toMatchObject({ ok: true, observed: 'on lb2' });
    expect(r.checks.find((x) => x.id === 'takeover-seen')?.ok).toBe(true);
    expect(r.measurements.find((m) => m.id === 'vip-takeover')?.value).toBeGreaterThan(0);
    expect(r.marks.map((m) => m.label)).toEqual(
      expect.arrayContaining(['lb1 powered off', 'VIP on lb2', 'lb1 powered on']),
    );
    // the power cut ended lb1's QEMU (QMP quit): it runs in a new one now, on the same overlay
    const pidAfter = qemuState(l.state).hosts.lb1!.pid;
    expect(pidAfter).toBeDefined();
    expect(pidAfter).not.toBe(pidBefore);
    expect(existsSync(`/proc/${pidBefore}`)).toBe(false);
    expect(readFileSync(`/proc/${pidAfter}/cmdline`, 'utf8')).toContain(vmPaths(l.dir, 'lb1').root);
    // the drill's cleanup waits 60 s for the VIP back; a TCG lb1 may still be booting then
    const back = await waitVipOn(l, 'lb1', 240_000);
    log(`VIP back on lb1 ${secs(back)} after the drill ended`);
  });

  it('halab down leaves no QEMU process, socket, overlay or disk of the lab', async () => {
    const l = await reopen();
    const dir = l.dir;
    const pids = Object.values(qemuState(l.state).hosts).map((h) => h.pid!);
    expect(pids.every((p) => p > 0)).toBe(true);
    await l.close();
    lab = undefined;
    const d = await halab(['down'], 300_000);
    expect(d.code, d.stderr).toBe(0);
    for (const p of pids) expect(existsSync(`/proc/${p}`)).toBe(false);
    expect(strayVmPids(dir)).toEqual([]);
    expect(existsSync(vmsDir(dir))).toBe(false);
    const ss = await run('ss', ['-xlp']);
    expect(ss.stdout).not.toContain(dir);
    expect(leaks(home, LAB)).toEqual([]);
  });
});

// A kubeadm lab on VMs (containerd and real kubelets in every master and worker) is too slow
// under TCG to be a test (minutes per Go binary's start); with KVM or HVF it runs here.
const kubeadmSkip =
  skip ??
  (ACCEL.accel === 'tcg'
    ? `the accelerator is TCG (${ACCEL.why}): a kubeadm lab on emulated CPUs takes far too long; run this file on a machine with KVM or HVF`
    : undefined);
if (kubeadmSkip && !skip) console.warn(`SKIP: kubeadm lab on VMs: ${kubeadmSkip}`);

describe.skipIf(!!kubeadmSkip)('qemu provider: a kubeadm lab on VMs (KVM/HVF only)', () => {
  const NAME = 'vmkube';
  const K = '10.213.241';
  let home = '';

  beforeAll(() => {
    home = freshHome('vmk');
  });
  afterAll(async () => {
    await removeLab(home, NAME);
  });

  it('builds a kubeadm lab on VMs (lb1, lb2, m1, w1): every node Ready through the VIP', async () => {
    const spec = await specFor(NAME, `${K}.0/24`, {
      bootstrap: 'kubeadm',
      vip: `${K}.10`,
      hosts: [
        { name: 'lb1', role: 'lb', address: `${K}.11` },
        { name: 'lb2', role: 'lb', address: `${K}.12` },
        { name: 'm1', role: 'master', address: `${K}.21` },
        { name: 'w1', role: 'worker', address: `${K}.31` },
      ],
    });
    const t0 = Date.now();
    const res = await up(spec, { emit: () => {} });
    log(`kubeadm lab on VMs: ${secs(Date.now() - t0)}`);
    expect(res.ok, `${res.error?.message} ${res.error?.details ?? ''}`).toBe(true);
    const l = await LabHandle.open(NAME);
    const c = await kubectl(l, ['get', 'nodes', '--no-headers']);
    await l.close();
    const lines = c.stdout.trim().split('\n');
    expect(lines.length).toBe(spec.hosts.filter((h) => h.role !== 'lb').length);
    for (const line of lines) expect(line.split(/\s+/)[1]).toBe('Ready');
  });
});
