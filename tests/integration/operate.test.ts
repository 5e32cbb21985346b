// Issue 12: operating a lab by hand, on real labs, through the CLI a person would type.
//   fast lab:    `up` on a lab whose m3 lost its data stops, keeps everything and names the fix;
//                `halab replace m3` is that fix; a cable pulled and a service stopped by hand with
//                writes going on, `halab heal`; `halab watch` during a power-off; disaster recovery
//                with `halab snapshot restore` (a corrupted file refused first); add a worker,
//                refuse a removal that breaks quorum, replace a master that lost power.
//   kubeadm lab: stop and start (nothing of it runs meanwhile, a ConfigMap comes back), replace
//                the first master after a power loss, a restore makes a kubelet drop the pod it
//                forgot.
//
//   npx vitest run --project integration tests/integration/operate.test.ts
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DrillResult } from '../../provisioning/api/drills.ts';
import type { LabStatus } from '../../provisioning/api/types.ts';
import { AGNHOST_IMAGE } from '../../provisioning/artifacts/images.ts';
import { waitHealthy } from '../../provisioning/drills/health.ts';
import { LabHandle } from '../../provisioning/engine/lab.ts';
import { kubectl } from '../../provisioning/k8s/kubectl.ts';
import { etcdctl } from '../../provisioning/steps/etcd/etcdctl.ts';
import { poll } from '../../provisioning/util/poll.ts';
import { cli, leaks, skipUnlessRoot } from './helpers.ts';
import { useLab, type LabFixture } from './lab-fixture.ts';

const skip = skipUnlessRoot();
const FAST = 'opfast';
const KUBE = 'opkube';

/** Helpers over one lab: a fresh handle each time (the CLI changes hosts and their keys under us). */
function tools(f: LabFixture, name: string) {
  const withLab = async <T>(fn: (lab: LabHandle) => Promise<T>): Promise<T> => {
    const lab = await LabHandle.open(name);
    try {
      return await fn(lab);
    } finally {
      await lab.close();
    }
  };
  const halab = (args: string[], timeoutMs = 600_000) => cli(f.home, [...args, '--lab', name], timeoutMs);
  const status = async (): Promise<LabStatus> => {
    const r = await cli(f.home, ['status', name, '--json'], 120_000);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as LabStatus;
  };
  const sh = (host: string, cmd: string) =>
    withLab((lab) => lab.remote(host).exec(cmd, { allowFail: true, timeoutMs: 60_000 }));
  const k = (args: string[], allowFail = false) =>
    withLab((lab) => kubectl(lab, args, { allowFail, timeoutMs: 60_000 }));
  const etcd = (master: string, args: string[]) => withLab((lab) => etcdctl(lab, master, args));
  const members = async (via: string) =>
    (JSON.parse(await etcd(via, ['member', 'list', '-w', 'json'])) as { members: { name: string; ID: number }[] })
      .members;
  const until = (what: string, check: () => Promise<boolean>, timeoutMs = 120_000) =>
    poll({ what, check, timeoutMs, intervalMs: 1000 });
  const healthy = async (timeoutMs = 240_000) => {
    const h = await withLab((lab) => waitHealthy(lab, { timeoutMs, intervalMs: 2000 }));
    expect(
      h.checks.filter((c) => !c.ok).map((c) => `${c.title}: ${c.observed}`),
      'the lab is healthy',
    ).toEqual([]);
  };
  return { withLab, halab, status, sh, k, etcd, members, until, healthy };
}

/** Stop etcd on a master and delete its data dir: a lost disk A. */
const WIPE = 'rm -rf /var/lib/etcd/data';

describe.skipIf(!!skip).sequential('issue 12 on a fast-bootstrap lab', () => {
  const f = useLab({
    tag: 'opfast',
    name: FAST,
    subnet: '10.213.230.0/24',
    input: { bootstrap: 'fast' },
  });
  const t = tools(f, FAST);

  it('up on a ready lab whose m3 lost its data exits non-zero with the problem and the fix, and keeps everything; replace m3 is the fix', async () => {
    const dir = f.lab.dir;
    const images = readdirSync(join(dir, 'disks')).sort();
    expect(images).toEqual(['m1', 'm2', 'm3'].flatMap((m) => [`${m}-etcd-data.img`, `${m}-etcd-snapshots.img`]).sort());
    expect((await t.halab(['service', 'm3', 'etcd', 'stop'])).code).toBe(0);
    await t.sh('m3', WIPE);
    expect((await t.halab(['service', 'm3', 'etcd', 'start'])).code).toBe(0);
    // status names it once the member is seen crash-looping
    let problems: string[] = [];
    await t.until(
      'status to name the lost member',
      async () => {
        problems = (await t.status()).controlPlane?.problems ?? [];
        return problems.some((p) => p.includes('etcd member m3 is crash-looping on an empty data dir'));
      },
      90_000,
    );
    expect(problems.join('\n')).toMatch(/`halab replace m3`.*`halab snapshot restore`/);

    const spec = join(f.home, 'spec.json');
    writeFileSync(spec, JSON.stringify(f.lab.state.spec));
    const up = await cli(f.home, ['up', spec], 300_000);
    expect(up.code, up.stderr).not.toBe(0);
    expect(up.stderr).toContain('etcd member m3 lost its data');
    expect(up.stderr).toMatch(/fix: the disk-loss procedure.*`halab replace m3`.*`halab snapshot restore`/);
    expect(up.stderr).not.toContain('removing the half-built lab');
    // the lab, its state and every disk image are where they were
    expect(existsSync(join(dir, 'state.json'))).toBe(true);
    expect(readdirSync(join(dir, 'disks')).sort()).toEqual(images);
    expect(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).phase).toBe('failed');
    expect((await t.status()).hosts.every((h) => h.reachable)).toBe(true);

    // the fix: a new m3 on m3's disks, re-added as a new member (its data dir holds nothing of the cluster)
    const before = (await t.members('m1')).find((m) => m.name === 'm3')!.ID;
    const r = await t.halab(['replace', 'm3', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    const after = (await t.members('m1')).find((m) => m.name === 'm3')!.ID;
    expect(after).not.toBe(before);
    await t.healthy();
  });

  it('halab watch for 10 s during halab fault lb1 power-off prints the outage and a report with the manual fault', async () => {
    const watch = t.halab(['watch', '--duration', '10'], 120_000);
    await new Promise((r) => setTimeout(r, 4000));
    const off = await t.halab(['fault', 'lb1', 'power-off']);
    expect(off.code, off.stderr).toBe(0);
    expect(off.stdout).toContain('lb1: power-off');
    const w = await watch;
    expect(w.code, w.stderr).toBe(0);
    expect(w.stdout).toMatch(/⚡ lb1: power-off/);
    expect(w.stdout).toMatch(/reads: \d+ requests, \d+ failed; longest outage [\d.]+ (ms|s) \(\+[\d.]+ s → \+[\d.]+ s/);
    const report = /report: (\S+)\/report\.md/.exec(w.stdout)?.[1];
    expect(report).toBeTruthy();
    const json = JSON.parse(readFileSync(join(report!, 'report.json'), 'utf8')) as { result: DrillResult };
    expect(json.result.marks.map((m) => m.label)).toContain('lb1: power-off');
    expect(json.result.probe.find((p) => p.kind === 'read')!.requests).toBeGreaterThan(50);
    expect(readFileSync(join(report!, 'timeline.svg'), 'utf8')).toContain('lb1: power-off');
    // already off: said so, nothing changed
    const again = await t.halab(['fault', 'lb1', 'power-off']);
    expect(again.stdout).toContain('lb1 is already powered off: nothing changed');
    expect((await t.halab(['fault', 'lb1', 'power-on'])).code).toBe(0);
    await t.healthy();
  });

  it("m2's cable pulled with halab fault: writes go on through the VIP, m2's member falls behind, and converges when plugged back", async () => {
    const rev = async () =>
      Math.max(...((await t.status()).controlPlane?.etcd ?? []).filter((m) => m.healthy).map((m) => m.revision ?? 0));
    expect((await t.halab(['fault', 'm2', 'unplug'])).code).toBe(0);
    const during = await t.status();
    const m2 = during.controlPlane!.etcd.find((m) => m.name === 'm2')!;
    expect(m2.healthy).toBe(false);
    expect(during.controlPlane!.problems.join('\n')).toContain('etcd member m2 is unhealthy');
    const r0 = await rev();
    // writes through the VIP while m2 is cut off (a request that hung on m2's member is retried)
    for (let i = 0; i < 5; i++)
      await t.until(`configmap cut-${i} written through the VIP`, async () => {
        const w = await t.k(['create', 'configmap', `cut-${i}`, '--from-literal=i=x'], true);
        return w.exitCode === 0 || w.stderr.includes('AlreadyExists');
      });
    expect(await rev()).toBeGreaterThan(r0);
    expect((await t.halab(['fault', 'm2', 'unplug'])).stdout).toContain('already unplugged');
    expect((await t.halab(['fault', 'm2', 'plug'])).code).toBe(0);
    await t.until('m2 back at the same revision as the others', async () => {
      const e = (await t.status()).controlPlane?.etcd ?? [];
      return e.every((m) => m.healthy) && new Set(e.map((m) => m.revision)).size === 1;
    });
    // m2 has what was written while it was away, in its own copy
    const own = await t.etcd('m2', ['get', '--consistency=s', '--keys-only', '/registry/configmaps/default/cut-4']);
    expect(own).toContain('cut-4');
  });

  it('halab service lb1 haproxy stop moves the VIP to lb2; halab heal returns a healthy lab', async () => {
    const stop = await t.halab(['service', 'lb1', 'haproxy', 'stop']);
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stdout).toContain('haproxy on lb1: stopped');
    await t.until('the VIP on lb2', async () => (await t.status()).controlPlane?.vipHolder === 'lb2', 60_000);
    expect((await t.halab(['service', 'lb1', 'haproxy', 'stop'])).stdout).toContain('already down');
    expect((await t.halab(['service', 'lb1', 'etcd', 'stop'])).stderr).toContain('lb1 runs no etcd');
    expect((await t.halab(['fault', 'w2', 'freeze'])).code).toBe(0);
    const heal = await cli(f.home, ['heal', FAST], 300_000);
    expect(heal.code, heal.stdout + heal.stderr).toBe(0);
    expect(heal.stdout).toContain('lb1: haproxy started');
    expect(heal.stdout).toContain('w2: thawed');
    expect(heal.stdout).toMatch(/lab opfast is healthy/);
    expect((await t.status()).controlPlane?.vipHolder).toBe('lb1');
  });

  it('disaster recovery: a corrupted snapshot is refused before anything stops; with etcd stopped and wiped on two masters, restore brings back 3 members with the snapshot’s objects', async () => {
    expect((await t.k(['create', 'configmap', 'in-snapshot', '--from-literal=k=v'])).exitCode).toBe(0);
    const save = await t.halab(['snapshot', 'save', '--json']);
    expect(save.code, save.stderr).toBe(0);
    const snap = JSON.parse(save.stdout) as { master: string; file: string; revision: number };
    expect((await t.k(['create', 'configmap', 'after-snapshot', '--from-literal=k=v'])).exitCode).toBe(0);

    // a corrupted copy: one flipped block in the middle of the database
    const bad = snap.file.replace(/(\d{2})Z\.db$/, (_m, sec: string) => `${sec === '58' ? '57' : '58'}Z.db`);
    expect(
      (
        await t.sh(
          snap.master,
          `cp ${snap.file} ${bad} && dd if=/dev/urandom of=${bad} bs=512 count=1 seek=8 conv=notrunc 2>/dev/null`,
        )
      ).exitCode,
    ).toBe(0);
    const refused = await t.halab(['snapshot', 'restore', '--snapshot', `${snap.master}:${bad}`, '--yes']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(
      /cannot be restored: .*(sha256|etcdctl snapshot status).*nothing was stopped or changed/,
    );
    const st = await t.status();
    for (const m of ['m1', 'm2', 'm3'])
      expect(st.hosts.find((h) => h.name === m)!.services.find((s) => s.name === 'etcd')?.up, m).toBe(true);
    expect(st.controlPlane?.etcd.every((m) => m.healthy)).toBe(true);

    // the disaster: two of three members lose their data
    for (const m of ['m1', 'm2']) {
      expect((await t.halab(['service', m, 'etcd', 'stop'])).code).toBe(0);
      await t.sh(m, WIPE);
    }
    const broken = await t.status();
    expect(broken.controlPlane?.etcdLeader).toBeUndefined();
    expect(broken.controlPlane?.problems.join('\n')).toMatch(
      /etcd on m1 is stopped and its data dir .* is empty.*quorum is lost.*`halab snapshot restore`/,
    );

    const t0 = Date.now();
    const r = await t.halab(['snapshot', 'restore', '--snapshot', `${snap.master}:${snap.file}`, '--yes']);
    const took = (Date.now() - t0) / 1000;
    expect(r.code, r.stdout.slice(-3000) + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/PASSED/);
    console.log(`restore after quorum loss: ${took.toFixed(1)} s (CLI, from the command to a healthy lab)`);
    const e = (await t.status()).controlPlane!.etcd;
    expect(e.map((m) => `${m.name} ${m.healthy}`)).toEqual(['m1 true', 'm2 true', 'm3 true']);
    expect((await t.members('m1')).map((m) => m.name).sort()).toEqual(['m1', 'm2', 'm3']);
    expect((await t.k(['get', 'configmap', 'in-snapshot'], true)).exitCode).toBe(0);
    const gone = await t.k(['get', 'configmap', 'after-snapshot'], true);
    expect(gone.stderr).toContain('NotFound');
    await t.sh(snap.master, `rm -f ${bad} ${bad}.json`);
  });

  it('snapshot export copies a snapshot to this machine, checked', async () => {
    const list = await t.halab(['snapshot', 'list', '--json']);
    const good = (
      JSON.parse(list.stdout) as { snapshots: { master: string; file: string; status: string }[] }
    ).snapshots.find((s) => s.status === 'good')!;
    const local = join(f.home, 'exported.db');
    const r = await t.halab(['snapshot', 'export', `${good.master}:${good.file}`, '-o', local]);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(local).size % 512).toBe(32);
  });

  it('add worker gives a Ready node; removing a master that would break quorum is refused; replace m1 after it lost power brings back its member with its data and address', async () => {
    const add = await t.halab(['add', 'worker']);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stderr).toContain('w3 (worker, 10.213.230.33) is part of lab opfast');
    await t.until('node w3 Ready', async () => {
      const r = await t.k(
        ['get', 'node', 'w3', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'],
        true,
      );
      return r.stdout === 'True';
    });
    expect((await t.withLab(async (l) => l.state.spec.hosts.map((h) => h.name))).at(-1)).toBe('w3');
    const rm = await t.halab(['remove', 'w3', '--yes']);
    expect(rm.code, rm.stderr).toBe(0);
    expect((await t.k(['get', 'node', 'w3'], true)).stderr).toContain('NotFound');

    // m1's own data: a key only m1 had when it lost power is still there after the replace
    await t.etcd('m1', ['put', '/halab-it/before-power-loss', 'yes']);
    const id = (await t.members('m2')).find((m) => m.name === 'm1')!.ID;
    const image = join(f.lab.dir, 'disks', 'm1-etcd-data.img');
    const inode = statSync(image).ino;
    expect((await t.halab(['fault', 'm1', 'power-off'])).code).toBe(0);

    const refused = await t.halab(['remove', 'm2', '--yes']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(
      /m2 is not removed: removing m2 would leave 1 healthy member of 2, fewer than a majority \(2\): etcd would lose quorum \(now 3 members \(majority 2, tolerates 1\), 2 healthy \(m2, m3\)/,
    );
    expect((await t.members('m2')).map((m) => m.name).sort()).toEqual(['m1', 'm2', 'm3']);

    const t0 = Date.now();
    const r = await t.halab(['replace', 'm1', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    console.log(`replace m1 (fast): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(r.stderr).toContain("m1 is a new host with the address 10.213.230.21 and m1's disks");
    expect(statSync(image).ino).toBe(inode);
    expect((await t.members('m2')).find((m) => m.name === 'm1')!.ID).toBe(id);
    expect(
      await t.etcd('m1', ['get', '--consistency=s', '--print-value-only', '/halab-it/before-power-loss']),
    ).toContain('yes');
    expect((await t.sh('m1', 'ip -4 -o addr show eth0')).stdout).toContain(' 10.213.230.21/');
    await t.healthy();
  });
});

describe.skipIf(!!skip).sequential('issue 12 on a kubeadm lab', () => {
  const f = useLab({ tag: 'opkube', name: KUBE, subnet: '10.213.231.0/24', input: { bootstrap: 'kubeadm' } });
  const t = tools(f, KUBE);

  it('halab stop leaves no process, namespace or loop device of the lab; halab start brings it back with a ConfigMap written before', async () => {
    expect((await t.k(['create', 'configmap', 'before-stop', '--from-literal=k=v'])).exitCode).toBe(0);
    const t0 = Date.now();
    const stop = await cli(f.home, ['stop', KUBE]);
    expect(stop.code, stop.stderr).toBe(0);
    console.log(`stop (kubeadm): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(leaks(f.home, KUBE).filter((l) => !l.startsWith('state dir'))).toEqual([]);
    expect(readdirSync(join(f.lab.dir, 'disks')).length).toBeGreaterThan(0);
    const list = await cli(f.home, ['list']);
    expect(list.stdout).toMatch(/^opkube\s+stopped\s+stopped\s/m);

    const t1 = Date.now();
    const start = await cli(f.home, ['start', KUBE]);
    expect(start.code, start.stderr).toBe(0);
    console.log(`start (kubeadm): ${((Date.now() - t1) / 1000).toFixed(1)} s`);
    expect((await cli(f.home, ['list'])).stdout).toMatch(/^opkube\s+running\s+ready\s/m);
    expect((await t.k(['get', 'configmap', 'before-stop', '-o', 'jsonpath={.data.k}'])).stdout).toBe('v');
    await t.healthy();
  });

  it('replace m1 (the first master, where kubeadm init ran) after it lost power: a new host with its disks rejoins as the same member and a Ready node', async () => {
    const id = (await t.members('m2')).find((m) => m.name === 'm1')!.ID;
    expect((await t.halab(['fault', 'm1', 'power-off'])).code).toBe(0);
    const t0 = Date.now();
    const r = await t.halab(['replace', 'm1', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    console.log(`replace m1 (kubeadm): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect((await t.members('m2')).find((m) => m.name === 'm1')!.ID).toBe(id);
    await t.healthy();
    // the new m1's kubelet reports its static pod's status (the mirror pod) some seconds after
    // the apiserver itself is ready: Pending until then
    const phase = async () =>
      (await t.k(['-n', 'kube-system', 'get', 'pod', 'kube-apiserver-m1', '-o', 'jsonpath={.status.phase}'], true))
        .stdout;
    await t.until('kube-apiserver-m1 Running', async () => (await phase()) === 'Running', 60_000).catch(() => {});
    expect(await phase()).toBe('Running');
  });

  it('after a restore, the kubelet that ran a pod the restore forgot stops it', async () => {
    const save = await t.halab(['snapshot', 'save', '--json']);
    expect(save.code, save.stderr).toBe(0);
    const snap = JSON.parse(save.stdout) as { master: string; file: string };
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'forgotten', namespace: 'default' },
      spec: {
        nodeName: 'w1',
        containers: [{ name: 'forgotten', image: AGNHOST_IMAGE, args: ['pause'] }],
      },
    };
    expect((await t.withLab((l) => kubectl(l, ['apply', '-f', '-'], { input: JSON.stringify(pod) }))).exitCode).toBe(0);
    const running = async () =>
      (await t.sh('w1', "/mnt/halab/crictl/bin/crictl ps -q --state Running --name '^forgotten$'")).stdout.trim() !==
      '';
    await t.until('the pod running on w1', running);
    const r = await t.halab(['snapshot', 'restore', '--snapshot', `${snap.master}:${snap.file}`, '--yes']);
    expect(r.code, r.stdout.slice(-3000) + r.stderr).toBe(0);
    expect((await t.k(['get', 'pod', 'forgotten'], true)).stderr).toContain('NotFound');
    await t.until('w1 stops the pod the cluster no longer has', async () => !(await running()), 180_000);
    await t.healthy();
  });
});
