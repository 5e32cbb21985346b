import { describe, expect, it } from 'vitest';
import type { LabState } from '../../api/types.ts';
import { testSpec } from '../../engine/fake-lab.testutil.ts';
import { hostFsScript } from './filesystems.ts';
import { bridgeName, netnsPaths, nsName, vethName } from './names.ts';
import { keyBody, sshdConfig, sshdService } from './sshd.ts';
import { netnsHost, netnsState } from './state.ts';

const state = (over: Partial<LabState> = {}): LabState => ({
  name: 'lab1',
  spec: testSpec({ name: 'lab1' }),
  phase: 'creating',
  tag: 'hl0a1b2c',
  createdAt: '',
  updatedAt: '',
  completedSteps: [],
  hosts: {},
  ...over,
});

describe('netns names', () => {
  it('names every kernel object after the lab and its tag, short enough for IFNAMSIZ', () => {
    expect(nsName('lab1', 'm1')).toBe('halab-lab1-m1');
    expect(bridgeName('hl0a1b2c')).toBe('hl0a1b2cbr');
    expect(vethName('hl0a1b2c', 7)).toBe('hl0a1b2cv7');
    expect(vethName('hl0a1b2c', 200).length).toBeLessThanOrEqual(15);
    const p = netnsPaths('/s/labs/lab1');
    expect([p.ns, p.mnt('m1'), p.uts('m1'), p.host('m1'), p.disk('m1', 'etcd-data')]).toEqual([
      '/s/labs/lab1/ns',
      '/s/labs/lab1/ns/m1.mnt',
      '/s/labs/lab1/ns/m1.uts',
      '/s/labs/lab1/hosts/m1',
      '/s/labs/lab1/disks/m1-etcd-data.img',
    ]);
  });
});

describe('sshd', () => {
  it('listens on the host address only, keys only, with the lab key file and sftp', () => {
    const c = sshdConfig('10.213.0.21');
    expect(c).toContain('ListenAddress 10.213.0.21\n');
    expect(c).toContain('PasswordAuthentication no\n');
    expect(c).toContain('PermitRootLogin prohibit-password\n');
    expect(c).toContain('AuthorizedKeysFile /etc/ssh/halab_authorized_keys\n');
    expect(c).toContain('Subsystem sftp /usr/lib/openssh/sftp-server\n');
    expect(c).not.toMatch(/^ListenAddress 0\.0\.0\.0/m);
    expect(sshdService().command).toEqual(['/usr/sbin/sshd', '-D', '-e', '-f', '/etc/ssh/sshd_config_halab']);
  });
  it('compares host keys by their body, whatever the comment', () => {
    expect(keyBody('ssh-ed25519 AAAAkey halab-lab1-m1\n')).toBe('AAAAkey');
    expect(keyBody('noise\nssh-ed25519 AAAAkey other')).toBe('AAAAkey');
  });
});

describe('a host filesystem view', () => {
  it('overlays /etc and /var/lib, makes /run /tmp /mnt private, shows the cache read-only, names every mount after the lab', () => {
    const s = hostFsScript({
      lab: 'lab1',
      host: 'm1',
      hostDir: '/s/labs/lab1/hosts/m1',
      nsDir: '/s/labs/lab1/ns',
      cache: '/root/.cache/halab',
      hosts: [
        { name: 'm1', address: '10.213.0.21' },
        { name: 'w1', address: '10.213.0.31' },
      ],
    });
    expect(s).toContain(
      'mount -t overlay halab-lab1-m1-etc -o lowerdir=/etc,upperdir=/s/labs/lab1/hosts/m1/etc.upper,workdir=/s/labs/lab1/hosts/m1/etc.work /etc',
    );
    expect(s).toContain(
      'mount --bind /root/.cache/halab /mnt/halab/cache && mount -o remount,bind,ro /mnt/halab/cache',
    );
    // the cache is bound before /root (where it lives) is covered
    expect(s.indexOf('/mnt/halab/cache')).toBeLessThan(s.indexOf('mount --bind /s/labs/lab1/hosts/m1/root /root'));
    expect(s).toContain('umount -R -l /s/labs/lab1/ns');
    expect(s).toContain('10.213.0.31 w1\n');
    expect(s.trim().split('\n').at(-1)).toContain('halab-lab1-m1-tmp /tmp');
  });

  it('mounts everything it takes from the lab directory before /root is covered (the default state lives under ~)', () => {
    const hostDir = '/root/.local/state/halab/labs/lab1/hosts/m1';
    const s = hostFsScript({
      lab: 'lab1',
      host: 'm1',
      hostDir,
      nsDir: '/root/.local/state/halab/labs/lab1/ns',
      cache: '/root/.cache/halab',
      hosts: [{ name: 'm1', address: '10.213.0.21' }],
    });
    const lines = s.split('\n');
    const coverRoot = lines.findIndex((l) => l.endsWith(' /root'));
    expect(lines[coverRoot]).toBe(`mount --bind ${hostDir}/root /root`);
    // every later mount that reads from under /root would see the host's own (empty) /root instead
    const sourcesAfter = lines.slice(coverRoot + 1).filter((l) => /^mount .*\/root\//.test(l));
    expect(sourcesAfter).toEqual([]);
    // and the lab's namespace files are unmounted while they are still visible (else they pin the namespaces)
    expect(lines.indexOf('umount -R -l /root/.local/state/halab/labs/lab1/ns 2>/dev/null || true')).toBeLessThan(
      coverRoot,
    );
  });
});

describe('netns state', () => {
  it('is created empty, checked, and kept as one object the steps mutate', () => {
    const st = state();
    const a = netnsState(st);
    expect(a).toEqual({ kind: 'netns', hosts: {} });
    netnsHost(st, 'm1').initPid = 42;
    expect(netnsState(st).hosts.m1?.initPid).toBe(42);
    expect(st.provider).toBe(a);
  });

  it('refuses a record that is not its own, with the fix', () => {
    expect(() => netnsState(state({ provider: { kind: 'netns', hosts: { m1: { initPid: 'x' } } } }))).toThrow(
      /recorded netns state of lab lab1 is not valid/,
    );
  });

  it('carries over the per-host fields of an earlier version', () => {
    const st = state({
      hosts: {
        m1: {
          name: 'm1',
          role: 'master',
          address: '10.213.51.21',
          provider: { initPid: 7, netnsInode: 'net:[1]' },
          disks: [
            { name: 'etcd-data', image: '/i', loopDevice: '/dev/loop3', mountpoint: '/var/lib/etcd', size: '1Gi' },
          ],
        } as never,
      },
    });
    expect(netnsState(st).hosts.m1).toMatchObject({
      initPid: 7,
      netnsInode: 'net:[1]',
      disks: [{ loopDevice: '/dev/loop3' }],
    });
    expect(st.hosts.m1).toEqual({ name: 'm1', role: 'master', address: '10.213.51.21' });
  });
});
