// The explicit, ordered plan of a lab: the engine's own step (the lab's SSH key), the provider's
// steps (hosts reachable over SSH), then the bootstrap's (the cluster on them).
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { LabSpec } from '../api/types.ts';
import { getBootstrap } from '../bootstraps/index.ts';
import type { BootstrapOptions } from '../bootstraps/types.ts';
import { getProvider } from '../providers/index.ts';
import type { LabContext } from './context.ts';
import type { LabParts } from './handle.ts';
import type { Step } from './runner.ts';

const exists = (p: string) =>
  fs.access(p).then(
    () => true,
    () => false,
  );

/** The lab's directories and its SSH key pair (ed25519), which every host will authorise. */
export const labKeyStep: Step<LabContext> = {
  id: 'lab:key',
  title: "Prepare the lab's state directory and its SSH key",
  done: async (lab) => exists(lab.sshKey.privateKeyPath),
  run: async (lab) => {
    for (const d of [join(lab.dir, 'keys'), join(lab.dir, 'logs')]) await fs.mkdir(d, { recursive: true, mode: 0o700 });
    if (await exists(lab.sshKey.privateKeyPath)) return;
    const kp = ssh2.utils.generateKeyPairSync('ed25519', { comment: `halab-${lab.state.name}` });
    await fs.writeFile(lab.sshKey.privateKeyPath, kp.private, { mode: 0o600 });
    await fs.writeFile(lab.sshKey.publicKeyPath, `${kp.public}\n`, { mode: 0o644 });
  },
};

export interface PlanOptions extends LabParts, BootstrapOptions {
  /** The hosts only (no Kubernetes): for debugging and for the provider's own tests. */
  hostsOnly?: boolean;
}

/** The steps `up` runs for `spec`, in order. */
export function labPlan(spec: LabSpec, o: PlanOptions = {}): Step<LabContext>[] {
  const provider = o.provider ?? getProvider(spec.provider);
  const hosts = [labKeyStep, ...provider.createSteps(spec)];
  if (o.hostsOnly) return hosts;
  const bootstrap = o.bootstrap ?? getBootstrap(spec.bootstrap);
  return [...hosts, ...bootstrap.steps(spec, { lb: o.lb })];
}

/**
 * `labPlan(spec)` up to and including the step `stepId` (e.g. 'lb:ready': hosts, PKI, etcd and the
 * load balancers, as the qemu bench and test build a lab under TCG, where a control plane does not
 * start in useful time). Errors: a plain Error naming the plan's step ids when there is no such step.
 */
export function labPlanThrough(spec: LabSpec, stepId: string, o: PlanOptions = {}): Step<LabContext>[] {
  const all = labPlan(spec, o);
  const cut = all.findIndex((st) => st.id === stepId);
  if (cut < 0) throw new Error(`no ${stepId} step in the plan: ${all.map((st) => st.id).join(', ')}`);
  return all.slice(0, cut + 1);
}
