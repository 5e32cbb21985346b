// One VM: its files (overlay, data disks, SSH host key), its QEMU command line, its start, and
// SSH readiness (a completed login through the loopback port forward, as itself, with its lab
// address). The QEMU process is started detached (it outlives `halab up`) and found again through
// its recorded pid, checked against its command line, never by a broad name.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import ssh2 from 'ssh2';
import type { HostRole } from '../../api/types.ts';
import { cacheRoot } from '../../artifacts/cache.ts';
import type { LabContext } from '../../engine/context.ts';
import { HalabError } from '../../errors.ts';
import { run } from '../../exec/local.ts';
import { parseSize } from '../../spec/schema.ts';
import { parseCidr } from '../../spec/net.ts';
import { gatewayOf } from '../../spec/plan.ts';
import { poll } from '../../util/poll.ts';
import type { Accelerator } from './accel.ts';

import { imagePaths } from './image.ts';
import { labMac, labSegment, MAX_SOCKET_PATH, vmPaths } from './names.ts';
import { qemuHost, qemuState } from './state.ts';
import { qemuArgs, type VmLaunch } from './argv.ts';

export { qemuArgs, type VmLaunch } from './argv.ts';
export { bootTimeoutMs, waitVmSsh } from './ssh-ready.ts';

export const QEMU_BINARY = 'qemu-system-x86_64';

/** Memory of a VM in MiB: enough for its role's daemons (kubeadm nodes want more under KVM/HVF). */
export function vmMemoryMiB(role: HostRole, accel: Accelerator): number {
  if (role === 'lb') return 512;
  return accel === 'tcg' ? 768 : 2048;
}

/** A free TCP port on 127.0.0.1 (for a VM's SSH forward). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Is `pid` alive and the QEMU of the VM whose QMP socket is `qmp` (its command line names it)? */
export function isVmProcess(pid: number | undefined, qmp: string): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(qmp);
  } catch {
    // no /proc (macOS): ps tells the command line
    try {
      return execFileSync('ps', ['-p', String(pid), '-o', 'command='], { encoding: 'utf8' }).includes(qmp);
    } catch {
      return false;
    }
  }
}

/** Is VM `host`'s QEMU running? */
export function vmRunning(lab: LabContext, host: string): boolean {
  const hs = qemuState(lab.state).hosts[host];
  return isVmProcess(hs?.pid, vmPaths(lab.dir, host).qmp);
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

/** done(): the VM's overlay, host key and planned disks exist. */
export async function vmFilesReady(lab: LabContext, host: string): Promise<boolean> {
  const p = vmPaths(lab.dir, host);
  const hs = qemuState(lab.state).hosts[host];
  if (hs?.files !== 'ready' || !lab.state.hosts[host]?.hostKey) return false;
  for (const f of [p.root, p.hostKey, ...lab.disks(host).map((d) => p.disk(d.name))])
    if (!(await exists(f))) return false;
  return true;
}

/**
 * Make VM `host`'s files: its SSH host key (made here and pinned at once: the VM gets it through
 * fw_cfg), the overlay on the base image, and each planned disk (empty qcow2 of the plan's size,
 * or a seed image as its backing file). Files that exist are kept (a replaced host keeps its
 * disks). Errors: QEMU_IMG with qemu-img's message.
 */
export async function makeVmFiles(lab: LabContext, host: string, log: (m: string) => void): Promise<void> {
  const { state } = lab;
  const spec = state.spec.hosts.find((h) => h.name === host)!;
  const p = vmPaths(lab.dir, host);
  const qs = qemuState(state);
  if (p.qmp.length > MAX_SOCKET_PATH) {
    throw new HalabError('PATH_TOO_LONG', `the VM socket path ${p.qmp} is longer than a unix socket allows`, {
      fix: 'set HALAB_HOME to a shorter directory',
    });
  }
  const hs = qemuHost(state, host);
  await mkdir(p.dir, { recursive: true, mode: 0o700 });
  const hostState = (state.hosts[host] ??= { name: host, role: spec.role, address: spec.address });
  if (!hostState.hostKey || !(await exists(p.hostKey))) {
    const kp = ssh2.utils.generateKeyPairSync('ed25519', { comment: `halab-${state.name}-${host}` });
    await writeFile(p.hostKey, kp.private, { mode: 0o600 });
    await writeFile(`${p.hostKey}.pub`, `${kp.public}\n`, { mode: 0o644 });
    hostState.hostKey = kp.public.trim();
    log(`${host}: host key ${hostState.hostKey.split(' ')[1]?.slice(-12)}`);
  }
  const image = imagePaths(qs.image);
  if (!(await exists(p.root))) {
    await qemuImg(['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', image.root, p.root]);
  }
  for (const d of lab.disks(host)) {
    const file = p.disk(d.name);
    if (await exists(file)) continue;
    const bytes = parseSize(d.size)!;
    if (d.seed) await qemuImg(['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', d.seed, file, String(bytes)]);
    else await qemuImg(['create', '-q', '-f', 'qcow2', file, String(bytes)]);
    log(`${host}: disk ${d.name} (${d.size}${d.seed ? `, from ${d.seed}` : ''})`);
  }
  hs.files = 'ready';
  await lab.save();
}

async function qemuImg(args: string[]): Promise<void> {
  try {
    await run('qemu-img', args, { timeoutMs: 60_000 });
  } catch (err) {
    if (err instanceof HalabError && err.code === 'TOOL_MISSING') throw err;
    const e = err as { stderr?: string; message?: string };
    throw new HalabError('QEMU_IMG', `qemu-img ${args[0]} failed: ${(e.stderr || e.message || '').trim()}`, {
      fix: 'install qemu-utils (apt-get install -y qemu-utils) and check the free space of the lab directory',
    });
  }
}

/** The launch description of VM `host` (its SSH port must be chosen already). */
export function vmLaunch(lab: LabContext, host: string, accel: Accelerator, sshPort: number): VmLaunch {
  const { state } = lab;
  const spec = state.spec.hosts.find((h) => h.name === host)!;
  const p = vmPaths(lab.dir, host);
  const image = imagePaths(qemuState(state).image);
  const cidr = parseCidr(state.spec.subnet)!;
  const cache = cacheRoot();
  return {
    name: host,
    lab: state.name,
    accel,
    memoryMiB: vmMemoryMiB(spec.role, accel),
    cpus: accel === 'tcg' ? 1 : 2,
    kernel: image.kernel,
    initrd: image.initrd,
    hostname: host,
    address: `${spec.address}/${cidr.prefix}`,
    gateway: gatewayOf(state.spec.subnet),
    root: p.root,
    disks: lab.disks(host).map((d) => ({ name: d.name, file: p.disk(d.name) })),
    segment: labSegment(state.tag),
    mac: labMac(state.tag, qemuHost(state, host).index),
    sshPort,
    cacheDir: existsSync(cache) ? cache : undefined,
    hostKey: p.hostKey,
    hostKeyPub: `${p.hostKey}.pub`,
    authorizedKeys: lab.sshKey.publicKeyPath,
    qmp: p.qmp,
    console: p.console,
    pidfile: p.pidfile,
  };
}

/**
 * Power VM `host` on: start its QEMU detached (it keeps running after this process ends), record
 * its pid and SSH port, and wait until its QMP socket answers. The SSH port recorded before is
 * used again when it is free. Errors: QEMU_START with QEMU's own message (e.g. a missing image,
 * a port taken meanwhile: tried 3 times), TOOL_MISSING.
 */
export async function startVm(lab: LabContext, host: string, accel: Accelerator): Promise<void> {
  const { state } = lab;
  const hs = qemuHost(state, host);
  const p = vmPaths(lab.dir, host);
  for (let attempt = 1; ; attempt++) {
    const port = hs.sshPort && attempt === 1 && (await portFree(hs.sshPort)) ? hs.sshPort : await freePort();
    await rm(p.qmp, { force: true });
    await rm(p.pidfile, { force: true });
    const log = await open(p.log, 'w');
    const args = qemuArgs(vmLaunch(lab, host, accel, port));
    const child = spawn(QEMU_BINARY, args, { detached: true, stdio: ['ignore', log.fd, log.fd] });
    const spawned = await new Promise<boolean>((resolve) => {
      child.once('spawn', () => resolve(true));
      child.once('error', () => resolve(false));
    });
    await log.close();
    if (!spawned) {
      throw new HalabError('TOOL_MISSING', `${QEMU_BINARY} is not installed`, {
        fix: 'apt-get install -y qemu-system-x86 qemu-utils (macOS: brew install qemu)',
      });
    }
    child.unref();
    hs.pid = child.pid;
    hs.startedAt = Date.now();
    hs.sshPort = port;
    hs.plugged = true;
    state.hosts[host]!.ssh = { address: '127.0.0.1', port, connectTimeoutMs: accel === 'tcg' ? 30_000 : 10_000 };
    await lab.save();
    const up = await poll({
      what: `${host}'s QEMU to start`,
      check: async () => {
        if (!isVmProcess(child.pid, p.qmp) && child.exitCode !== null) return 'exited';
        return existsSync(p.qmp) ? 'up' : undefined;
      },
      timeoutMs: 20_000,
      intervalMs: 100,
      fix: `see ${p.log}`,
    });
    if (up === 'up') return;
    const why = (await readFile(p.log, 'utf8').catch(() => '')).trim();
    delete hs.pid;
    await lab.save();
    if (/hostfwd|Could not set up host forwarding/i.test(why) && attempt < 3) continue;
    throw new HalabError('QEMU_START', `the VM ${host} did not start: ${why.split('\n').pop() || 'QEMU exited'}`, {
      details: why,
      fix: /kvm|hvf/i.test(why)
        ? 'set HALAB_QEMU_ACCEL=tcg to run without hardware acceleration'
        : `see ${p.log} and \`halab doctor\``,
    });
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
