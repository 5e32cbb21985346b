// A VM is ready when a login over SSH completes, as itself, with its lab address: the boot
// timeout for each accelerator and the wait.

import { readFileSync } from 'node:fs';

import type { LabContext } from '../../engine/context.ts';
import { HalabError } from '../../errors.ts';

import { poll, sleep } from '../../util/poll.ts';
import { type Accelerator } from './accel.ts';
import { LAB_NIC } from './image-files.ts';

import { vmPaths } from './names.ts';

import { vmRunning } from './vm.ts';

/**
 * How long a VM may take from power-on to a completed SSH login. Under TCG the boot is CPU-bound:
 * 3 VMs booting together took 97-165 s here, and 330 s (two of them over 300 s) while other labs
 * loaded the 2 cores (load average 15-20).
 */
export function bootTimeoutMs(accel: Accelerator): number {
  return accel === 'tcg' ? 600_000 : 120_000;
}

/**
 * Wait until VM `host` answers over SSH (the pooled ssh2 connection, its pinned host key) as
 * itself with its lab address on eth0: readiness is a completed login, never an open TCP port
 * (QEMU's forward accepts connections long before sshd runs). Errors: TIMEOUT with the end of
 * the console log; VM_DIED when QEMU exits meanwhile; HOST_KEY_MISMATCH / HOST_MISMATCH at once.
 */
export async function waitVmSsh(
  lab: LabContext,
  host: string,
  accel: Accelerator,
  signal?: AbortSignal,
): Promise<void> {
  const spec = lab.state.spec.hosts.find((h) => h.name === host)!;
  const p = vmPaths(lab.dir, host);
  let fatal: unknown;
  let last = '';
  await poll({
    what: `${host} reachable over SSH`,
    check: async () => {
      if (!vmRunning(lab, host)) {
        fatal = new HalabError('VM_DIED', `the VM ${host} stopped while booting`, {
          details: await tail(p.console, 15),
          fix: `see ${p.console} and ${p.log}`,
        });
        return true;
      }
      try {
        const r = await lab.remote(host).exec(`hostname; ip -o -4 addr show dev ${LAB_NIC}`, { timeoutMs: 20_000 });
        const [name, addr] = r.stdout.split('\n');
        if (name?.trim() !== host)
          throw new HalabError('HOST_MISMATCH', `the VM ${host} answered as "${name}"`, { fix: `see ${p.console}` });
        if (!addr?.includes(` ${spec.address}/`)) {
          last = `${host} has no address ${spec.address} on ${LAB_NIC} yet`;
          return false;
        }
        return true;
      } catch (err) {
        if (err instanceof HalabError && (err.code === 'HOST_KEY_MISMATCH' || err.code === 'HOST_MISMATCH')) {
          fatal = err;
          return true;
        }
        last = (err as Error).message;
        await sleep(1000, signal);
        return false;
      }
    },
    timeoutMs: bootTimeoutMs(accel),
    intervalMs: 1000,
    signal,
    detail: () => `${last}\nconsole (${p.console}):\n${readTailSync(p.console, 8)}`,
    fix: `see the VM's console log ${p.console}`,
  });
  if (fatal) throw fatal;
}

function readTailSync(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(none)';
  }
}

async function tail(file: string, lines: number): Promise<string> {
  return readTailSync(file, lines);
}
