// The lab's PKI, the kubeadm way: generated on the machine with kubeadm's phases, then copied to
// the hosts. See generate.ts for where this differs from `kubeadm init` and why.

import type { Step } from '../../engine/runner.ts';
import type { LabContext } from '../../providers/types.ts';
import { distributePki, pkiDistributed } from './distribute.ts';
import { generatePki, pkiGenerated } from './generate.ts';

export const generatePkiStep: Step<LabContext> = {
  id: 'pki:generate',
  title: 'Generate the cluster and etcd PKI and the kubeconfigs with kubeadm (on this machine)',
  done: async (ctx) => pkiGenerated(ctx.state.spec, ctx.dir),
  run: async (ctx, t) => generatePki(ctx.state.spec, ctx.dir, t),
};

export const distributePkiStep: Step<LabContext> = {
  id: 'pki:distribute',
  title: 'Copy certificates, keys and kubeconfigs to the hosts (keys 0600, certificates 0644)',
  done: async (ctx) => pkiDistributed(ctx),
  run: async (ctx, t) => distributePki(ctx, t),
};

export * from './paths.ts';
export * from './kubeadm-config.ts';
export {
  CONTROL_PLANE_KUBECONFIGS,
  checkPki,
  createAdminBindingCommand,
  ensureNodeKubeconfig,
  generatePki,
  kubeadmPath,
  kubeconfigServer,
  kubeconfigSubject,
  pkiGenerated,
  pkiTasks,
  renderGenerationConfigs,
  setKubeconfigServer,
  type GenerateOptions,
  type KubeconfigName,
  type PkiTask,
} from './generate.ts';
export { distributePki, distributionPlan, pkiDistributed, type HostFile } from './distribute.ts';
