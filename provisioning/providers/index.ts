import type { ProviderName } from '../api/types.ts';
import { HalabError } from '../errors.ts';
import { NetnsProvider } from './netns/netns.ts';
import type { NodeProvider } from './types.ts';

const netns = new NetnsProvider();

export function getProvider(name: ProviderName): NodeProvider {
  switch (name) {
    case 'netns':
      return netns;
    case 'qemu':
      throw new HalabError('PROVIDER_UNAVAILABLE', 'the qemu provider is not available in this version', {
        fix: 'use `provider: netns` (the default) in the lab spec',
      });
  }
}

export const PROVIDERS: { name: ProviderName; title: string; available: boolean }[] = [
  { name: 'netns', title: 'Linux network namespaces (embedded, no VM engine)', available: true },
  { name: 'qemu', title: 'QEMU virtual machines (KVM / HVF / TCG)', available: false },
];
