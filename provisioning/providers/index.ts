import type { DoctorCheck, ProviderName } from '../api/types.ts';
import { ExistingProvider } from './existing/index.ts';
import { NetnsProvider } from './netns/index.ts';
import { QemuProvider } from './qemu/index.ts';
import type { NodeProvider } from './types.ts';

const netns = new NetnsProvider();
const qemu = new QemuProvider();
const existing = new ExistingProvider();

/** The provider a spec names. */
export function getProvider(name: ProviderName): NodeProvider {
  switch (name) {
    case 'netns':
      return netns;
    case 'qemu':
      return qemu;
    case 'existing':
      return existing;
  }
}

export const PROVIDERS: { name: ProviderName; title: string; available: boolean }[] = [
  { name: 'netns', title: netns.title, available: true },
  { name: 'qemu', title: qemu.title, available: true },
  { name: 'existing', title: existing.title, available: true },
];

/** Every provider's prerequisites (optional ones only inform). */
export async function providerPreflight(): Promise<DoctorCheck[]> {
  return [...(await netns.preflight()), ...(await qemu.preflight()), ...(await existing.preflight())];
}
