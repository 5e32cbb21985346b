// What the netns provider needs on this machine, each with the command that fixes it.
import { promises as fs } from 'node:fs';
import type { DoctorCheck } from '../../api/types.ts';
import { nsInode } from './proc.ts';

const TOOLS: [tool: string, pkg: string, path: string][] = [
  ['ip', 'iproute2', '/usr/bin/ip'],
  ['nsenter', 'util-linux', '/usr/bin/nsenter'],
  ['unshare', 'util-linux', '/usr/bin/unshare'],
  ['losetup', 'mount', '/usr/sbin/losetup'],
  ['mkfs.ext4', 'e2fsprogs', '/usr/sbin/mkfs.ext4'],
  ['sshd', 'openssh-server', '/usr/sbin/sshd'],
  ['ssh-keygen', 'openssh-client', '/usr/bin/ssh-keygen'],
  ['s6-svscan', 's6', '/usr/bin/s6-svscan'],
];

const present = (p: string) =>
  fs.access(p).then(
    () => true,
    () => false,
  );

export async function netnsPreflight(): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const isRoot = process.getuid?.() === 0;
  checks.push({
    id: 'root',
    title: 'running as root (namespaces, bridges, loop devices)',
    ok: isRoot,
    required: true,
    detail: isRoot ? undefined : `uid ${process.getuid?.()}`,
    fix: 'run halab with sudo',
  });
  for (const [tool, pkg, path] of TOOLS) {
    const ok = await present(path);
    checks.push({
      id: `tool:${tool}`,
      title: `${tool} (Debian package ${pkg})`,
      ok,
      required: true,
      detail: ok ? path : `${path} not found`,
      fix: `apt-get install -y ${pkg}`,
    });
  }
  checks.push({
    id: 'kernel:loop',
    title: 'loop devices (/dev/loop-control)',
    ok: await present('/dev/loop-control'),
    required: true,
    fix: 'modprobe loop (or enable CONFIG_BLK_DEV_LOOP in the kernel)',
  });
  const fsys = await fs.readFile('/proc/filesystems', 'utf8').catch(() => '');
  checks.push({
    id: 'kernel:overlay',
    title: 'overlayfs',
    ok: /\toverlay$/m.test(fsys),
    required: true,
    fix: 'modprobe overlay',
  });
  checks.push({
    id: 'kernel:namespaces',
    title: 'network, mount, UTS and PID namespaces',
    ok: (await present('/proc/self/ns/net')) && !!nsInode('self', 'pid'),
    required: true,
    fix: 'use a kernel with CONFIG_NAMESPACES, CONFIG_NET_NS, CONFIG_PID_NS',
  });
  return checks;
}
