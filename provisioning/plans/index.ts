// The explicit, ordered plan of a lab: the provider's steps make the hosts; the bootstrap's
// steps make the cluster on them. Every step is idempotent and checks reality first.
import type { LabSpec } from '../api/types.ts';
import type { Step } from '../engine/runner.ts';
import { HalabError } from '../errors.ts';
import type { LabContext } from '../providers/types.ts';
import { snapshotSteps } from '../snapshots/index.ts';
import { artifactSteps, controlPlaneSteps, workerSteps } from '../steps/control-plane/index.ts';
import { etcdSteps } from '../steps/etcd/index.ts';
import { lbOptionsFromEnv, lbSteps } from '../steps/lb/index.ts';
import { pkiSteps } from '../steps/pki/index.ts';

/**
 * The fast path: the same components kubeadm would run, with kubeadm's certificates and flags,
 * as supervised processes (hollow kubelets on the workers). The kubeadm path (containerd, real
 * kubelets, `kubeadm init/join`) will slot in here as another list with the same shape.
 */
export function fastBootstrap(spec: LabSpec): Step<LabContext>[] {
  return [
    ...artifactSteps(spec),
    ...pkiSteps(spec),
    ...etcdSteps(spec),
    ...lbSteps(spec, lbOptionsFromEnv()),
    ...controlPlaneSteps(spec),
    ...snapshotSteps(spec),
    ...workerSteps(spec),
  ];
}

export function bootstrapSteps(spec: LabSpec): Step<LabContext>[] {
  switch (spec.bootstrap) {
    case 'fast':
      return fastBootstrap(spec);
    case 'kubeadm':
      throw new HalabError('BOOTSTRAP_UNAVAILABLE', 'the kubeadm bootstrap (containerd + real kubelets) is not available in this version', {
        fix: 'use `bootstrap: fast` (the default): the same components with kubeadm\'s certificates and flags',
      });
  }
}
