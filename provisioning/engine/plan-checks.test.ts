// What the plan refuses beyond the spec's own fields (issue 11, cases 5 and 6): a field the
// bootstrap would ignore, a Kubernetes version that does not exist, a provider not built yet.
import { describe, expect, it } from 'vitest';
import type { LabSpec } from '../api/types.ts';
import type { BinariesAvailability } from '../artifacts/availability.ts';
import { FAST_SPEC_FIELDS } from '../bootstraps/fast/spec-support.ts';
import { DisksSchema, LabSpecInputSchema, SnapshotsSchema, TimersSchema } from '../spec/schema.ts';
import { formatPlan, planPreview } from '../spec/plan.ts';
import { sortIssues } from '../spec/validate.ts';
import { PROVIDERS } from '../providers/index.ts';
import { testSpec } from './fake-lab.testutil.ts';
import { planChecks } from './plan-checks.ts';

const cached = async (version: string): Promise<BinariesAvailability> => ({
  version,
  state: 'cached',
  detail: `Kubernetes ${version}: cached on this machine (8 binaries, checked)`,
});

async function plan(spec: LabSpec, availability = cached) {
  const c = await planChecks(spec, { availability });
  return { ...c, text: formatPlan(planPreview(spec, sortIssues(c.issues), { binaries: c.binaries })) };
}

describe('planChecks', () => {
  it('the reference lab on the fast bootstrap: nothing refused, the binaries said to be cached', async () => {
    const p = await plan(testSpec());
    expect(p.issues).toEqual([]);
    expect(p.text).toContain('  binaries Kubernetes v1.34.4: cached on this machine (8 binaries, checked)');
    expect(p.text).toContain('No problems found.');
  });

  it('refuses a node-status timer the hollow kubelets would ignore, with the reason (case 5)', async () => {
    const s = testSpec();
    const p = await plan({ ...s, timers: { ...s.timers, nodeStatusUpdateFrequencyS: 2, nodeMonitorGracePeriodS: 8 } });
    expect(p.issues).toEqual([
      {
        severity: 'error',
        path: 'timers.nodeStatusUpdateFrequencyS',
        message:
          'nodeStatusUpdateFrequencyS 2 would do nothing with bootstrap fast: its hollow kubelets (kubemark) report their node every 10 s and renew a 40 s node lease every 10 s, and kubemark has no setting to change that',
        fix: 'set timers.nodeStatusUpdateFrequencyS: 10 (with nodeMonitorGracePeriodS of at least 20), or use bootstrap: kubeadm, whose real kubelets take it',
      },
    ]);
    expect(p.text).not.toContain('No problems found.');
    expect(p.text).toContain('Errors (1)');
  });

  it('says v1.99.0 does not exist, and a version that is not cached will be built (case 6)', async () => {
    const missing = async (version: string): Promise<BinariesAvailability> => ({
      version,
      state: 'missing',
      detail: `Kubernetes ${version} does not exist: the Go module proxy (https://proxy.golang.org) has no k8s.io/kubernetes ${version} (not found)`,
    });
    const p = await plan({ ...testSpec(), kubernetesVersion: 'v1.99.0' }, missing);
    expect(p.issues).toMatchObject([{ severity: 'error', path: 'kubernetesVersion' }]);
    expect(p.text).toContain('  binaries Kubernetes v1.99.0 does not exist: the Go module proxy');
    const buildable = async (version: string): Promise<BinariesAvailability> => ({
      version,
      state: 'buildable',
      detail: `Kubernetes ${version}: not cached; the Go module proxy has k8s.io/kubernetes ${version}`,
    });
    const b = await plan({ ...testSpec(), kubernetesVersion: 'v1.34.3' }, buildable);
    expect(b.issues).toMatchObject([{ severity: 'warning', path: 'kubernetesVersion' }]);
  });

  it('refuses a provider that is not available in this version', async () => {
    // every provider of this version is available: mark one unavailable for the test
    const entry = PROVIDERS.find((x) => x.name === 'qemu')!;
    entry.available = false;
    try {
      const p = await plan({ ...testSpec(), provider: 'qemu' });
      expect(p.issues).toMatchObject([
        { severity: 'error', path: 'provider', message: 'provider qemu is not available in this version' },
      ]);
    } finally {
      entry.available = true;
    }
  });

  it('the fast bootstrap says where it applies every field of the spec (the audit of case 5)', () => {
    const fields = [
      ...Object.keys(LabSpecInputSchema.shape).filter((k) => !['disks', 'timers', 'snapshots'].includes(k)),
      ...Object.keys(DisksSchema.shape).map((k) => `disks.${k}`),
      ...Object.keys(TimersSchema.shape).map((k) => `timers.${k}`),
      ...Object.keys(SnapshotsSchema.shape).map((k) => `snapshots.${k}`),
    ];
    expect(Object.keys(FAST_SPEC_FIELDS).sort()).toEqual(fields.sort());
  });
});
