import { cleanup, fireEvent, render, screen } from '@testing-library/svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { MapModel } from '../lib/stores/topology.ts';
import TopologyMap from './TopologyMap.svelte';

const host = (
  name: string,
  role: 'lb' | 'master' | 'worker',
  health: 'healthy' | 'down',
  badges: { text: string; kind: 'vip' | 'leader' }[] = [],
) => ({
  name,
  role,
  address: `10.0.0.${name.length}`,
  health,
  problems: health === 'down' ? ['powered off'] : [],
  badges,
  facts: [],
});

afterEach(() => cleanup());

describe('TopologyMap', () => {
  it('labels every host with its health and badges, shows the VIP holder, reports clicks', async () => {
    const model: MapModel = {
      vip: '10.0.0.10',
      vipHolder: 'lb2',
      vipHolders: ['lb2'],
      splitBrain: false,
      vipText: 'lb2',
      problems: [],
      apiViaVip: true,
      allHealthy: false,
      lbs: [host('lb1', 'lb', 'down'), host('lb2', 'lb', 'healthy', [{ text: 'VIP 10.0.0.10', kind: 'vip' }])],
      masters: [host('m1', 'master', 'healthy', [{ text: 'etcd leader', kind: 'leader' }])],
      workers: [],
    };
    const onSelect = vi.fn();
    render(TopologyMap, { props: { model, onSelect } });
    expect(screen.getByTestId('vip-holder').textContent).toBe('lb2');
    expect(screen.getByRole('button', { name: 'lb1: down — powered off' }).getAttribute('data-health')).toBe('down');
    expect(screen.getByRole('button', { name: 'lb2: healthy, VIP 10.0.0.10' })).toBeTruthy();
    await fireEvent.click(screen.getByRole('button', { name: /^m1: healthy, etcd leader/ }));
    expect(onSelect).toHaveBeenCalledWith('m1');
    expect(screen.queryByRole('group', { name: /Workers/ })).toBeNull();
    expect(screen.queryByTestId('cp-problems')).toBeNull();
  });

  it('says split brain, and lists the control plane problems (issue 11, case 2)', () => {
    const bad = { text: 'VIP 10.0.0.10 (split brain)', kind: 'bad' as const };
    const model: MapModel = {
      vip: '10.0.0.10',
      vipHolders: ['lb1', 'lb2'],
      splitBrain: true,
      vipText: 'lb1 AND lb2 (split brain)',
      problems: ['VIP on lb1 AND lb2 (split brain): the load balancers do not hear each other'],
      apiViaVip: true,
      allHealthy: false,
      lbs: [host('lb1', 'lb', 'healthy'), host('lb2', 'lb', 'healthy')].map((h) => ({ ...h, badges: [bad] })),
      masters: [],
      workers: [],
    };
    render(TopologyMap, { props: { model, onSelect: vi.fn() } });
    expect(screen.getByTestId('vip-holder').textContent).toBe('lb1 AND lb2 (split brain)');
    expect(screen.getByRole('status').getAttribute('aria-label')).toBe('VIP 10.0.0.10 on lb1 AND lb2 (split brain)');
    expect(screen.getByTestId('cp-problems').textContent).toContain('split brain');
  });
});
