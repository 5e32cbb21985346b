// The Kubernetes binaries on this machine (downloaded or built once, cached per version).
import { checkArtifacts, ensureArtifacts } from '../../artifacts/kubernetes.ts';
import type { LabContext } from '../../engine/context.ts';
import type { Step } from '../../engine/runner.ts';

export const kubernetesArtifacts: Step<LabContext> = {
  id: 'k8s:artifacts',
  title: 'Kubernetes binaries at the pinned version on this machine',
  done: async (lab) => checkArtifacts(lab.state.spec.kubernetesVersion).every((a) => a.ok),
  run: async (lab, t) => {
    const v = lab.state.spec.kubernetesVersion;
    t.log(`Kubernetes ${v} binaries are not cached: getting them (the first build takes a while)`, { level: 'warn' });
    await ensureArtifacts({ version: v, onLog: (l) => t.log(l, { level: 'debug' }), signal: t.signal });
  },
};
