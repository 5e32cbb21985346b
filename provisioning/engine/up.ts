// `up`: create a lab, or finish creating it. Every step looks at reality first, so a run after a
// crash or Ctrl-C resumes, and a run on a ready lab changes nothing.
import type { LabSpec, LabState } from '../api/types.ts';
import { HalabError } from '../errors.ts';
import { getProvider } from '../providers/index.ts';
import { acquireLock, labDir, labTag, readState } from '../state/store.ts';
import type { LabContext } from './context.ts';
import { diagnoseDataLoss, etcdDataCheck } from '../operate/diagnose.ts';
import { withNewMembers } from '../operate/etcd-join.ts';
import { etcdEndpointsStatus } from '../steps/etcd/etcdctl.ts';
import { removeLab } from './down.ts';
import { LabHandle, type LabParts } from './handle.ts';
import { labPlan } from './plan.ts';
import { runSteps, type Emit, type RunResult, type Step } from './runner.ts';

export interface UpOptions extends LabParts {
  emit: Emit;
  signal?: AbortSignal;
  /** Keep a half-built lab after a failure (default: tear it down). */
  keepOnFailure?: boolean;
  /** Create the hosts only (no Kubernetes): for debugging and for the provider's own tests. */
  hostsOnly?: boolean;
  /** The steps to run (default: labPlan(spec)): a test builds only part of a lab this way. */
  plan?: Step<LabContext>[];
}

function sameSpec(a: LabSpec, b: LabSpec): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Create the lab, or finish creating it. `spec` must be validated. Errors (thrown before anything
 * changes): PREREQUISITES, LAB_EXISTS (another spec under that name), LOCKED. A failed step is
 * returned (ok: false): a lab this run created from nothing is then removed (unless
 * keepOnFailure); a lab that existed before is never removed (it is marked failed and kept with
 * everything on it); a cancelled run leaves the lab "interrupted" for the next `up` to resume.
 */
export async function up(spec: LabSpec, o: UpOptions): Promise<RunResult> {
  const provider = o.provider ?? getProvider(spec.provider);
  const missing = (await provider.preflight()).filter((c) => c.required && !c.ok);
  if (missing.length) {
    throw new HalabError('PREREQUISITES', `missing prerequisites: ${missing.map((c) => c.title).join(', ')}`, {
      fix: missing
        .map((c) => c.fix)
        .filter(Boolean)
        .join('; '),
    });
  }
  const existing = await readState(spec.name);
  if (existing && !sameSpec(existing.spec, spec)) {
    throw new HalabError('LAB_EXISTS', `lab ${spec.name} already exists with a different spec`, {
      fix: `run \`halab down ${spec.name}\` first, or give this spec another name; \`halab start ${spec.name}\` finishes or repairs it with the spec it has (also after \`halab add\`, \`remove\` or \`replace\` changed it)`,
    });
  }
  // an existing lab is first checked for what no step repairs (a member that lost its data): up
  // stops there, with the fix, instead of waiting for an etcd that cannot become healthy
  // (and a master the spec has that the running etcd cluster does not know joins it: an
  // interrupted `halab add master`)
  const plan = labPlan(spec, { hostsOnly: o.hostsOnly, provider, bootstrap: o.bootstrap });
  const steps = o.plan ?? (existing && !o.hostsOnly ? [etcdDataCheck, ...withNewMembers(plan)] : plan);
  const release = await acquireLock(spec.name, 'up');
  const now = new Date().toISOString();
  const state: LabState = existing ?? {
    name: spec.name,
    spec,
    phase: 'creating',
    tag: labTag(spec.name),
    createdAt: now,
    updatedAt: now,
    completedSteps: [],
    hosts: {},
  };
  const lab = new LabHandle(state, labDir(spec.name), { provider, bootstrap: o.bootstrap });
  try {
    state.phase = 'creating';
    await lab.save();
    const res = await runSteps<LabContext>({
      lab: spec.name,
      action: 'up',
      steps,
      ctx: lab,
      emit: o.emit,
      signal: o.signal,
      onStepDone: async (id) => {
        if (!state.completedSteps.includes(id)) state.completedSteps.push(id);
        await lab.save();
      },
    });
    if (res.ok) {
      state.phase = 'ready';
      await lab.save();
    } else if (res.cancelled) {
      state.phase = 'interrupted';
      await lab.save();
    } else if (!existing && !o.keepOnFailure) {
      await lab.close();
      o.emit({
        type: 'step:log',
        runId: res.runId,
        level: 'warn',
        message: `up failed: removing the half-built lab ${spec.name} (use --keep to keep it for debugging)`,
        at: Date.now(),
      });
      await removeLab(lab, (message, level = 'info') =>
        o.emit({ type: 'step:log', runId: res.runId, level, message, at: Date.now() }),
      );
    } else {
      state.phase = 'failed';
      await lab.save();
      if (existing && res.error && res.error.code !== 'ETCD_DATA_LOST') {
        // what is broken, with its fix, when it is lost data (the step's own error does not know)
        const members = await etcdEndpointsStatus(lab).catch(() => undefined);
        const lost = members ? await diagnoseDataLoss(lab, members).catch(() => []) : [];
        if (lost.length)
          res.error = {
            ...res.error,
            details: [res.error.details, ...lost.map((l) => l.problem)].filter(Boolean).join('\n'),
            fix: lost[0]!.fix,
          };
      }
      if (existing) {
        o.emit({
          type: 'step:log',
          runId: res.runId,
          level: 'warn',
          message: `up failed on the existing lab ${spec.name}: it is kept as it was (its state, keys, logs and disks); see \`halab status ${spec.name}\``,
          at: Date.now(),
        });
      }
    }
    return res;
  } finally {
    await lab.close();
    await release();
  }
}
