// Hollow nodes (kubemark: the real kubelet code with a fake container runtime) on the workers,
// registered through the VIP; and the two extra hollow nodes of the external-lb drill.
import { readFile } from 'node:fs/promises';
import type { LabSpec } from '../../api/types.ts';
import type { LabContext } from '../../engine/context.ts';
import type { Step } from '../../engine/runner.ts';
import type { ServiceDef } from '../../hosts/services.ts';
import { kubectl, nodes } from '../../k8s/kubectl.ts';
import { applyManifest } from '../../k8s/kubectl.ts';
import { masterHosts, workerHosts } from '../../spec/roles.ts';
import { KUBE_BIN } from '../../steps/control-plane/flags.ts';
import { ensureNodeKubeconfig, setKubeconfigServer } from '../../steps/pki/generate.ts';
import { poll } from '../../util/poll.ts';
import type { PinnedKubelets } from '../types.ts';

/** The label every hollow node carries (pods of the drills are placed with it). */
export const HOLLOW_LABEL = 'halab.dev/hollow';
/**
 * kubemark's hollow kubelet timers, fixed in kubemark (pkg/kubemark GetHollowKubeletConfig: no
 * flag, no config file): node status every 10 s, a 40 s node lease renewed every 10 s (1/4).
 */
export const HOLLOW_NODE_STATUS_S = 10;
export const HOLLOW_LEASE_DURATION_S = 40;
export const HOLLOW_LEASE_RENEW_S = HOLLOW_LEASE_DURATION_S / 4;
/** A worker node not Ready this long after its hollow kubelet started gets one restart of it. */
export const HOLLOW_RESTART_AFTER_MS = 45_000;

/** The hollow node's command line on a worker (pure). */
export function hollowNodeCommand(node: string): string[] {
  return [
    `${KUBE_BIN}/kubemark`,
    '--morph=kubelet',
    `--name=${node}`,
    '--kubeconfig=/etc/kubernetes/kubelet.conf',
    // no containerd on the fast path: the fake image service answers image pulls
    '--use-host-image-service=false',
    '--max-pods=110',
    `--node-labels=${HOLLOW_LABEL}=true`,
  ];
}

export const hollowNodes: Step<LabContext> = {
  id: 'workers:hollow-nodes',
  title: 'Start a hollow node (kubemark: real kubelet code, fake runtime) on every worker, registered through the VIP',
  done: async (lab) => {
    const want = workerHosts(lab.state.spec).map((w) => w.name);
    const ns = await nodes(lab).catch(() => []);
    return want.every((w) => ns.find((n) => n.name === w)?.ready);
  },
  run: async (lab, t) => {
    const workers = workerHosts(lab.state.spec);
    for (const w of workers) {
      const what = await lab.services(w.name).ensure({ name: 'kubelet', command: hollowNodeCommand(w.name) });
      if (what !== 'unchanged') t.log(`hollow kubelet ${what}`, { host: w.name });
    }
    let state = '';
    const started = Date.now();
    const restarted = new Set<string>();
    await poll({
      what: 'every worker node Ready',
      check: async () => {
        const ns = await nodes(lab);
        state = ns.map((n) => `${n.name}:${n.ready ? 'Ready' : (n.reason ?? 'NotReady')}`).join(' ');
        t.progress(ns.filter((n) => n.ready).length, workers.length, state);
        // a kubelet whose Node is not registered about 23 s after it starts gives up on its
        // CSINode and stays NotReady for good ("failed to initialize CSINode"); on a loaded
        // machine a hollow one can be that slow. Restarted once, it finds its Node and goes on.
        if (Date.now() - started > HOLLOW_RESTART_AFTER_MS) {
          for (const w of workers) {
            if (ns.find((n) => n.name === w.name)?.ready || restarted.has(w.name)) continue;
            restarted.add(w.name);
            t.log(
              `not Ready ${Math.round((Date.now() - started) / 1000)} s after its start: restarting the hollow kubelet once`,
              { host: w.name, level: 'warn' },
            );
            const services = lab.services(w.name);
            await services.start('kubelet'); // wanted up, whatever someone did to it
            await services.restart('kubelet');
          }
        }
        return workers.every((w) => ns.find((n) => n.name === w.name)?.ready);
      },
      timeoutMs: 120_000,
      signal: t.signal,
      fix: `see the hollow kubelet log: halab ssh w1 -- tail -50 ${lab.services('w1').logPath('kubelet')}`,
      detail: () => state,
    });
  },
};

// ---------------------------------------------------------------------------------------------
// external-lb: two extra hollow nodes on the last worker
// ---------------------------------------------------------------------------------------------

export const DRILL_NODE_DIR = '/etc/halab/drill';

export interface ExtraNode {
  name: string;
  service: string;
  server: string;
  kubeconfig: string;
  port: number;
  readOnlyPort: number;
  via: 'direct' | 'vip';
}

/** The two extra nodes on `host`: one pinned to `pinned`'s apiserver, one through the VIP (pure). */
export function extraNodes(spec: LabSpec, host: string, pinned: string): ExtraNode[] {
  const m = masterHosts(spec).find((x) => x.name === pinned)!;
  return [
    {
      name: `${host}-direct`,
      service: 'drill-node-direct',
      server: `https://${m.address}:6443`,
      kubeconfig: `${DRILL_NODE_DIR}/${host}-direct.conf`,
      port: 10350,
      readOnlyPort: 10355,
      via: 'direct',
    },
    {
      name: `${host}-vip`,
      service: 'drill-node-vip',
      server: `https://${spec.vip}:6443`,
      kubeconfig: `${DRILL_NODE_DIR}/${host}-vip.conf`,
      port: 10360,
      readOnlyPort: 10365,
      via: 'vip',
    },
  ];
}

/** The hollow node's command line with its own kubeconfig, ports and a label of its own (pure). */
export function extraNodeService(node: ExtraNode): ServiceDef {
  const argv = hollowNodeCommand(node.name)
    .filter((a) => !a.startsWith('--kubeconfig=') && !a.startsWith('--node-labels='))
    .concat([
      `--kubeconfig=${node.kubeconfig}`,
      `--kubelet-port=${node.port}`,
      `--kubelet-read-only-port=${node.readOnlyPort}`,
      `--node-labels=halab.dev/drill-node=${node.via}`,
    ]);
  return { name: node.service, command: argv };
}

/** The Node object registered ahead of its kubelet (pure). */
export function nodeObject(node: ExtraNode): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: node.name,
      labels: { 'kubernetes.io/hostname': node.name, 'kubernetes.io/os': 'linux', 'halab.dev/drill-node': node.via },
    },
  };
}

const extraHost = (spec: LabSpec) => workerHosts(spec).at(-1)!.name;

export const hollowPinnedKubelets: PinnedKubelets = {
  describe: () =>
    'Two extra hollow nodes start on the last worker with their own kubelet certificate; only the server in their kubeconfig differs.',
  async setup(lab, { pinnedTo, narrator, signal }) {
    const host = extraHost(lab.state.spec);
    const list = extraNodes(lab.state.spec, host, pinnedTo);
    const remote = lab.remote(host);
    await remote.exec(`mkdir -p ${DRILL_NODE_DIR}`);
    // Register the Node objects first: a kubelet that has not registered its node within
    // about 23 s of starting gives up initialising its CSINode and stays NotReady for good
    // ("failed to initialize CSINode"), and a hollow kubelet on a loaded machine can take
    // that long. With the Node already there it finds it and just takes it over.
    await applyManifest(lab, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: list.map(nodeObject) }));
    for (const nd of list) {
      const local = await ensureNodeKubeconfig(lab.state.spec, lab.dir, nd.name, { log: (m) => narrator.log(m) });
      const text = setKubeconfigServer(await readFile(local, 'utf8'), nd.server);
      await remote.upload(nd.kubeconfig, text, 0o600);
      narrator.note(
        host,
        `# ${nd.kubeconfig}: a kubelet kubeconfig for ${nd.name} with server ${nd.server}\n${extraNodeService(nd).command.join(' ')}`,
        `run hollow node ${nd.name} (${nd.via === 'direct' ? `pinned to ${pinnedTo}'s apiserver` : 'through the VIP'})`,
      );
      await lab.services(host).ensure(extraNodeService(nd));
    }
    await poll({
      what: 'both extra nodes Ready',
      check: async () => {
        const ns = await nodes(lab);
        return list.every((nd) => ns.find((x) => x.name === nd.name)?.ready);
      },
      timeoutMs: 120_000,
      intervalMs: 1000,
      signal,
      fix: `see ${lab.services(host).logPath('drill-node-direct')} on ${host}`,
    });
    narrator.log(`${list.map((x) => `${x.name} → ${x.server}`).join('; ')}: both Ready`, host);
    return { direct: list[0]!.name, vip: list[1]!.name };
  },
  async teardown(lab, { pinnedTo }) {
    const host = extraHost(lab.state.spec);
    const list = extraNodes(lab.state.spec, host, pinnedTo);
    for (const nd of list)
      await lab
        .services(host)
        .remove(nd.service)
        .catch(() => undefined);
    await lab.remote(host).exec(`rm -rf ${DRILL_NODE_DIR}`, { allowFail: true });
    // the API may still be coming back on the pinned master: the VIP has the others
    await poll({
      what: 'the extra Node objects deleted',
      check: async () =>
        (
          await kubectl(lab, ['delete', 'node', ...list.map((x) => x.name), '--ignore-not-found'], {
            allowFail: true,
          })
        ).exitCode === 0,
      timeoutMs: 60_000,
      intervalMs: 1000,
    });
  },
};
