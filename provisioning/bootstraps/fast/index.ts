// The fast bootstrap: the same components kubeadm would run, with kubeadm's certificates and
// flags, as supervised processes; hollow kubelets (kubemark) on the workers. A lab in under a
// minute, for drills about the control plane.
import type { HostRole, LabSpec, LabState } from '../../api/types.ts';
import type { LabContext } from '../../engine/context.ts';
import type { Step } from '../../engine/runner.ts';
import { workerHosts } from '../../spec/roles.ts';
import {
  apiBack,
  kubernetesArtifacts,
  adminBinding,
  controlPlaneReady,
  leaderLeases,
} from '../../steps/control-plane/index.ts';
import { etcdHealthy, etcdMembers } from '../../steps/etcd/index.ts';
import { lbSteps } from '../../steps/lb/index.ts';
import { distributePkiStep, generatePkiStep } from '../../steps/pki/index.ts';
import { snapshotSchedule } from '../../snapshots/index.ts';
import { commonPreflight } from '../preflight.ts';
import { serviceCommand, serviceControl, serviceStatus } from '../service-components.ts';
import type { Bootstrap, BootstrapOptions, Component } from '../types.ts';
import { renderManifests, shareBinaries, startControlPlane } from './control-plane.ts';
import { HOLLOW_LABEL, HOLLOW_LEASE_RENEW_S, hollowNodes, hollowPinnedKubelets } from './hollow.ts';
import { fastSpecIssues } from './spec-support.ts';

const ROLE_COMPONENTS: Record<HostRole, Component[]> = {
  lb: ['haproxy', 'keepalived'],
  master: ['etcd', 'etcd-snapshot', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'],
  worker: ['kubelet'],
};

export const fastBootstrap: Bootstrap = {
  name: 'fast',
  title: 'fast: the control plane as supervised processes, hollow kubelets (kubemark)',
  preflight: (spec) => commonPreflight(spec?.kubernetesVersion),
  specIssues: fastSpecIssues,
  steps(spec: LabSpec, o: BootstrapOptions = {}): Step<LabContext>[] {
    const lb = lbSteps(spec, o.lb);
    return [
      kubernetesArtifacts,
      generatePkiStep,
      distributePkiStep,
      etcdMembers,
      etcdHealthy,
      ...(lb ? [lb.configs, lb.haproxy, lb.keepalived, lb.ready] : []),
      apiBack,
      shareBinaries,
      renderManifests,
      startControlPlane,
      controlPlaneReady,
      adminBinding,
      snapshotSchedule,
      hollowNodes,
      leaderLeases,
    ];
  },
  hasControlPlane: (state: LabState) => state.completedSteps.includes(startControlPlane.id),
  components: {
    components: (role) => ROLE_COMPONENTS[role],
    command: serviceCommand,
    control: serviceControl,
    status: serviceStatus,
    logPath: (lab, host, c) => lab.services(host).logPath(c),
  },
  realPods: false,
  nodeNames: (spec) => workerHosts(spec).map((w) => w.name),
  workerSelector: () => ({ [HOLLOW_LABEL]: 'true' }),
  nodeLeaseRenewS: () => HOLLOW_LEASE_RENEW_S,
  pinnedKubelets: hollowPinnedKubelets,
};
