// Power actions on a VM, all through QMP: off is a power cut (`quit`: QEMU ends at once, the guest
// flushes nothing), on starts QEMU again on the same overlay and disks, freeze/thaw are `stop` and
// `cont` (every vCPU paused; the guest clock is set again after a thaw), the cable is `set_link`
// on the lab NIC (the guest keeps its address: its network config ignores carrier loss). A clean
// shutdown (`system_powerdown`, ACPI) is what `halab stop` does.
import type { LabContext } from '../../engine/context.ts';
import { HalabError } from '../../errors.ts';
import { poll } from '../../util/poll.ts';
import type { HostPowerState, PowerAction } from '../types.ts';
import { detectAccelerator, type Accelerator } from './accel.ts';
import { vmPaths } from './names.ts';
import { qmpCommand, qmpStatus, type QmpOptions } from './qmp.ts';
import { qemuState } from './state.ts';
import { isVmProcess, startVm, vmRunning, waitVmSsh } from './vm.ts';

/** The accelerator of a lab: the one it was made with, unless it is no longer available here. */
export function labAccel(lab: LabContext): Accelerator {
  const qs = qemuState(lab.state);
  const now = detectAccelerator();
  if (!qs.accel || (qs.accel !== 'tcg' && now.accel !== qs.accel)) qs.accel = now.accel;
  return qs.accel;
}

/** Wait until the recorded QEMU of `host` has exited (ms). */
async function waitExit(lab: LabContext, host: string, timeoutMs: number): Promise<boolean> {
  const pid = qemuState(lab.state).hosts[host]?.pid;
  const qmp = vmPaths(lab.dir, host).qmp;
  return poll({
    what: `${host}'s QEMU to exit`,
    check: () => !isVmProcess(pid, qmp),
    timeoutMs,
    intervalMs: 50,
  }).then(
    () => true,
    () => false,
  );
}

/**
 * Power VM `host` off at once (QMP quit; SIGKILL to its verified pid when QMP does not answer),
 * and forget its process. Its files stay.
 */
export async function powerCut(lab: LabContext, host: string, o: QmpOptions = {}): Promise<void> {
  const hs = qemuState(lab.state).hosts[host];
  const p = vmPaths(lab.dir, host);
  if (hs && isVmProcess(hs.pid, p.qmp)) {
    await qmpCommand(p.qmp, 'quit', undefined, { timeoutMs: 5000, ...o }).catch(() => undefined);
    if (!(await waitExit(lab, host, 5000)) && isVmProcess(hs.pid, p.qmp)) {
      process.kill(hs.pid!, 'SIGKILL');
      await waitExit(lab, host, 5000);
    }
  }
  if (hs) delete hs.pid;
  await lab.remote(host).close();
}

/**
 * Shut VM `host` down cleanly (ACPI power button: the guest stops its services and syncs its
 * disks), waiting up to `timeoutMs`; a guest that does not finish by then is powered off.
 * Returns whether the shutdown was clean.
 */
export async function shutdownVm(lab: LabContext, host: string, timeoutMs = 90_000): Promise<boolean> {
  const hs = qemuState(lab.state).hosts[host];
  const p = vmPaths(lab.dir, host);
  if (!hs || !isVmProcess(hs.pid, p.qmp)) return true;
  await lab.remote(host).close();
  // a frozen guest cannot hear the power button
  await qmpCommand(p.qmp, 'cont').catch(() => undefined);
  await qmpCommand(p.qmp, 'system_powerdown').catch(() => undefined);
  const clean = await waitExit(lab, host, timeoutMs);
  if (!clean) await powerCut(lab, host);
  delete hs.pid;
  return clean;
}

/** Put the guest's clock right after a freeze (its clock stood still meanwhile). */
async function setGuestClock(lab: LabContext, host: string): Promise<void> {
  await lab
    .remote(host)
    .exec(`date -s @${(Date.now() / 1000).toFixed(3)} >/dev/null`, { timeoutMs: 15_000, allowFail: true })
    .catch(() => undefined);
}

/** One power action on VM `host` (see the file comment). Errors: NO_HOST, QMP_* (the VM is not running). */
export async function power(lab: LabContext, host: string, action: PowerAction): Promise<void> {
  const { state } = lab;
  if (!state.spec.hosts.some((h) => h.name === host)) {
    throw new HalabError('NO_HOST', `lab ${state.name} has no host ${host}`);
  }
  const hs = qemuState(state).hosts[host];
  const qmp = vmPaths(lab.dir, host).qmp;
  switch (action) {
    case 'off':
      await powerCut(lab, host);
      await lab.save();
      return;
    case 'on': {
      if (vmRunning(lab, host)) return;
      const accel = labAccel(lab);
      await startVm(lab, host, accel);
      await lab.remote(host).close();
      await waitVmSsh(lab, host, accel);
      return;
    }
    case 'freeze':
      await qmpCommand(qmp, 'stop');
      return;
    case 'thaw':
      await qmpCommand(qmp, 'cont');
      await setGuestClock(lab, host);
      return;
    case 'link-down':
    case 'link-up':
      await qmpCommand(qmp, 'set_link', { name: 'lab', up: action === 'link-up' });
      if (hs) hs.plugged = action === 'link-up';
      await lab.save();
      return;
  }
}

/** Power, freeze and cable of VM `host` as they are now (QMP query-status for the freeze). */
export async function vmHostState(lab: LabContext, host: string): Promise<HostPowerState> {
  const on = vmRunning(lab, host);
  const hs = qemuState(lab.state).hosts[host];
  let frozen = false;
  if (on) frozen = (await qmpStatus(vmPaths(lab.dir, host).qmp).catch(() => 'running')) === 'paused';
  return { on, frozen, plugged: hs?.plugged ?? true };
}
