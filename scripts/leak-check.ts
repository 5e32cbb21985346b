// Machine-wide leak check, run at the end of `npm test`: no HA Lab namespace, link, loop device,
// mount, cgroup or process (containerd, shims, containers, a qemu lab's VMs and segment included) may remain once every test has removed its labs. Exits 1 and lists them.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

const left: string[] = [];
const sh = (f: string, a: string[]) => {
  try {
    return execFileSync(f, a, { encoding: 'utf8' });
  } catch {
    return '';
  }
};

for (const l of sh('ip', ['netns', 'list']).split('\n'))
  if (l.startsWith('halab-')) left.push(`network namespace ${l.split(' ')[0]}`);
for (const l of sh('ip', ['-o', 'link', 'show']).split('\n')) {
  const n = l.split(': ')[1]?.split('@')[0] ?? '';
  if (/^hl[0-9a-f]{6}(br|vm|v\d+)$/.test(n)) left.push(`link ${n}`);
}
for (const l of sh('losetup', ['-n', '-O', 'NAME,BACK-FILE', '-l']).split('\n')) {
  if (/\/labs\/[a-z0-9-]+\/disks\/[^/]+\.img/.test(l)) left.push(`loop device ${l.trim()}`);
}
for (const l of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
  const mp = l.split(' ')[4] ?? '';
  if (/\/labs\/[a-z0-9-]+\/ns(\/|$)/.test(mp)) left.push(`mount ${mp}`);
}
const rootNet = readlinkSync('/proc/self/ns/net');
const DAEMONS =
  /^(etcd|haproxy|keepalived|kube-apiserver|kube-controller|kube-scheduler|kubelet|kubemark|kube-proxy|coredns|containerd|containerd-shim|pause|agnhost|sshd|s6-svscan|s6-supervise)$/;
// a kubeadm lab's cgroups (/halab/<lab>/<host>/... in every hierarchy)
for (const h of readdirSync('/sys/fs/cgroup')) {
  try {
    for (const lab of readdirSync(`/sys/fs/cgroup/${h}/halab`)) left.push(`cgroup /sys/fs/cgroup/${h}/halab/${lab}`);
  } catch {
    /* none */
  }
}
for (const e of readdirSync('/proc')) {
  if (!/^\d+$/.test(e)) continue;
  try {
    const comm = readFileSync(`/proc/${e}/comm`, 'utf8').trim();
    const net = readlinkSync(`/proc/${e}/ns/net`);
    const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').replace(/\0/g, ' ');
    const inLab = readFileSync(`/proc/${e}/cgroup`, 'utf8').includes(':/halab/');
    if ((DAEMONS.test(comm) && net !== rootNet) || cmd.includes('/run/halab/service') || inLab)
      left.push(`process ${e} ${comm}`);
    // a qemu lab's VMs: QEMU started on an overlay or socket in a lab's own VM folder
    else if (/qemu-system/.test(cmd) && /\/labs\/[a-z0-9-]+\/vms\//.test(cmd))
      left.push(`process ${e} ${comm} (a lab VM)`);
    // a qemu lab's segment: the socat joining this machine's tap to it
    else if (comm === 'socat' && /tun-name=hl[0-9a-f]{6}vm,/.test(cmd)) left.push(`process ${e} socat (a lab segment)`);
  } catch {
    /* exited */
  }
}
if (left.length) {
  console.error(`LEAK: ${left.length} HA Lab resources are still on this machine:\n  ${left.join('\n  ')}`);
  process.exit(1);
}
console.log('leak check: no HA Lab namespace, link, loop device, mount, process or VM is left');
