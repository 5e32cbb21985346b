// The host panel's faults by hand: each button calls the fault or service action, and what it
// did (or that nothing changed) is shown.
import { cleanup, fireEvent, render, screen } from '@testing-library/svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { LabApi } from '../../../provisioning/api/lab-api.ts';
import type { LabStatus } from '../../../provisioning/api/types.ts';
import { app } from '../lib/app.svelte.ts';
import type { MapHost } from '../lib/stores/topology.ts';
import HostDetails from './HostDetails.svelte';

afterEach(() => cleanup());

const status = (over: Partial<LabStatus['hosts'][number]> = {}): LabStatus => ({
  lab: 'lab1',
  phase: 'ready',
  provider: 'netns',
  vip: '10.0.0.10',
  hosts: [
    {
      name: 'm1',
      role: 'master',
      address: '10.0.0.21',
      reachable: true,
      services: [
        { name: 'etcd', up: true, restarts: 0, uptimeS: 30 },
        { name: 'kubelet', up: true, restarts: 0 },
        { name: 'containerd', up: false, restarts: 2 },
        { name: 'sshd', up: true, restarts: 0 },
      ],
      ...over,
    },
  ],
});
const host: MapHost = {
  name: 'm1',
  role: 'master',
  address: '10.0.0.21',
  health: 'healthy',
  problems: [],
  badges: [],
  facts: [],
};

function fakeApi() {
  const fault = vi.fn(async (_l: string, h: string, a: string) => ({ changed: true, message: `${h}: ${a}` }));
  const service = vi.fn(async (_l: string, h: string, n: string, a: string) => ({
    changed: a !== 'start',
    message: a === 'start' ? `${n} on ${h} is already running` : `${n} on ${h}: ${a}`,
  }));
  const api = {
    listLabs: async () => [],
    onEvent: () => () => {},
    status: async () => status(),
    fault,
    service,
  } as unknown as LabApi;
  app.init(api);
  return { fault, service };
}

describe('HostDetails: break it by hand', () => {
  it('powers off, freezes, unplugs through the fault action and says what happened', async () => {
    const f = fakeApi();
    render(HostDetails, { props: { host, status: status(), onClose: () => {} } });
    await fireEvent.click(screen.getByRole('button', { name: 'Power off' }));
    expect(f.fault).toHaveBeenCalledWith('lab1', 'm1', 'power-off');
    expect((await screen.findByRole('status')).textContent).toBe('m1: power-off');
    await fireEvent.click(screen.getByRole('button', { name: 'Unplug' }));
    expect(f.fault).toHaveBeenLastCalledWith('lab1', 'm1', 'unplug');
  });

  it('a powered-off host offers Power on only', async () => {
    const f = fakeApi();
    render(HostDetails, {
      props: { host, status: status({ reachable: false, error: 'powered off', services: [] }), onClose: () => {} },
    });
    expect(screen.queryByRole('button', { name: 'Freeze' })).toBeNull();
    await fireEvent.click(screen.getByRole('button', { name: 'Power on' }));
    expect(f.fault).toHaveBeenCalledWith('lab1', 'm1', 'power-on');
  });

  it('stops, kills and starts components (not sshd), and the static pods a kubeadm master runs', async () => {
    const f = fakeApi();
    render(HostDetails, { props: { host, status: status(), onClose: () => {} } });
    await fireEvent.click(screen.getByRole('button', { name: 'Stop etcd on m1' }));
    expect(f.service).toHaveBeenCalledWith('lab1', 'm1', 'etcd', 'stop');
    await fireEvent.click(screen.getByRole('button', { name: 'Kill kubelet on m1' }));
    expect(f.service).toHaveBeenLastCalledWith('lab1', 'm1', 'kubelet', 'kill');
    await fireEvent.click(screen.getByRole('button', { name: 'Start containerd on m1' }));
    expect((await screen.findByRole('status')).textContent).toBe('containerd on m1 is already running');
    expect(screen.queryByRole('button', { name: /sshd/ })).toBeNull();
    await fireEvent.click(screen.getByRole('button', { name: 'Stop kube-apiserver on m1' }));
    expect(f.service).toHaveBeenLastCalledWith('lab1', 'm1', 'kube-apiserver', 'stop');
  });
});
