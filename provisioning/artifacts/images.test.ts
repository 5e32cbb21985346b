import { describe, expect, it } from 'vitest';
import { AGNHOST_IMAGE, imagePlan } from './images.ts';
import { RUNTIME_ARTIFACTS, runtimeBinDir } from './runtime.ts';

// `kubeadm config images list --kubernetes-version v1.34.4`
const KUBEADM_LIST = [
  'registry.k8s.io/kube-apiserver:v1.34.4',
  'registry.k8s.io/kube-controller-manager:v1.34.4',
  'registry.k8s.io/kube-scheduler:v1.34.4',
  'registry.k8s.io/kube-proxy:v1.34.4',
  'registry.k8s.io/coredns/coredns:v1.12.1',
  'registry.k8s.io/pause:3.10.1',
  'registry.k8s.io/etcd:3.6.5-0',
];

describe('images', () => {
  it("builds what kubeadm lists, under kubeadm's names, but etcd (the lab's is external), plus agnhost", () => {
    const plan = imagePlan(KUBEADM_LIST);
    expect(plan.map((p) => p.ref)).toEqual([...KUBEADM_LIST.filter((r) => !r.includes('/etcd:')), AGNHOST_IMAGE]);
    expect(plan.find((p) => p.kind === 'coredns')?.file).toBe('coredns.tar');
  });

  it('refuses an image it cannot build, and a CoreDNS version it does not build', () => {
    expect(() => imagePlan([...KUBEADM_LIST, 'registry.k8s.io/kube-dns:1.0'])).toThrow(
      /cannot build: registry.k8s.io\/kube-dns/,
    );
    expect(() => imagePlan(KUBEADM_LIST.map((r) => r.replace('v1.12.1', 'v1.13.0')))).toThrow(/CoreDNS v1.12.1/);
    expect(() => imagePlan(KUBEADM_LIST.filter((r) => !r.includes('pause')))).toThrow(/lacks pause/);
  });

  it('pins every runtime artifact and caches it under its own name and version', () => {
    expect(RUNTIME_ARTIFACTS.containerd.packages.map((p) => p.split('/').pop())).toEqual([
      'containerd',
      'containerd-shim-runc-v2',
      'ctr',
    ]);
    expect(runtimeBinDir('cni', 'v1.34.4', { HALAB_CACHE_DIR: '/c' })).toBe('/c/cni-plugins/v1.9.1/bin');
    expect(runtimeBinDir('agnhost', 'v1.34.4', { HALAB_CACHE_DIR: '/c' })).toBe('/c/agnhost/v1.34.4/bin');
  });
});
