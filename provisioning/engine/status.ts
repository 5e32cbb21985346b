// `status`: every host's services, and the cluster once the bootstrap says there is one. A host
// that is off or does not answer is a value in the result, never an exception.
import type { HostStatus, LabStatus } from '../api/types.ts';
import { hostProblem } from '../hosts/host-errors.ts';
import { STATUS_TIMEOUT_MS } from '../hosts/supervisor.ts';
import { withDataLoss } from '../operate/diagnose.ts';
import { controlPlaneStatus } from './cp-status.ts';
import { LabHandle, type LabParts } from './handle.ts';

export async function status(name: string, parts: LabParts = {}): Promise<LabStatus> {
  const lab = await LabHandle.open(name, parts);
  try {
    // the hosts and the cluster at the same time: each opens its SSH connections (pooled by the
    // handle) and waits on the network, so together they take the time of the slowest, not the sum
    // (a stopped lab has nothing to ask: every host is off)
    const cluster =
      lab.bootstrap.hasControlPlane(lab.state) && lab.state.phase !== 'stopped'
        ? controlPlaneStatus(lab).then((cp) => withDataLoss(lab, cp))
        : undefined;
    const hostList: Promise<HostStatus[]> = Promise.all(
      lab.state.spec.hosts.map(async (h) => {
        const base: HostStatus = { name: h.name, role: h.role, address: h.address, reachable: false, services: [] };
        if (!(await lab.provider.isPoweredOn(lab, h.name))) return { ...base, error: 'powered off' };
        try {
          return { ...base, reachable: true, services: await lab.services(h.name).status() };
        } catch (err) {
          // it may have been powered off while we asked (a drill, another window): say so
          if (!(await lab.provider.isPoweredOn(lab, h.name).catch(() => true)))
            return { ...base, error: 'powered off' };
          return {
            ...base,
            error: hostProblem(h.name, err, { timeoutMs: STATUS_TIMEOUT_MS, what: 'reading its services' }),
          };
        }
      }),
    );
    const [hosts, controlPlane] = await Promise.all([hostList, cluster]);
    return {
      lab: name,
      phase: lab.state.phase,
      provider: lab.state.spec.provider,
      vip: lab.state.spec.vip,
      hosts,
      controlPlane,
    };
  } finally {
    await lab.close();
  }
}
