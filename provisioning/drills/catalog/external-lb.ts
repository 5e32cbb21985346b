// external-lb: why kubelets must talk to the load balancer, not to one apiserver. Two extra
// hollow nodes run side by side on one worker: one whose kubeconfig names a single master's
// apiserver, one that goes through the VIP. Stopping that apiserver cuts the first off (it goes
// NotReady after the grace period, and its pods would be evicted: a cascading failure); the
// second never notices.

import type { Prediction } from '../../api/drills.ts';
import type { LabSpec } from '../../api/types.ts';
import { SCAN_DIR, SV_DIR, Supervisor, type ServiceDef } from '../../hosts/supervisor.ts';
import { kubectl, nodes } from '../../k8s/kubectl.ts';
import { hollowNodeCommand } from '../../steps/control-plane/flags.ts';
import { masterLb } from '../../steps/lb/model.ts';
import { ensureNodeKubeconfig, setKubeconfigServer } from '../../steps/pki/generate.ts';
import { masterHosts, workerHosts } from '../../steps/pki/kubeadm-config.ts';
import { readFile } from 'node:fs/promises';
import type { Drill, DrillContext } from '../engine.ts';
import { applyManifest } from '../probe.ts';
import { haproxyServerCondition, n, watchOnHost } from './common.ts';
import { HOLLOW_LEASE_RENEW_S, NODE_MONITOR_PERIOD_S } from './worker-down.ts';

export const DRILL_NODE_DIR = '/etc/halab/drill';

export interface ExtraNode { name: string; service: string; server: string; kubeconfig: string; port: number; readOnlyPort: number; via: 'direct' | 'vip' }

export function extraNodes(spec: LabSpec, host: string, pinned: string): ExtraNode[] {
  const m = masterHosts(spec).find((x) => x.name === pinned)!;
  return [
    { name: `${host}-direct`, service: 'drill-node-direct', server: `https://${m.address}:6443`, kubeconfig: `${DRILL_NODE_DIR}/${host}-direct.conf`, port: 10350, readOnlyPort: 10355, via: 'direct' },
    { name: `${host}-vip`, service: 'drill-node-vip', server: `https://${spec.vip}:6443`, kubeconfig: `${DRILL_NODE_DIR}/${host}-vip.conf`, port: 10360, readOnlyPort: 10365, via: 'vip' },
  ];
}

/** The hollow node's command line with its own kubeconfig, ports and a label of its own (pure). */
export function extraNodeService(node: ExtraNode): ServiceDef {
  const argv = hollowNodeCommand(node.name)
    .filter((a) => !a.startsWith('--kubeconfig=') && !a.startsWith('--node-labels='))
    .concat([`--kubeconfig=${node.kubeconfig}`, `--kubelet-port=${node.port}`, `--kubelet-read-only-port=${node.readOnlyPort}`, `--node-labels=halab.dev/drill-node=${node.via}`]);
  return { name: node.service, command: argv };
}

/** The Node object registered ahead of its kubelet (pure). */
export function nodeObject(node: ExtraNode): unknown {
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: node.name, labels: { 'kubernetes.io/hostname': node.name, 'kubernetes.io/os': 'linux', 'halab.dev/drill-node': node.via } },
  };
}

/** Shell that stops a service, takes it out of s6's scan dir and deletes its definition. */
export function removeServiceScript(name: string): string {
  const live = `${SCAN_DIR}/${name}`;
  const gone = `${SCAN_DIR}/.${name}.removed`;
  return [
    `rm -rf ${SV_DIR}/${name}`,
    `if [ -d ${live} ]; then`,
    `  rm -rf ${gone} && mv ${live} ${gone}`,
    `  s6-svc -dx ${gone} 2>/dev/null; s6-svc -dx ${gone}/log 2>/dev/null`,
    `  s6-svwait -D -t 10000 ${gone} 2>/dev/null; sleep 1`,
    `  rm -rf ${gone}`,
    `  s6-svscanctl -a ${SCAN_DIR}`,
    `fi`,
  ].join('\n');
}

export function predictExternalLb(spec: LabSpec): Prediction[] {
  const t = spec.timers;
  return [
    {
      id: 'pinned-notready', label: 'The node pinned to one apiserver turns NotReady', unit: 's',
      value: t.nodeMonitorGracePeriodS + NODE_MONITOR_PERIOD_S, min: Math.max(0, t.nodeMonitorGracePeriodS - HOLLOW_LEASE_RENEW_S), margin: 5,
      formula: `its lease renewals fail from the fault on; NotReady nodeMonitorGracePeriod ${n(t.nodeMonitorGracePeriodS)} s after the last renewal (renewed every ${HOLLOW_LEASE_RENEW_S} s) + up to ${NODE_MONITOR_PERIOD_S} s`,
    },
    {
      id: 'vip-node-notready', label: 'Times the node behind the VIP was seen NotReady', unit: 'count', value: 0, margin: 0,
      formula: 'HAProxy sends its requests to the two live apiservers; its lease keeps being renewed',
    },
    {
      id: 'haproxy-down', label: 'HAProxy marks the stopped apiserver DOWN', unit: 'ms',
      value: t.haproxyCheckFall * t.haproxyCheckInterMs, min: (t.haproxyCheckFall - 1) * t.haproxyCheckInterMs, margin: 1000,
      formula: `a stopped process is refused at once (unlike a powered-off host): fall ${t.haproxyCheckFall} failed checks, inter ${t.haproxyCheckInterMs} ms apart`,
    },
  ];
}

interface Vars { host: string; pinned: string; nodes: ExtraNode[]; faultAt?: number; installed?: boolean }
const v = (ctx: DrillContext) => ctx.vars as unknown as Vars;

export const externalLb: Drill = {
  info: {
    name: 'external-lb',
    title: 'Why kubelets must go through the load balancer',
    concept: 'Pods reach the API through the in-cluster Service (kubernetes.default.svc), but the kubelets and anything outside the cluster need an address that stays up: the load balancer\'s VIP. A kubelet configured with one apiserver\'s address shares that apiserver\'s fate: when it dies, the node can no longer report, is declared NotReady and its pods are evicted, although the node itself is fine and two apiservers are still up. A cascading failure caused by configuration, not by the fault.',
    article: '§6',
    needs: '2 masters, 1 worker, 2 load balancers',
  },
  needs: (spec) => {
    const out: string[] = [];
    if (masterHosts(spec).length < 2) out.push(`${masterHosts(spec).length} master(s)`);
    if (!workerHosts(spec).length) out.push('no worker');
    return out;
  },
  predict: predictExternalLb,
  healthTimeoutMs: 240_000,
  steps: [
    {
      id: 'nodes', phase: 'act', title: 'Start two extra hollow nodes: one pinned to one apiserver, one through the VIP',
      explain: 'Both run on the same worker with their own kubelet certificate; only the server in their kubeconfig differs.',
      run: async (ctx) => {
        const host = workerHosts(ctx.spec).at(-1)!.name;
        const pinned = masterHosts(ctx.spec)[0]!.name;
        const list = extraNodes(ctx.spec, host, pinned);
        Object.assign(ctx.vars, { host, pinned, nodes: list });
        const remote = ctx.lab.remote(host);
        await remote.exec(`mkdir -p ${DRILL_NODE_DIR}`);
        v(ctx).installed = true;
        // Register the Node objects first: a kubelet that has not registered its node within
        // about 23 s of starting gives up initialising its CSINode and stays NotReady for good
        // ("failed to initialize CSINode"), and a hollow kubelet on a loaded machine can take
        // that long. With the Node already there it finds it and just takes it over.
        await applyManifest(ctx.lab, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: list.map(nodeObject) }));
        for (const nd of list) {
          const local = await ensureNodeKubeconfig(ctx.spec, ctx.lab.dir, nd.name, { log: (m) => ctx.log(m) });
          const text = setKubeconfigServer(await readFile(local, 'utf8'), nd.server);
          await remote.upload(nd.kubeconfig, text, 0o600);
          ctx.note(host, `# ${nd.kubeconfig}: a kubelet kubeconfig for ${nd.name} with server ${nd.server}\n${extraNodeService(nd).command.join(' ')}`, `run hollow node ${nd.name} (${nd.via === 'direct' ? `pinned to ${pinned}'s apiserver` : 'through the VIP'})`);
          await new Supervisor(remote).install(extraNodeService(nd));
        }
        await ctx.until('both extra nodes Ready', async () => {
          const ns = await nodes(ctx.lab);
          return list.every((nd) => ns.find((x) => x.name === nd.name)?.ready);
        }, { timeoutMs: 120_000, intervalMs: 1000, fix: `see /var/log/halab/drill-node-*/current on ${host}` });
        ctx.log(`${list.map((x) => `${x.name} → ${x.server}`).join('; ')}: both Ready`, host);
      },
    },
    {
      id: 'stop-apiserver', phase: 'act', title: 'Kill the apiserver the pinned node talks to',
      explain: (ctx) => `Kill kube-apiserver on ${v(ctx).pinned} (and keep it down). HAProxy notices within about a second and stops sending it traffic; the kubelet of ${v(ctx).nodes[0]!.name} has nowhere else to go.`,
      run: async (ctx) => {
        const { pinned } = v(ctx);
        ctx.vars.watch = watchOnHost(ctx, masterLb(ctx.spec).name, haproxyServerCondition(pinned, false), { timeoutS: 30, everyS: 0.05 });
        await ctx.sleep(300);
        v(ctx).faultAt = ctx.mark(`kube-apiserver on ${pinned} killed`, 'fault').t;
        await ctx.command(pinned, `s6-svc -d ${SCAN_DIR}/kube-apiserver && s6-svc -k ${SCAN_DIR}/kube-apiserver && s6-svwait -D -t 20000 ${SCAN_DIR}/kube-apiserver`, 'kill this apiserver (SIGKILL: a crash, no graceful shutdown) and keep it down');
      },
    },
    {
      id: 'observe', phase: 'observe', title: 'Watch the pinned node go NotReady while the other stays Ready',
      explain: (ctx) => `The node controller (on a live master, through the VIP) sees ${v(ctx).nodes[0]!.name}'s lease go stale; ${v(ctx).nodes[1]!.name}'s lease keeps being renewed through the VIP.`,
      run: async (ctx) => {
        const { nodes: list, faultAt, pinned } = v(ctx);
        const down = await (ctx.vars.watch as { result: Promise<number | undefined> }).result;
        if (down !== undefined) {
          ctx.mark(`HAProxy: ${pinned} DOWN`, 'info', down);
          ctx.measure({ id: 'haproxy-down', label: `HAProxy marks ${pinned} DOWN`, value: down - faultAt!, unit: 'ms', predictionId: 'haproxy-down', how: `HAProxy's server state on ${masterLb(ctx.spec).name}, polled every 50 ms` });
        }
        const [direct, viaVip] = list as [ExtraNode, ExtraNode];
        let notReadyAt: number | undefined;
        let vipBad = 0;
        let polls = 0;
        const p = ctx.prediction('pinned-notready');
        await ctx.until(`${direct.name} NotReady`, async () => {
          const ns = await nodes(ctx.lab);
          polls++;
          if (ns.find((x) => x.name === viaVip.name)?.ready !== true) vipBad++;
          if (notReadyAt === undefined && ns.find((x) => x.name === direct.name)?.ready === false) {
            notReadyAt = Date.now();
            ctx.mark(`${direct.name} NotReady`, 'info', notReadyAt);
          }
          return notReadyAt !== undefined;
        }, { timeoutMs: (p.value + p.margin + 40) * 1000, intervalMs: 500 });
        // the VIP node keeps being watched a little longer
        for (let i = 0; i < 10; i++) {
          await ctx.sleep(500);
          const ns = await nodes(ctx.lab);
          polls++;
          if (ns.find((x) => x.name === viaVip.name)?.ready !== true) vipBad++;
        }
        ctx.vars.vipBad = vipBad;
        ctx.vars.polls = polls;
        ctx.measure({ id: 'pinned-notready', label: `${direct.name} NotReady`, value: (notReadyAt! - faultAt!) / 1000, unit: 's', predictionId: 'pinned-notready', how: 'Node Ready condition through the VIP, every 0.5 s' });
        ctx.measure({ id: 'vip-node-notready', label: `Times ${viaVip.name} was seen NotReady`, value: vipBad, unit: 'count', predictionId: 'vip-node-notready', how: `${polls} looks at the node during the drill` });
      },
    },
    {
      id: 'verify', phase: 'verify', title: 'Verify: pinned node NotReady, VIP node Ready',
      explain: 'Same worker, same fault: the only difference is the address in the kubeconfig.',
      run: async (ctx) => {
        const [direct, viaVip] = v(ctx).nodes as [ExtraNode, ExtraNode];
        const ns = await nodes(ctx.lab);
        const d = ns.find((x) => x.name === direct.name);
        const vn = ns.find((x) => x.name === viaVip.name);
        ctx.check({ id: 'pinned-notready', title: `${direct.name} (pinned to ${v(ctx).pinned}) went NotReady`, ok: d?.ready === false, expected: 'NotReady', observed: d ? (d.ready ? 'Ready' : `NotReady (${d.reason ?? '?'})`) : 'missing' });
        ctx.check({
          id: 'vip-ready', title: `${viaVip.name} (through the VIP) stayed Ready the whole time`, ok: vn?.ready === true && ctx.vars.vipBad === 0,
          expected: 'Ready at every look', observed: `${vn?.ready ? 'Ready' : 'NotReady'} now; NotReady at ${ctx.vars.vipBad as number} of ${ctx.vars.polls as number} looks`,
        });
        const workers = workerHosts(ctx.spec).map((w) => w.name);
        const bad = workers.filter((w) => !ns.find((x) => x.name === w)?.ready);
        ctx.check({ id: 'workers-ready', title: 'The regular worker nodes (through the VIP) stayed Ready', ok: bad.length === 0, expected: workers.join(', '), observed: bad.length ? `NotReady: ${bad.join(', ')}` : 'all Ready' });
      },
    },
  ],
  cleanup: async (ctx) => {
    const vars = v(ctx);
    if (vars.faultAt !== undefined) {
      await ctx.command(vars.pinned, `s6-svc -u ${SCAN_DIR}/kube-apiserver`, 'start the apiserver again');
      ctx.mark(`kube-apiserver on ${vars.pinned} started`, 'recovery');
    }
    if (vars.installed) {
      for (const nd of vars.nodes) {
        await ctx.lab.remote(vars.host).exec(removeServiceScript(nd.service), { timeoutMs: 30_000, allowFail: true });
      }
      await ctx.lab.remote(vars.host).exec(`rm -rf ${DRILL_NODE_DIR}`, { allowFail: true });
      // the API may still be coming back on the pinned master: the VIP has the others
      await ctx.until('the extra Node objects deleted', async () => {
        const r = await kubectl(ctx.lab, ['delete', 'node', ...vars.nodes.map((x) => x.name), '--ignore-not-found'], { allowFail: true });
        return r.exitCode === 0;
      }, { timeoutMs: 60_000, intervalMs: 1000 });
      ctx.log(`removed ${vars.nodes.map((x) => x.name).join(', ')}`, vars.host);
    }
  },
};
