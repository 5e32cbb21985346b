// Issue "Foundation": the reference lab's 7 hosts over ssh2, isolation, pinned host keys,
// resume after kill -9, idempotent up, a second lab beside the first, a clean down, bad specs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabHandle } from '../../provisioning/engine/lab.ts';
import { SshRemote } from '../../provisioning/exec/ssh.ts';
import { HalabError } from '../../provisioning/errors.ts';
import { netnsHost } from '../../provisioning/providers/netns/index.ts';
import {
  cli,
  cliUpUntil,
  freshHome,
  leaks,
  processesInNetns,
  removeHome,
  skipUnlessRoot,
  writeSpec,
} from './helpers.ts';

const skip = skipUnlessRoot();
const LAB = 'itfound';
const LAB2 = 'itfound2';
// the reference lab's layout (lb1 lb2 m1-m3 w1 w2 at .11 .12 .21-.23 .31 .32), in subnets of our own
// the fast bootstrap: these tests are about the hosts and the CLI; kubeadm.test.ts builds the default
const SPEC = `name: ${LAB}\nsubnet: 10.213.60.0/24\nbootstrap: fast\n`;
const SPEC2 = `name: ${LAB2}\nsubnet: 10.213.61.0/24\nbootstrap: fast\n`;
const HOSTS = {
  lb1: '10.213.60.11',
  lb2: '10.213.60.12',
  m1: '10.213.60.21',
  m2: '10.213.60.22',
  m3: '10.213.60.23',
  w1: '10.213.60.31',
  w2: '10.213.60.32',
};

describe.skipIf(!!skip)('foundation: netns lab over SSH', () => {
  let home = '';
  let specPath = '';
  let spec2Path = '';

  beforeAll(() => {
    home = freshHome('found');
    specPath = writeSpec(home, 'lab.yaml', SPEC);
    spec2Path = writeSpec(home, 'lab2.yaml', SPEC2);
  });

  afterAll(async () => {
    // always clean up, whatever failed
    for (const l of [LAB, LAB2]) await cli(home, ['down', l]);
    removeHome(home);
  });

  it('a killed `halab up` is finished by the next run', async () => {
    const { pid, events } = await cliUpUntil(
      home,
      specPath,
      ['--hosts-only'],
      (e) => e.type === 'step:end' && e.stepId === 'netns:filesystems',
    );
    process.kill(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    expect(events.some((e) => e.type === 'run:end')).toBe(false);
    const st = JSON.parse(readFileSync(join(home, 'labs', LAB, 'state.json'), 'utf8'));
    expect(st.phase).toBe('creating');
    const r = await cli(home, ['up', specPath, '--json', '--hosts-only']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const ev = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // the steps finished before the kill are recognised as done, the rest run now
    const ends = Object.fromEntries(ev.filter((e) => e.type === 'step:end').map((e) => [e.stepId, e.status]));
    expect(ends['netns:prepare']).toBe('skipped');
    expect(ends['netns:network']).toBe('skipped');
    expect(ends['netns:boot']).toBe('done');
    expect(ev.at(-1)).toMatchObject({ type: 'run:end', ok: true });
  });

  it('every host answers over ssh2 with its own hostname and address', async () => {
    const lab = await LabHandle.open(LAB);
    try {
      for (const [h, addr] of Object.entries(HOSTS)) {
        const r = await lab.remote(h).exec('hostname; ip -o -4 addr show dev eth0; cat /etc/hostname');
        const [name, ipLine, etcName] = r.stdout.trim().split('\n');
        expect(name).toBe(h);
        expect(etcName).toBe(h);
        expect(ipLine).toContain(` ${addr}/24 `);
      }
    } finally {
      await lab.close();
    }
  });

  it("masters' two disks are distinct block devices mounted where expected, invisible elsewhere", async () => {
    const lab = await LabHandle.open(LAB);
    try {
      const devices = new Set<string>();
      for (const m of ['m1', 'm2', 'm3']) {
        const r = await lab
          .remote(m)
          .exec('findmnt -n -o SOURCE,FSTYPE /var/lib/etcd; findmnt -n -o SOURCE,FSTYPE /var/lib/etcd-snapshots');
        const [a, b] = r.stdout
          .trim()
          .split('\n')
          .map((l) => l.trim().split(/\s+/));
        expect(a?.[1]).toBe('ext4');
        expect(b?.[1]).toBe('ext4');
        expect(a?.[0]).toMatch(/^\/dev\/loop\d+$/);
        expect(b?.[0]).toMatch(/^\/dev\/loop\d+$/);
        expect(a?.[0]).not.toBe(b?.[0]);
        devices.add(a![0]!);
        devices.add(b![0]!);
        // they are block devices, and the recorded ones
        const blk = await lab.remote(m).exec(`test -b ${a![0]} && test -b ${b![0]} && echo blk`);
        expect(blk.stdout.trim()).toBe('blk');
        expect(
          netnsHost(lab.state, m)
            .disks.map((d) => d.loopDevice)
            .sort(),
        ).toEqual([a![0], b![0]].sort());
      }
      expect(devices.size).toBe(6);
      for (const other of ['lb1', 'w1']) {
        const r = await lab
          .remote(other)
          .exec('findmnt /var/lib/etcd; findmnt /var/lib/etcd-snapshots', { allowFail: true });
        expect(r.exitCode).not.toBe(0);
        expect(r.stdout.trim()).toBe('');
      }
      // and not from the machine itself
      const mine = readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .filter((l) => / \/var\/lib\/etcd(-snapshots)? /.test(l));
      expect(mine).toEqual([]);
    } finally {
      await lab.close();
    }
  });

  it('a file written on one host is absent on another (and on the machine)', async () => {
    const lab = await LabHandle.open(LAB);
    try {
      for (const p of [
        '/etc/halab-probe',
        '/var/lib/halab-probe',
        '/root/halab-probe',
        '/run/halab-probe',
        '/var/log/halab-probe',
      ]) {
        await lab.remote('m1').exec(`echo m1 > ${p}`);
        expect((await lab.remote('m1').exec(`cat ${p}`)).stdout.trim()).toBe('m1');
        for (const other of ['m2', 'w1', 'lb1']) {
          const r = await lab.remote(other).exec(`cat ${p}`, { allowFail: true });
          expect(r.exitCode, `${p} visible on ${other}`).not.toBe(0);
        }
        expect(() => readFileSync(p)).toThrow();
      }
      // each host sees only its own processes (its own PID namespace)
      const ps = (await lab.remote('w2').exec('ps -e -o comm=')).stdout
        .split('\n')
        .map((s) => s.trim())
        .filter(Boolean);
      expect(ps).toContain('s6-svscan');
      expect(ps.filter((c) => c === 's6-svscan')).toHaveLength(1);
    } finally {
      await lab.close();
    }
  });

  it('`halab up` on a ready lab changes nothing', async () => {
    const before = JSON.parse(readFileSync(join(home, 'labs', LAB, 'state.json'), 'utf8'));
    const r = await cli(home, ['up', specPath, '--json', '--hosts-only']);
    expect(r.code, r.stderr).toBe(0);
    const ev = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const ends = ev.filter((e) => e.type === 'step:end');
    // every creating step is skipped; only the final reachability check runs
    for (const e of ends) if (e.stepId !== 'netns:ssh') expect(e.status, e.stepId).toBe('skipped');
    const after = JSON.parse(readFileSync(join(home, 'labs', LAB, 'state.json'), 'utf8'));
    for (const h of Object.keys(HOSTS)) {
      expect(after.provider.hosts[h].initPid).toBe(before.provider.hosts[h].initPid);
      expect(after.provider.hosts[h].disks).toEqual(before.provider.hosts[h].disks);
    }
    expect(after.hosts.m1.hostKey).toBe(before.hosts.m1.hostKey);
  });

  it('the pinned host key is enforced: a changed key is refused with a clear error', async () => {
    const lab = await LabHandle.open(LAB);
    const w2key = lab.state.hosts.w2!.hostKey!;
    const original = lab.state.hosts.w1!.hostKey!;
    try {
      // 1. someone else's key pinned for w1
      const wrong = new SshRemote({
        host: 'w1',
        address: HOSTS.w1,
        privateKey: readFileSync(join(home, 'labs', LAB, 'keys', 'id_ed25519')),
        pinnedHostKey: w2key,
      });
      await expect(wrong.exec('true')).rejects.toMatchObject({ code: 'HOST_KEY_MISMATCH' });
      await wrong.close();
      // 2. the host's key really changes (regenerated on w1, sshd restarted): the lab's client refuses it
      await lab
        .remote('w1')
        .exec(
          [
            'ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/new_key',
            'mv /etc/ssh/new_key /etc/ssh/ssh_host_ed25519_key && mv /etc/ssh/new_key.pub /etc/ssh/ssh_host_ed25519_key.pub',
            'nohup s6-svc -r /run/halab/service/sshd >/dev/null 2>&1 &',
          ].join(' && '),
        );
      await lab.close();
      // s6 restarts sshd within a second or two; until then the connection is refused
      let err: HalabError | undefined;
      for (let i = 0; i < 50; i++) {
        await new Promise((r) => setTimeout(r, 200));
        const fresh = await LabHandle.open(LAB);
        err = await fresh
          .remote('w1')
          .exec('true')
          .then(
            () => undefined,
            (e) => e,
          );
        await fresh.close();
        if (err?.code !== 'SSH_CONNECT') break;
      }
      expect(err).toBeInstanceOf(HalabError);
      expect(err!.code).toBe('HOST_KEY_MISMATCH');
      expect(err!.message).toContain('host key of w1 (10.213.60.31) has changed');
      expect(err!.fix).toMatch(/halab down/);
      // `halab ssh` says the same, without a stack trace
      const r = await cli(home, ['ssh', 'w1', '--lab', LAB, '--', 'true']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('host key of w1 (10.213.60.31) has changed');
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(original).not.toBe(w2key);
    } finally {
      await lab.close();
    }
  });

  it('a second lab with another name and subnet runs beside the first', async () => {
    const r = await cli(home, ['up', spec2Path, '--hosts-only']);
    expect(r.code, r.stderr).toBe(0);
    const l1 = await LabHandle.open(LAB);
    const l2 = await LabHandle.open(LAB2);
    try {
      expect((await l1.remote('m1').exec('hostname')).stdout.trim()).toBe('m1');
      expect((await l2.remote('m1').exec('hostname; ip -o -4 addr show dev eth0')).stdout).toContain('10.213.61.21/24');
      // same host names, different namespaces, bridges and disks
      expect(l1.state.tag).not.toBe(l2.state.tag);
      const d1 = netnsHost(l1.state, 'm1').disks.map((d) => d.loopDevice);
      const d2 = netnsHost(l2.state, 'm1').disks.map((d) => d.loopDevice);
      expect(d1.filter((d) => d2.includes(d))).toEqual([]);
      const list = JSON.parse((await cli(home, ['list', '--json'])).stdout);
      expect(list.map((l: { name: string }) => l.name).sort()).toEqual([LAB, LAB2]);
    } finally {
      await l1.close();
      await l2.close();
    }
  });

  it('`halab down` leaves nothing of the lab, and leaves the other lab alone', async () => {
    const st = JSON.parse(readFileSync(join(home, 'labs', LAB, 'state.json'), 'utf8'));
    const inodes = Object.values(st.provider.hosts).map((h) => (h as { netnsInode: string }).netnsInode);
    expect(processesInNetns(inodes).length).toBeGreaterThan(7);
    const r = await cli(home, ['down', LAB]);
    expect(r.code, r.stderr).toBe(0);
    expect(leaks(home, LAB)).toEqual([]);
    expect(processesInNetns(inodes)).toEqual([]);
    // the second lab still works
    const l2 = await LabHandle.open(LAB2);
    try {
      expect((await l2.remote('w2').exec('hostname')).stdout.trim()).toBe('w2');
    } finally {
      await l2.close();
    }
    const r2 = await cli(home, ['down', LAB2]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(leaks(home, LAB2)).toEqual([]);
  });
});
