// The control plane's shared parts: kubeadm's flags with HA Lab's documented differences, the
// Kubernetes binaries, and the readiness gates. How the components run is the bootstrap's
// (bootstraps/fast: s6 services; bootstraps/kubeadm: static pods).
export * from './flags.ts';
export { kubernetesArtifacts } from './artifacts.ts';
export { adminBinding, apiBack, apiserverReady, controlPlaneReady, leaderLeases } from './ready.ts';
