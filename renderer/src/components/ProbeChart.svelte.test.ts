import { cleanup, render, screen } from '@testing-library/svelte';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProbeSample } from '../../../provisioning/api/drills.ts';
import ProbeChart from './ProbeChart.svelte';

const T = 1_700_000_000_000;
const s = (i: number, ok: boolean | null, kind: 'read' | 'write' = 'read'): ProbeSample => ({
  t: T + i * 100,
  kind,
  op: 'GET /readyz',
  ok,
  latencyMs: ok ? 4 : 1000,
});

afterEach(() => cleanup());

describe('ProbeChart', () => {
  it('draws the outage of the failover and says how long it was', () => {
    const samples = [...Array(10).keys()]
      .map((i) => s(i, true))
      .concat(
        [10, 11, 12].map((i) => s(i, false)),
        [13, 14, 15].map((i) => s(i, true)),
        [s(0, true, 'write')],
      );
    render(ProbeChart, { props: { samples, marks: [{ t: T + 1000, label: 'lb1 powered off', kind: 'fault' }] } });
    const outages = screen.getAllByTestId('outage');
    expect(outages).toHaveLength(1);
    expect(outages[0]!.getAttribute('aria-label')).toBe('read outage 0.3 s, 3 failed requests');
    expect(screen.getByText('lb1 powered off')).toBeTruthy();
    expect(screen.getByRole('status', { name: 'Probe summary' }).textContent).toContain(
      'reads: 16 requests, 3 failed, 0 timed out, longest outage 0.3 s',
    );
    expect(screen.getByRole('img', { name: /Probe through the VIP\. reads: 16 requests/ })).toBeTruthy();
  });

  it('no failures, no outage', () => {
    render(ProbeChart, { props: { samples: [s(0, true), s(1, true)] } });
    expect(screen.queryAllByTestId('outage')).toHaveLength(0);
  });
});
