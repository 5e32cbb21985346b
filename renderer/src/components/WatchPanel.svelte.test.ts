// The lab view's live probe: start and stop the watch, the chart of its samples, every action
// done by hand listed and marked.
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { LabApi, LabEvent } from '../../../provisioning/api/lab-api.ts';
import { app } from '../lib/app.svelte.ts';
import WatchPanel from './WatchPanel.svelte';

afterEach(() => cleanup());

const T = 1_800_000_000_000;

describe('WatchPanel', () => {
  it('starts a watch, draws its samples with the manual fault, stops it', async () => {
    let push: (e: LabEvent) => void = () => {};
    const startWatch = vi.fn(async () => {
      queueMicrotask(() => {
        push({ type: 'drill:start', runId: 'w1', drill: 'watch', lab: 'lab1', predictions: [], steps: [], at: T });
        push({
          type: 'drill:samples',
          runId: 'w1',
          samples: [0, 1, 2, 3].map((i) => ({
            t: T + i * 100,
            kind: 'read',
            op: 'GET /readyz',
            ok: i !== 2,
            latencyMs: 5,
          })),
        });
        push({ type: 'drill:mark', runId: 'w1', mark: { t: T + 150, label: 'lb1: power-off', kind: 'fault' } });
      });
      return { runId: 'w1' };
    });
    const stopWatch = vi.fn(async () => {});
    app.init({
      listLabs: async () => [],
      onEvent: (cb: (e: LabEvent) => void) => {
        push = cb;
        return () => {};
      },
      startWatch,
      stopWatch,
    } as unknown as LabApi);
    render(WatchPanel, { props: { lab: 'lab1' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Start watching' }));
    expect(startWatch).toHaveBeenCalledWith('lab1');
    await waitFor(() =>
      expect(screen.getByRole('list', { name: 'Done by hand' }).textContent).toContain('lb1: power-off'),
    );
    expect(screen.getByRole('status', { name: 'Probe summary' }).textContent).toContain('reads: 4 requests, 1 failed');
    await fireEvent.click(screen.getByRole('button', { name: 'Stop and write the report' }));
    expect(stopWatch).toHaveBeenCalledWith('w1');
  });
});
