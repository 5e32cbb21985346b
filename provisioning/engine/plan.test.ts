import { describe, expect, it } from 'vitest';
import { fastBootstrap } from '../bootstraps/fast/index.ts';
import { FakeProvider } from '../providers/fake.testutil.ts';
import { testSpec } from './fake-lab.testutil.ts';
import { labPlan, labPlanThrough } from './plan.ts';

describe('labPlanThrough', () => {
  const spec = testSpec({ name: 'pt1' });
  const o = { provider: new FakeProvider(), bootstrap: fastBootstrap };

  it("is the lab's plan cut after the named step, in the plan's order", () => {
    const all = labPlan(spec, o).map((s) => s.id);
    const cut = labPlanThrough(spec, 'lb:ready', o).map((s) => s.id);
    expect(cut.at(-1)).toBe('lb:ready');
    expect(cut).toEqual(all.slice(0, all.indexOf('lb:ready') + 1));
    expect(cut.length).toBeLessThan(all.length);
  });

  it('refuses a step the plan does not have, naming the steps it has', () => {
    expect(() => labPlanThrough(spec, 'no:such-step', o)).toThrow(/no no:such-step step in the plan: lab:key, /);
  });
});
