// Stop / start / kill of a kubeadm lab's components. etcd, the snapshot schedule, containerd, the
// kubelet, HAProxy and keepalived are services of the host's service manager. kube-apiserver,
// kube-controller-manager and kube-scheduler are static pods: the kubelet runs what is in
// /etc/kubernetes/manifests, so they are stopped the way kubeadm's documentation does it (the
// etcd restore procedure): the manifest is moved out, and the kubelet removes the pod; moved
// back, the kubelet starts it again. A kill also SIGKILLs the container at once (crictl stop -t 0).
import type { HostRole } from '../../api/types.ts';
import type { LabContext } from '../../engine/context.ts';
import { shq } from '../../exec/types.ts';
import { serviceCommand } from '../service-components.ts';
import type { Component, ComponentAction, ComponentController } from '../types.ts';
import { CRICTL } from './node-files.ts';

export const MANIFEST_DIR = '/etc/kubernetes/manifests';
/** Where a stopped static pod's manifest waits (outside the directory the kubelet watches). */
export const STOPPED_DIR = '/etc/kubernetes/manifests-stopped';

const STATIC_PODS = new Set<Component>(['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']);

const ROLE_COMPONENTS: Record<HostRole, Component[]> = {
  lb: ['haproxy', 'keepalived'],
  master: [
    'etcd',
    'etcd-snapshot',
    'containerd',
    'kubelet',
    'kube-apiserver',
    'kube-controller-manager',
    'kube-scheduler',
  ],
  worker: ['containerd', 'kubelet'],
};

/** The order components start in (stops go the other way): a static pod's clients after its server. */
const START_ORDER: Component[] = [
  'containerd',
  'etcd',
  'kubelet',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'etcd-snapshot',
  'haproxy',
  'keepalived',
];

/** `crictl ps` for one container name (exact), running only (pure). */
const running = (c: string) => `${CRICTL} ps -q --state Running --name '^${c}$'`;

/** The shell line for one static pod (pure); waits at most `waitS` seconds for the change. */
export function staticPodCommand(c: Component, action: ComponentAction, waitS = 60): string {
  const live = `${MANIFEST_DIR}/${c}.yaml`;
  const parked = `${STOPPED_DIR}/${c}.yaml`;
  const wait = (cond: string, what: string) =>
    `i=0; until ${cond}; do i=$((i+1)); [ $i -gt ${waitS * 10} ] && { echo "${c} ${what} after ${waitS} s" >&2; exit 1; }; sleep 0.1; done`;
  if (action === 'start') {
    // the apiserver's clients on this master (kubeadm points them at it) must find it ready
    const ready =
      c === 'kube-apiserver'
        ? `[ -n "$(${running(c)})" ] && [ "$(curl -sk -m 2 https://127.0.0.1:6443/readyz)" = ok ]`
        : `[ -n "$(${running(c)})" ]`;
    return [`if [ -f ${parked} ]; then mv ${parked} ${live}; fi`, wait(ready, 'not running (ready)')].join('; ');
  }
  const out = [`mkdir -p ${STOPPED_DIR}`, `if [ -f ${live} ]; then mv ${live} ${parked}; fi`];
  if (action === 'kill') out.push(`${running(c)} | xargs -r ${CRICTL} stop --timeout 0 >/dev/null`);
  out.push(wait(`[ -z "$(${running(c)})" ]`, 'still running'));
  return out.join('; ');
}

export const kubeadmComponents: ComponentController = {
  components: (role) => ROLE_COMPONENTS[role],
  command(lab: LabContext, host: string, component: Component | Component[], action: ComponentAction): string {
    const list = [...new Set(([] as Component[]).concat(component))].sort(
      (a, b) => START_ORDER.indexOf(a) - START_ORDER.indexOf(b),
    );
    if (action !== 'start') list.reverse();
    // consecutive services go in one command (the service manager stops them together)
    const parts: string[] = [];
    let run: Component[] = [];
    const flush = () => {
      if (run.length) parts.push(serviceCommand(lab, host, run, action));
      run = [];
    };
    for (const c of list) {
      if (STATIC_PODS.has(c)) {
        flush();
        parts.push(`(${staticPodCommand(c, action)})`);
      } else run.push(c);
    }
    flush();
    return parts.join(' && ');
  },
  async control(lab, host, component, action) {
    await lab.remote(host).exec(this.command(lab, host, component, action), { timeoutMs: 120_000 });
  },
  logPath(lab, host, component) {
    if (!STATIC_PODS.has(component)) return lab.services(host).logPath(component);
    return `/var/log/pods/kube-system_${component}-${host}_*/${component}/*.log`;
  },
  async status(lab, host, component) {
    if (!STATIC_PODS.has(component)) {
      const st = (await lab.services(host).status()).find((s) => s.name === component);
      return { up: !!st?.up, pid: st?.pid };
    }
    const r = await lab
      .remote(host)
      .exec(
        `id=$(${running(component)} | head -1); [ -n "$id" ] && ${CRICTL} inspect -o go-template --template '{{.info.pid}}' "$id"`,
        {
          allowFail: true,
          timeoutMs: 15_000,
        },
      );
    const pid = Number(r.stdout.trim());
    return { up: r.exitCode === 0 && pid > 0, pid: pid > 0 ? pid : undefined };
  },
};

/** A command on a node that needs the node's PATH (kubeadm, crictl, ctr), as root (pure). */
export function onNode(command: string, path: string): string {
  return `env PATH=${shq(path)} ${command}`;
}
