// Components that run as services of the host's service manager (all of them on the fast path;
// etcd, the snapshot schedule, HAProxy, keepalived and the kubelet on the kubeadm path).
import type { LabContext } from '../engine/context.ts';
import type { Component, ComponentAction } from './types.ts';

const WAIT_MS = 20_000;

export function serviceCommand(
  lab: LabContext,
  host: string,
  c: Component | Component[],
  action: ComponentAction,
): string {
  return lab.services(host).command(c, action, WAIT_MS);
}

export async function serviceControl(lab: LabContext, host: string, c: Component, action: ComponentAction) {
  const s = lab.services(host);
  if (action === 'start') await s.start(c);
  else if (action === 'stop') await s.stop(c, WAIT_MS);
  else await s.kill(c, WAIT_MS);
}

export async function serviceStatus(lab: LabContext, host: string, c: Component) {
  const st = (await lab.services(host).status()).find((s) => s.name === c);
  return { up: !!st?.up, pid: st?.pid };
}
