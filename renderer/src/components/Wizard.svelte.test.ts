// The create-lab wizard as a user sees it (jsdom): instant local validation, live validation by
// the machine (checkSpec), the plan and quorum table, Create only when valid.
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { LabApi, SpecCheck, WizardInput } from '../../../provisioning/api/lab-api.ts';
import { app } from '../lib/app.svelte.ts';
import Wizard from './Wizard.svelte';

const table = [1, 2, 3, 4, 5, 6, 7].map((n) => ({
  members: n,
  majority: Math.floor(n / 2) + 1,
  tolerated: Math.floor((n - 1) / 2),
}));

function fakeApi(over: Partial<LabApi> = {}) {
  const checkSpec = vi.fn(async (input: WizardInput | { spec: unknown }): Promise<SpecCheck> => {
    const w = input as WizardInput;
    const hosts = [...Array(w.lbs).keys()].map((i) => ({
      name: `lb${i + 1}`,
      role: 'lb' as const,
      address: `10.0.0.${11 + i}`,
      disks: [],
      ports: [],
    }));
    const plan = {
      lab: w.name,
      provider: 'netns' as const,
      subnet: w.subnet,
      vip: '10.0.0.10',
      gateway: '10.0.0.1',
      hosts,
      quorum: table[w.masters - 1] ?? { members: 0, majority: 1, tolerated: 0 },
      quorumTable: table,
      timers: {} as never,
      issues: [],
    };
    if (w.subnet === '10.213.0.0/24') {
      const issues = [
        {
          severity: 'error' as const,
          path: 'subnet',
          message: 'subnet 10.213.0.0/24 overlaps address 10.213.0.1/24 on hl1234',
          fix: 'use 10.213.1.0/24, which is free',
        },
      ];
      return { issues, plan: { ...plan, issues } };
    }
    return { spec: { name: w.name } as never, issues: [], plan };
  });
  const up = vi.fn(async (input: WizardInput | { spec: unknown }) => ({
    runId: 'r1',
    lab: (input as WizardInput).name,
  }));
  const api = { listLabs: async () => [], onEvent: () => () => {}, checkSpec, up, ...over } as unknown as LabApi;
  return { api, checkSpec, up };
}

describe('Wizard', () => {
  beforeEach(() => {
    app.screen = 'labs';
  });
  afterEach(() => cleanup());

  it("validates as you type, shows the machine's verdict next to the field, and creates only when valid", async () => {
    const f = fakeApi();
    app.init(f.api);
    render(Wizard, { props: { debounceMs: 0 } });
    const create = screen.getByRole('button', { name: 'Create lab' });
    const name = screen.getByLabelText('Lab name');
    const subnet = screen.getByLabelText('Subnet');

    // the default subnet is taken on this machine: the server says so under the subnet field
    await screen.findByText(/overlaps address 10.213.0.1\/24/);
    expect(subnet.getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByText(/use 10.213.1.0\/24, which is free/)).toBeTruthy();
    expect((create as HTMLButtonElement).disabled).toBe(true);

    // a bad name is flagged at once, without asking the machine
    await fireEvent.input(name, { target: { value: 'Lab_1' } });
    expect(await screen.findByText(/"Lab_1" is not a DNS label/)).toBeTruthy();
    expect(name.getAttribute('aria-invalid')).toBe('true');

    await fireEvent.input(name, { target: { value: 'lab7' } });
    await fireEvent.input(subnet, { target: { value: '10.213.7.0/24' } });
    await screen.findByText('Valid: ready to create');
    await waitFor(() => expect((create as HTMLButtonElement).disabled).toBe(false));
    expect(f.checkSpec).toHaveBeenLastCalledWith({
      name: 'lab7',
      subnet: '10.213.7.0/24',
      lbs: 2,
      masters: 3,
      workers: 2,
      apiserverEtcd: 'all',
      bootstrap: 'kubeadm',
      timers: {},
      snapshots: { intervalS: 60, retain: 5 },
    });

    // the etcd topology is a labelled choice that reaches the check
    const topo = screen.getByLabelText('Each apiserver talks to') as HTMLSelectElement;
    await fireEvent.change(topo, { target: { value: 'local' } });
    await waitFor(() =>
      expect(f.checkSpec).toHaveBeenLastCalledWith(expect.objectContaining({ apiserverEtcd: 'local' })),
    );
    await waitFor(() => expect((create as HTMLButtonElement).disabled).toBe(false));

    await fireEvent.click(create);
    await waitFor(() => expect(f.up).toHaveBeenCalledTimes(1));
    expect(f.up.mock.calls[0]![0]).toMatchObject({ name: 'lab7', subnet: '10.213.7.0/24' });
    await waitFor(() => expect(app.screen).toBe('provisioning'));
    expect(app.lab).toBe('lab7');
  });

  it('shows the plan and the quorum table with the chosen size highlighted', async () => {
    const f = fakeApi();
    app.init(f.api);
    render(Wizard, { props: { debounceMs: 0 } });
    await fireEvent.input(screen.getByLabelText('Subnet'), { target: { value: '10.213.7.0/24' } });
    await fireEvent.input(screen.getByLabelText('Masters'), { target: { value: '5' } });
    await screen.findByText(/majority/, { selector: 'p' });
    const q = screen.getByRole('table', { name: 'Quorum table' });
    const current = q.querySelector('tr[aria-current="true"]');
    expect([...(current?.querySelectorAll('td') ?? [])].map((td) => td.textContent)).toEqual(['5', '3', '2']);
    expect(screen.getByRole('table', { name: 'Planned hosts' })).toBeTruthy();
  });

  it('a count out of range is an error and nothing is sent for it', async () => {
    const f = fakeApi();
    app.init(f.api);
    render(Wizard, { props: { debounceMs: 0 } });
    await waitFor(() => expect(f.checkSpec).toHaveBeenCalled());
    await new Promise((r) => setTimeout(r, 50));
    const n = f.checkSpec.mock.calls.length;
    await fireEvent.input(screen.getByLabelText('Load balancers'), { target: { value: '11' } });
    expect(await screen.findByText(/not a whole number from 0 to 10/)).toBeTruthy();
    await new Promise((r) => setTimeout(r, 20));
    expect(f.checkSpec.mock.calls.length).toBe(n);
    expect((screen.getByRole('button', { name: 'Create lab' }) as HTMLButtonElement).disabled).toBe(true);
  });
});
