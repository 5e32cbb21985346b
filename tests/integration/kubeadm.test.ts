// Issue "Real nodes": the kubeadm bootstrap on the reference lab. Every check uses this machine's
// own kubectl (from the Kubernetes cache) with the lab's admin kubeconfig, which points at the VIP.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { binaryPath } from '../../provisioning/artifacts/kubernetes.ts';
import { run } from '../../provisioning/exec/local.ts';
import { adminKubeconfig } from '../../provisioning/k8s/kubectl.ts';
import { cli, skipUnlessRoot } from './helpers.ts';
import { useLab } from './lab-fixture.ts';

const skip = skipUnlessRoot();
const LAB = 'itkad';
const SUBNET = '10.213.70.0/24';
const NS = 'itkad-web';
const NODES = ['m1', 'm2', 'm3', 'w1', 'w2'];

describe.skipIf(!!skip).sequential('the kubeadm bootstrap on a real lab', () => {
  // the state under ~ like a user's own labs (covered inside each host by its own /root)
  const fx = useLab({ tag: 'kad', name: LAB, subnet: SUBNET, input: { bootstrap: 'kubeadm' }, underHome: true });
  const kubectl = (args: string[], o: { input?: string; allowFail?: boolean } = {}) =>
    run(binaryPath('kubectl'), ['--kubeconfig', adminKubeconfig(fx.lab.dir), '--request-timeout=20s', ...args], {
      timeoutMs: 60_000,
      ...o,
    });

  it('kubectl through the VIP lists m1-m3 and w1-w2 Ready, on containerd, masters tainted', async () => {
    expect(readFileSync(adminKubeconfig(fx.lab.dir), 'utf8')).toContain('server: https://10.213.70.10:6443');
    const r = await kubectl(['get', 'nodes', '-o', 'json']);
    const items = (
      JSON.parse(r.stdout) as {
        items: {
          metadata: { name: string };
          spec: { taints?: { key: string }[] };
          status: {
            conditions: { type: string; status: string }[];
            nodeInfo: { containerRuntimeVersion: string; osImage: string };
          };
        }[];
      }
    ).items;
    expect(items.map((n) => n.metadata.name).sort()).toEqual(NODES);
    for (const n of items) {
      expect(n.status.conditions.find((c) => c.type === 'Ready')?.status, n.metadata.name).toBe('True');
      expect(n.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\/2\./);
      const tainted = (n.spec.taints ?? []).some((t) => t.key === 'node-role.kubernetes.io/control-plane');
      expect(tainted, n.metadata.name).toBe(n.metadata.name.startsWith('m'));
    }
    const wide = await kubectl(['get', 'nodes', '-o', 'wide']);
    expect(wide.stdout).toContain('containerd://');
  });

  it('kube-system: the static control-plane pods Running on every master, kube-proxy on every node, CoreDNS Running', async () => {
    // the view is read until it holds (up to 60 s): on a loaded machine a controller-manager that
    // lost its lease exits and is restarted by its kubelet, as designed
    const view = async () => {
      const pods = (
        JSON.parse((await kubectl(['-n', 'kube-system', 'get', 'pods', '-o', 'json'])).stdout) as {
          items: { metadata: { name: string }; spec: { nodeName: string }; status: { phase: string } }[];
        }
      ).items;
      const running = (prefix: string) =>
        pods
          .filter((p) => p.metadata.name.startsWith(prefix) && p.status.phase === 'Running')
          .map((p) => p.spec.nodeName)
          .sort();
      return {
        'kube-apiserver': running('kube-apiserver-'),
        'kube-controller-manager': running('kube-controller-manager-'),
        'kube-scheduler': running('kube-scheduler-'),
        'kube-proxy': running('kube-proxy-'),
        coredns: running('coredns-').length > 0,
      };
    };
    await expect.poll(view, { timeout: 60_000, interval: 2000 }).toEqual({
      'kube-apiserver': ['m1', 'm2', 'm3'],
      'kube-controller-manager': ['m1', 'm2', 'm3'],
      'kube-scheduler': ['m1', 'm2', 'm3'],
      'kube-proxy': NODES,
      coredns: true,
    });
  });

  it('an agnhost Deployment on both workers answers through its ClusterIP Service, by DNS name, from a pod on another node; logs and exec work', async () => {
    const manifest = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'web', namespace: NS },
          spec: {
            replicas: 2,
            selector: { matchLabels: { app: 'web' } },
            template: {
              metadata: { labels: { app: 'web' } },
              spec: {
                nodeSelector: { 'halab.dev/worker': 'true' },
                topologySpreadConstraints: [
                  {
                    maxSkew: 1,
                    topologyKey: 'kubernetes.io/hostname',
                    whenUnsatisfiable: 'DoNotSchedule',
                    labelSelector: { matchLabels: { app: 'web' } },
                  },
                ],
                containers: [
                  {
                    name: 'web',
                    image: 'registry.k8s.io/e2e-test-images/agnhost:2.56',
                    args: ['netexec', '--http-port=8080'],
                  },
                ],
              },
            },
          },
        },
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'web', namespace: NS },
          spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
        },
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'client', namespace: NS },
          spec: {
            nodeName: 'm2',
            tolerations: [{ operator: 'Exists' }],
            containers: [{ name: 'c', image: 'registry.k8s.io/e2e-test-images/agnhost:2.56', args: ['pause'] }],
          },
        },
      ],
    };
    await kubectl(['apply', '-f', '-'], { input: JSON.stringify(manifest) });
    await kubectl(['-n', NS, 'wait', '--for=condition=Available', 'deployment/web', '--timeout=180s']);
    await kubectl(['-n', NS, 'wait', '--for=condition=Ready', 'pod/client', '--timeout=180s']);
    const pods = JSON.parse((await kubectl(['-n', NS, 'get', 'pods', '-l', 'app=web', '-o', 'json'])).stdout) as {
      items: { metadata: { name: string }; spec: { nodeName: string }; status: { podIP: string } }[];
    };
    expect(pods.items.map((p) => p.spec.nodeName).sort()).toEqual(['w1', 'w2']);
    // every pod has an address of its own node's range
    for (const p of pods.items)
      expect(p.status.podIP).toMatch(p.spec.nodeName === 'w1' ? /^10\.244\.31\./ : /^10\.244\.32\./);
    const seen = new Set<string>();
    for (let i = 0; i < 20 && seen.size < 2; i++) {
      const r = await kubectl([
        '-n',
        NS,
        'exec',
        'client',
        '--',
        'wget',
        '-qO-',
        `http://web.${NS}.svc.cluster.local/hostname`,
      ]);
      seen.add(r.stdout.trim());
    }
    expect([...seen].sort()).toEqual(pods.items.map((p) => p.metadata.name).sort());
    const logs = await kubectl(['-n', NS, 'logs', pods.items[0]!.metadata.name]);
    expect(logs.stdout).toContain('Started HTTP server on port 8080');
    const ls = await kubectl(['-n', NS, 'exec', pods.items[0]!.metadata.name, '--', 'ls', '/']);
    expect(ls.stdout.split('\n')).toContain('agnhost');
    // in-cluster access to the API, through kubernetes.default.svc
    const api = await kubectl([
      '-n',
      NS,
      'exec',
      'client',
      '--',
      'sh',
      '-c',
      'wget -qO- --no-check-certificate --header "Authorization: Bearer $(cat /var/run/secrets/kubernetes.io/serviceaccount/token)" https://kubernetes.default.svc/version',
    ]);
    expect(api.stdout).toContain('"gitVersion": "v1.34.4"');
  });

  it('nothing was pulled from a registry: every image came from the local cache', async () => {
    for (const n of NODES) {
      const r = await fx.lab.remote(n).exec(`grep -c 'PullImage' ${fx.lab.services(n).logPath('containerd')} || true`);
      expect(r.stdout.trim(), `PullImage calls in containerd's log on ${n}`).toBe('0');
    }
    // a pull would fail at once, naming the blocker (nothing leaves the lab)
    const r = await kubectl(['-n', NS, 'run', 'pull', '--image=docker.io/library/nginx:1.27', '--restart=Never']);
    expect(r.stdout).toContain('created');
    let reason = '';
    for (let i = 0; i < 60 && !/127\.0\.0\.1:1/.test(reason); i++) {
      await new Promise((res) => setTimeout(res, 1000));
      reason = (await kubectl(['-n', NS, 'describe', 'pod', 'pull'], { allowFail: true })).stdout;
    }
    expect(reason).toMatch(/127\.0\.0\.1:1/);
    await kubectl(['-n', NS, 'delete', 'pod', 'pull', '--wait=false']);
  });

  it("every kubelet and kube-proxy talks to the VIP; a node's lease lasts 4 × its status update period", async () => {
    for (const n of NODES) {
      const conf = await fx.lab.remote(n).exec('cat /etc/kubernetes/kubelet.conf');
      expect(conf.stdout.match(/server: (\S+)/)?.[1], n).toBe('https://10.213.70.10:6443');
    }
    const proxy = await kubectl([
      '-n',
      'kube-system',
      'get',
      'configmap',
      'kube-proxy',
      '-o',
      'jsonpath={.data.kubeconfig\\.conf}',
    ]);
    expect(proxy.stdout).toContain('server: https://10.213.70.10:6443');
    const f = fx.lab.state.spec.timers.nodeStatusUpdateFrequencyS;
    for (const n of NODES) {
      const lease = await kubectl([
        '-n',
        'kube-node-lease',
        'get',
        'lease',
        n,
        '-o',
        'jsonpath={.spec.leaseDurationSeconds}',
      ]);
      expect(Number(lease.stdout), n).toBe(4 * f);
    }
  });

  it('`halab status` shows containerd and the kubelet on every node, and the cluster', async () => {
    await kubectl(['delete', 'namespace', NS, '--wait=false']);
    const r = await cli(fx.home, ['status', LAB, '--json'], 120_000);
    expect(r.code, r.stderr).toBe(0);
    const st = JSON.parse(r.stdout) as {
      hosts: { name: string; services: { name: string; up: boolean }[] }[];
      controlPlane?: { nodes: { name: string; ready: boolean }[] };
    };
    for (const n of NODES) {
      const svc = st.hosts.find((h) => h.name === n)!.services;
      expect(svc.filter((s) => ['containerd', 'kubelet'].includes(s.name) && s.up).length, n).toBe(2);
    }
    expect(
      st.controlPlane?.nodes
        .filter((x) => x.ready)
        .map((x) => x.name)
        .sort(),
    ).toEqual(NODES);
  });
});
