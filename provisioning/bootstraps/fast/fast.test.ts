import { describe, expect, it } from 'vitest';
import { testSpec } from '../../engine/fake-lab.testutil.ts';
import { fastBootstrap } from './index.ts';
import { extraNodeService, extraNodes, hollowNodeCommand } from './hollow.ts';

describe('the fast bootstrap', () => {
  it('declares its steps in order: binaries, PKI, etcd, LBs, control plane, gates, snapshots, hollow nodes', () => {
    expect(fastBootstrap.steps(testSpec()).map((s) => s.id)).toEqual([
      'k8s:artifacts',
      'pki:generate',
      'pki:distribute',
      'etcd:members',
      'etcd:healthy',
      'lb:configs',
      'lb:haproxy',
      'lb:keepalived',
      'lb:ready',
      'lab:api-back',
      'k8s:share',
      'control-plane:manifests',
      'control-plane:start',
      'control-plane:ready',
      'control-plane:rbac',
      'snapshots:schedule',
      'workers:hollow-nodes',
      'control-plane:leaders',
    ]);
    const s = testSpec();
    const noLbs = fastBootstrap.steps({ ...s, hosts: s.hosts.filter((h) => h.role !== 'lb') }).map((x) => x.id);
    expect(noLbs.some((id) => id.startsWith('lb:'))).toBe(false);
  });

  it('has a control plane once its services were started', () => {
    const state = { completedSteps: ['k8s:artifacts'] } as never;
    expect(fastBootstrap.hasControlPlane(state)).toBe(false);
    expect(fastBootstrap.hasControlPlane({ completedSteps: ['control-plane:start'] } as never)).toBe(true);
  });

  it('runs every component as a service of the same name; the workers are the hollow nodes', () => {
    expect(fastBootstrap.components.components('master')).toEqual([
      'etcd',
      'etcd-snapshot',
      'kube-apiserver',
      'kube-controller-manager',
      'kube-scheduler',
    ]);
    expect(fastBootstrap.components.components('worker')).toEqual(['kubelet']);
    expect(fastBootstrap.nodeNames(testSpec())).toEqual(['w1', 'w2']);
    expect(fastBootstrap.workerSelector(testSpec())).toEqual({ 'halab.dev/hollow': 'true' });
  });

  it('a hollow node registers under its host name with the node kubeconfig and no host image service', () => {
    const argv = hollowNodeCommand('w1');
    expect(argv).toContain('--morph=kubelet');
    expect(argv).toContain('--name=w1');
    expect(argv).toContain('--kubeconfig=/etc/kubernetes/kubelet.conf');
    expect(argv).toContain('--use-host-image-service=false');
  });

  it('the external-lb kubelets differ only in their server, ports and label', () => {
    const [direct, vip] = extraNodes(testSpec(), 'w2', 'm1');
    expect(direct!.server).toBe('https://10.213.51.21:6443');
    expect(vip!.server).toBe('https://10.213.51.10:6443');
    const argv = extraNodeService(direct!).command;
    expect(argv).toContain('--kubeconfig=/etc/halab/drill/w2-direct.conf');
    expect(argv).toContain('--node-labels=halab.dev/drill-node=direct');
    expect(argv.filter((a) => a.startsWith('--kubeconfig='))).toHaveLength(1);
  });
});
