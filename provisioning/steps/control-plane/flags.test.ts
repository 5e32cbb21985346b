import { describe, expect, it } from 'vitest';
import { defaultSpec } from '../../spec/schema.ts';
import { FLAG_DIFFERENCES, KUBE_BIN, adjustCommand, flagValue, manifestCommand, setFlag } from './flags.ts';

// the shape kubeadm 1.34 writes (trimmed)
const MANIFEST = `apiVersion: v1
kind: Pod
metadata:
  name: kube-controller-manager
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-controller-manager
    - --authentication-kubeconfig=/etc/kubernetes/controller-manager.conf
    - --bind-address=127.0.0.1
    - --kubeconfig=/etc/kubernetes/controller-manager.conf
    - --leader-elect=true
    - --use-service-account-credentials=true
    image: registry.k8s.io/kube-controller-manager:v1.34.4
    name: kube-controller-manager
`;

describe('control-plane flags', () => {
  it("reads the command list of kubeadm's static-pod manifest", () => {
    expect(manifestCommand(MANIFEST, 'kube-controller-manager')).toEqual([
      'kube-controller-manager',
      '--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf',
      '--bind-address=127.0.0.1',
      '--kubeconfig=/etc/kubernetes/controller-manager.conf',
      '--leader-elect=true',
      '--use-service-account-credentials=true',
    ]);
    expect(() => manifestCommand('kind: Pod\nspec: {}\n', 'x')).toThrow(/has no command list/);
  });

  it("keeps kubeadm's flags and applies only the documented changes, from the spec's timers", () => {
    const spec = defaultSpec('t');
    const kubeadm = manifestCommand(MANIFEST, 'kube-controller-manager');
    const argv = adjustCommand('kube-controller-manager', kubeadm, spec);
    expect(argv[0]).toBe(`${KUBE_BIN}/kube-controller-manager`);
    for (const f of kubeadm.slice(1)) expect(argv).toContain(f);
    const added = argv
      .slice(1)
      .filter((a) => !kubeadm.includes(a))
      .map((a) => a.split('=')[0]!.slice(2));
    expect(added.sort()).toEqual([
      'leader-elect-lease-duration',
      'leader-elect-renew-deadline',
      'leader-elect-retry-period',
      'node-monitor-grace-period',
      'node-monitor-period',
    ]);
    expect(flagValue(argv, 'node-monitor-grace-period')).toBe(`${spec.timers.nodeMonitorGracePeriodS}s`);
    expect(flagValue(argv, 'leader-elect-lease-duration')).toBe(`${spec.timers.leaseDurationS}s`);
    // every changed flag is in the documented list
    const documented = FLAG_DIFFERENCES.map((d) => d.flag).join(' ');
    for (const f of added) expect(documented).toContain(`--${f}`);
    const api = adjustCommand('kube-apiserver', ['kube-apiserver', '--secure-port=6443'], spec);
    expect(flagValue(api, 'default-not-ready-toleration-seconds')).toBe(String(spec.timers.podEvictionTolerationS));
    expect(flagValue(api, 'leader-elect-lease-duration')).toBeUndefined();
  });

  it('setFlag replaces a value instead of adding a second one', () => {
    expect(setFlag(['x', '--a=1', '--b=2'], 'a', 3)).toEqual(['x', '--b=2', '--a=3']);
  });
});
