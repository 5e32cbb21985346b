// The control plane's command lines, as kubeadm writes them, plus the few changes HA Lab makes.
//
// On every master, `kubeadm init phase control-plane all --config /etc/halab/kubeadm.yaml` writes
// the static-pod manifests kubeadm would hand to a kubelet. The fast path has no kubelet on the
// masters: it reads each manifest's `command:` list and runs it as an s6 service instead. The
// flags are therefore kubeadm's own, except for the documented changes below.
import { parse as parseYaml } from 'yaml';
import type { LabSpec } from '../../api/types.ts';
import { HalabError } from '../../errors.ts';

export const CONTROL_PLANE = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;
export type ControlPlaneComponent = (typeof CONTROL_PLANE)[number];

/** Where the Kubernetes binaries appear on every host (netns: a read-only bind mount of the cache). */
export const KUBE_BIN = '/mnt/halab/kubernetes/bin';
export const KUBEADM_CONFIG = '/etc/halab/kubeadm.yaml';
export const MANIFEST_DIR = '/etc/kubernetes/manifests';

/**
 * Every flag where HA Lab differs from kubeadm's manifests, and why. Printed in the docs and
 * checked by the unit tests, so the list stays true.
 */
export const FLAG_DIFFERENCES: { component: ControlPlaneComponent | 'all'; flag: string; why: string }[] = [
  { component: 'all', flag: 'argv[0]', why: `the binary runs from ${KUBE_BIN} (no container image on the fast path)` },
  {
    component: 'kube-apiserver',
    flag: '--default-not-ready-toleration-seconds, --default-unreachable-toleration-seconds',
    why: 'set from timers.podEvictionTolerationS (kubeadm leaves the 300 s default) so pods leave a lost node within a drill',
  },
  {
    component: 'kube-controller-manager',
    flag: '--node-monitor-grace-period, --node-monitor-period',
    why: 'set from timers.nodeMonitorGracePeriodS (default 40 s) and 2 s, so a lost node turns NotReady within a drill',
  },
  {
    component: 'kube-controller-manager',
    flag: '--leader-elect-lease-duration, --leader-elect-renew-deadline, --leader-elect-retry-period',
    why: 'set from timers (defaults 15 s / 10 s / 2 s), so a lost leader is replaced within a drill',
  },
  {
    component: 'kube-scheduler',
    flag: '--leader-elect-lease-duration, --leader-elect-renew-deadline, --leader-elect-retry-period',
    why: 'as for the controller-manager',
  },
  {
    component: 'kube-controller-manager',
    flag: '--kubeconfig (server)',
    why: 'controller-manager.conf points at the VIP, not the local apiserver as kubeadm does: the HA article has every client go through the load balancer',
  },
  { component: 'kube-scheduler', flag: '--kubeconfig (server)', why: 'scheduler.conf points at the VIP, as above' },
];

/** The `command:` list of the first container of a static-pod manifest. */
export function manifestCommand(yamlText: string, component: string): string[] {
  const doc = parseYaml(yamlText) as { spec?: { containers?: { command?: unknown }[] } };
  const cmd = doc?.spec?.containers?.[0]?.command;
  if (!Array.isArray(cmd) || cmd.length === 0 || !cmd.every((c) => typeof c === 'string')) {
    throw new HalabError('MANIFEST_INVALID', `kubeadm's manifest for ${component} has no command list`, {
      fix: 'check the kubeadm version: `kubeadm init phase control-plane` should write static-pod manifests',
    });
  }
  return cmd as string[];
}

/** Set --flag=value, replacing an existing value. */
export function setFlag(argv: string[], flag: string, value: string | number): string[] {
  const prefix = `--${flag}=`;
  const out = argv.filter((a) => !a.startsWith(prefix) && a !== `--${flag}`);
  out.push(`${prefix}${value}`);
  return out;
}

export function flagValue(argv: string[], flag: string): string | undefined {
  const prefix = `--${flag}=`;
  return argv.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

/** kubeadm's command line for a component, with HA Lab's documented changes applied. */
export function adjustCommand(component: ControlPlaneComponent, kubeadmArgv: string[], spec: LabSpec): string[] {
  const t = spec.timers;
  let argv = [`${KUBE_BIN}/${component}`, ...kubeadmArgv.slice(1)];
  if (component === 'kube-apiserver') {
    argv = setFlag(argv, 'default-not-ready-toleration-seconds', t.podEvictionTolerationS);
    argv = setFlag(argv, 'default-unreachable-toleration-seconds', t.podEvictionTolerationS);
  }
  if (component === 'kube-controller-manager') {
    argv = setFlag(argv, 'node-monitor-grace-period', `${t.nodeMonitorGracePeriodS}s`);
    argv = setFlag(argv, 'node-monitor-period', '2s');
  }
  if (component !== 'kube-apiserver') {
    argv = setFlag(argv, 'leader-elect-lease-duration', `${t.leaseDurationS}s`);
    argv = setFlag(argv, 'leader-elect-renew-deadline', `${t.renewDeadlineS}s`);
    argv = setFlag(argv, 'leader-elect-retry-period', `${t.retryPeriodS}s`);
  }
  return argv;
}
