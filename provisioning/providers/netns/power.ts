// Booting a host (s6-svscan as PID 1 of a new PID namespace) and its power actions: off kills
// that PID 1 (every process of the host dies at once, like a pulled cord), freeze/thaw stop and
// continue every process, the cable is the machine's end of the host's veth.
import { open } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { LabState } from '../../api/types.ts';
import type { LabContext } from '../../engine/context.ts';
import type { StepTools } from '../../engine/runner.ts';
import { HalabError } from '../../errors.ts';
import { BOOT_SCRIPT } from '../../hosts/supervisor.ts';
import { poll } from '../../util/poll.ts';
import type { PowerAction } from '../types.ts';
import { netnsPaths, nsName } from './names.ts';
import { resetAddresses, setCable } from './network.ts';
import { childPids, nsInode, pidsInNamespace, procAlive, readFileSafe, withDescendants } from './proc.ts';
import { netnsHost } from './state.ts';

/** Is host `h`'s recorded PID 1 alive and still in the host's network namespace? */
export function booted(state: LabState, h: string): boolean {
  const hs = netnsHost(state, h);
  return procAlive(hs.initPid) && nsInode(hs.initPid!, 'net') === hs.netnsInode;
}

/** Start the host's PID 1 in the background, detached from us; records its pids. */
export async function boot(lab: LabContext, h: string, t: Pick<StepTools, 'log' | 'signal'>): Promise<void> {
  const { state } = lab;
  const p = netnsPaths(lab.dir);
  const console = await open(join(p.host(h), 'console.log'), 'a');
  const child = spawn(
    'nsenter',
    [
      `--net=/run/netns/${nsName(state.name, h)}`,
      `--mount=${p.mnt(h)}`,
      `--uts=${p.uts(h)}`,
      '--',
      'unshare',
      '--pid',
      '--fork',
      '--kill-child=SIGKILL',
      '--',
      '/bin/sh',
      BOOT_SCRIPT,
    ],
    { detached: true, stdio: ['ignore', console.fd, console.fd] },
  );
  child.unref();
  await console.close();
  const launcher = child.pid!;
  // PID 1 of the host is the launcher's only child
  const init = await poll({
    what: `host ${h} to boot`,
    check: () => {
      const pid = childPids(launcher)[0] ?? 0;
      return pid > 0 && readFileSafe(`/proc/${pid}/comm`).trim() === 's6-svscan' ? pid : undefined;
    },
    timeoutMs: 10_000,
    intervalMs: 50,
    signal: t.signal,
    fix: `see ${join(p.host(h), 'console.log')}`,
  });
  const hs = netnsHost(state, h);
  hs.launcherPid = launcher;
  hs.initPid = init;
  hs.pidnsInode = nsInode(init, 'pid');
  t.log(`booted (PID 1 = s6-svscan, pid ${init} on this machine)`, { host: h });
}

/** Wait until host `h` answers over SSH as itself, with its address (readiness = a login). */
export async function waitSsh(lab: LabContext, h: string, signal?: AbortSignal): Promise<void> {
  const host = lab.state.spec.hosts.find((x) => x.name === h)!;
  let fatal: unknown;
  await poll({
    what: `${h} reachable over SSH`,
    check: async () => {
      try {
        const r = await lab.remote(h).exec(`hostname; ip -o -4 addr show dev eth0`, { timeoutMs: 10_000 });
        const [name, addr] = r.stdout.split('\n');
        if (name?.trim() !== h)
          throw new HalabError('HOST_MISMATCH', `${host.address} answered as "${name}", expected ${h}`);
        if (!addr?.includes(` ${host.address}/`))
          throw new HalabError('HOST_MISMATCH', `${h} does not have address ${host.address}`);
        return true;
      } catch (err) {
        if (err instanceof HalabError && (err.code === 'HOST_KEY_MISMATCH' || err.code === 'HOST_MISMATCH')) {
          fatal = err;
          return true;
        }
        throw err;
      }
    },
    timeoutMs: 20_000,
    intervalMs: 100,
    signal,
    fix: `see the host's console: ${join(netnsPaths(lab.dir).host(h), 'console.log')}`,
  });
  if (fatal) throw fatal;
}

/**
 * Is host `h` frozen: every process of it stopped (state T, what `freeze` leaves)? Its
 * containers' processes are below it and stopped with it; the host's own are enough to tell.
 */
export function hostFrozen(state: LabState, h: string): boolean {
  const pids = hostProcesses(state, h);
  return pids.length > 0 && pids.every((pid) => /^State:\s+T/m.test(readFileSafe(`/proc/${pid}/status`)));
}

/** Every live process of the host (its PID namespace). */
function hostProcesses(state: LabState, h: string): number[] {
  const inode = netnsHost(state, h).pidnsInode;
  return inode ? pidsInNamespace('pid', inode) : [];
}

/** One power action on one host (see the file's header). */
export async function power(lab: LabContext, host: string, action: PowerAction): Promise<void> {
  const { state } = lab;
  if (!state.hosts[host] && !state.spec.hosts.some((h) => h.name === host)) {
    throw new HalabError('NO_HOST', `lab ${state.name} has no host ${host}`);
  }
  const hs = netnsHost(state, host);
  switch (action) {
    case 'off': {
      // the cable goes first: a powered-off host answers nothing, not even ARP for its
      // addresses (the namespace's kernel stack would otherwise keep answering)
      await setCable(state, host, false);
      if (!booted(state, host)) return;
      // SIGKILL to a PID namespace's PID 1 kills every process in it at once: the power cord
      process.kill(hs.initPid!, 'SIGKILL');
      await poll({
        what: `${host} to power off`,
        check: () => hostProcesses(state, host).length === 0,
        timeoutMs: 10_000,
        intervalMs: 50,
      });
      await resetAddresses(state, host);
      await lab.remote(host).close();
      return;
    }
    case 'on': {
      await setCable(state, host, true);
      if (booted(state, host)) return;
      await boot(lab, host, { signal: new AbortController().signal, log: () => {} });
      await lab.save();
      await waitSsh(lab, host);
      return;
    }
    case 'freeze':
    case 'thaw': {
      const sig = action === 'freeze' ? 'SIGSTOP' : 'SIGCONT';
      // every process of the host, its containers' too (they have PID namespaces of their own)
      for (const pid of withDescendants(hostProcesses(state, host))) {
        try {
          process.kill(pid, sig);
        } catch {
          /* exited meanwhile */
        }
      }
      return;
    }
    case 'link-down':
    case 'link-up':
      await setCable(state, host, action === 'link-up');
      return;
  }
}
