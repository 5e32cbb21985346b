import { describe, expect, it } from 'vitest';
import { listDrills } from '../drills/index.ts';
import { DrillName } from './drills.ts';

describe('DrillName', () => {
  it('accepts every drill of the catalogue, and the ones planned next', () => {
    const names = listDrills().map((d) => d.name);
    expect(names).toContain('master-down');
    for (const n of [...names, 'lb-no-backends', 'split-brain', 'frozen-master', 'partition'])
      expect(DrillName.safeParse(n).success, n).toBe(true);
  });

  it('refuses what is not kebab-case: capitals, underscores, spaces, dashes at the ends or doubled, paths, digits first', () => {
    for (const n of [
      '',
      'Master-Down',
      'master_down',
      'master down',
      '-down',
      'down-',
      'master--down',
      '../etc',
      'lb/failover',
      '1-down',
      'é-down',
      'a'.repeat(41),
    ])
      expect(DrillName.safeParse(n).success, JSON.stringify(n)).toBe(false);
    expect(DrillName.safeParse('a'.repeat(40)).success).toBe(true);
    expect(DrillName.safeParse(42).success).toBe(false);
  });
});
