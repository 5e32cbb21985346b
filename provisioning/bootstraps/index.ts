import type { BootstrapMode, DoctorCheck } from '../api/types.ts';
import { fastBootstrap } from './fast/index.ts';
import { kubeadmBootstrap } from './kubeadm/index.ts';
import type { Bootstrap } from './types.ts';

export type { Bootstrap, BootstrapOptions, Component, ComponentAction } from './types.ts';

const BOOTSTRAPS: Record<BootstrapMode, Bootstrap> = { fast: fastBootstrap, kubeadm: kubeadmBootstrap };

/** The bootstrap a spec names. */
export function getBootstrap(name: BootstrapMode): Bootstrap {
  return BOOTSTRAPS[name];
}

/** Every bootstrap's prerequisites on this machine. */
export async function bootstrapPreflight(): Promise<DoctorCheck[]> {
  const all = await Promise.all(Object.values(BOOTSTRAPS).map((b) => b.preflight()));
  const seen = new Set<string>();
  return all.flat().filter((c) => !seen.has(c.id) && seen.add(c.id));
}
