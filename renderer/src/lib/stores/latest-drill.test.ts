import { describe, expect, it } from 'vitest';
import { initialEvents, latestDrill, reduceAll } from './events.ts';

describe('latestDrill', () => {
  it('tells a watch from the drills', () => {
    const s = reduceAll(initialEvents(), [
      { type: 'drill:start', runId: 'd1', drill: 'lb-failover', lab: 'l', predictions: [], steps: [], at: 1 },
      { type: 'drill:start', runId: 'w1', drill: 'watch', lab: 'l', predictions: [], steps: [], at: 2 },
    ]);
    expect(latestDrill(s, 'l')?.runId).toBe('w1');
    expect(latestDrill(s, 'l', { except: 'watch' })?.runId).toBe('d1');
    expect(latestDrill(s, 'l', { only: 'watch' })?.runId).toBe('w1');
    expect(latestDrill(s, 'other')).toBeUndefined();
  });
});
