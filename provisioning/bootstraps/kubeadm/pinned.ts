// external-lb on the kubeadm bootstrap: the last worker's own kubelet is pointed at one master's
// apiserver (the server line of its kubeconfig), the first worker's stays on the VIP. Same
// kubelet, same certificate, same node: only the address differs. Undone by pointing it back.
import type { LabContext } from '../../engine/context.ts';
import { nodes } from '../../k8s/kubectl.ts';
import { workerHosts } from '../../spec/roles.ts';
import { controlPlaneEndpoint } from '../../steps/pki/kubeadm-config.ts';
import { poll } from '../../util/poll.ts';
import type { Narrator, PinnedKubelets } from '../types.ts';

const KUBELET_CONF = '/etc/kubernetes/kubelet.conf';

function point(lab: LabContext, host: string, server: string, narrator: Narrator, why: string) {
  const cmd = `sed -i 's#^\\(    server: \\).*#\\1${server}#' ${KUBELET_CONF} && ${lab.services(host).command('kubelet', 'restart')}`;
  narrator.note(host, cmd, why);
  return lab.remote(host).exec(cmd);
}

async function waitReady(lab: LabContext, names: string[], signal?: AbortSignal) {
  await poll({
    what: `${names.join(' and ')} Ready`,
    check: async () => {
      const ns = await nodes(lab);
      return names.every((n) => ns.find((x) => x.name === n)?.ready);
    },
    timeoutMs: 120_000,
    intervalMs: 1000,
    signal,
  });
}

export const kubeadmPinnedKubelets: PinnedKubelets = {
  describe: (spec) => {
    const w = workerHosts(spec);
    return `${w.at(-1)?.name}'s kubelet is pointed at one master's own apiserver (the server line of its kubeconfig); ${w[0]?.name}'s stays on the VIP.`;
  },
  async setup(lab, { pinnedTo, narrator, signal }) {
    const ws = workerHosts(lab.state.spec);
    const direct = ws.at(-1)!.name;
    const vip = ws[0]!.name;
    const m = lab.state.spec.hosts.find((h) => h.name === pinnedTo)!;
    await point(
      lab,
      direct,
      `https://${m.address}:6443`,
      narrator,
      `pin ${direct}'s kubelet to ${pinnedTo}'s apiserver`,
    );
    await waitReady(lab, [direct, vip], signal);
    narrator.log(
      `${direct} → https://${m.address}:6443; ${vip} → https://${controlPlaneEndpoint(lab.state.spec)}`,
      direct,
    );
    return { direct, vip };
  },
  async teardown(lab, { narrator }) {
    const direct = workerHosts(lab.state.spec).at(-1)!.name;
    await point(
      lab,
      direct,
      `https://${controlPlaneEndpoint(lab.state.spec)}`,
      narrator,
      `${direct}'s kubelet back on the VIP`,
    );
    await waitReady(lab, [direct]);
  },
};
