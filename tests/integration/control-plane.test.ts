// Issue "HA control plane": `halab up` on the reference layout ends with a working HA cluster,
// every client through the VIP; snapshots are scheduled and verified; a broken LB template stops
// `up` with the validator's message and leaves nothing; `halab down` leaves nothing.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineEvent } from '../../provisioning/api/types.ts';
import { loadSpec } from '../../provisioning/cli/spec-input.ts';
import { LabHandle, labPlan, up } from '../../provisioning/engine/lab.ts';
import { breakConfig } from '../../provisioning/steps/lb/index.ts';
import { kubectl, kubectlJson, kubectlPath, leases, nodes } from '../../provisioning/k8s/kubectl.ts';
import { etcdctl } from '../../provisioning/steps/etcd/index.ts';
import { vrrpStates, waitBackendsUp } from '../../provisioning/steps/lb/status.ts';
import { listSnapshots } from '../../provisioning/snapshots/index.ts';
import { cli, freshHome, leaks, removeHome, saveLabLog, skipUnlessRoot, writeSpec } from './helpers.ts';
import { netnsHost } from '../../provisioning/providers/netns/index.ts';

const skip = skipUnlessRoot();
const LAB = 'itcp';
// the reference layout in a subnet of our own, with a short snapshot interval so the schedule can be seen
// the fast bootstrap's control plane (supervised processes, hollow kubelets)
const SPEC = `name: ${LAB}\nsubnet: 10.213.62.0/24\nbootstrap: fast\nsnapshots: { intervalS: 15, retain: 3 }\n`;
const BROKEN = 'itbroken';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// the user's kubeconfig before `up` (KUBECONFIG points at a file in this test's home: see freshHome)
const OTHER_CONTEXT = {
  clusters: [{ name: 'kind-dev', cluster: { server: 'https://127.0.0.1:40000' } }],
  users: [{ name: 'kind-dev', user: { token: 'abc' } }],
  contexts: [{ name: 'kind-dev', context: { cluster: 'kind-dev', user: 'kind-dev', namespace: 'apps' } }],
};
type Kubeconfig = typeof OTHER_CONTEXT & { 'current-context'?: string };
const readKubeconfig = () => parse(readFileSync(process.env.KUBECONFIG!, 'utf8')) as Kubeconfig;
const entriesNamed = (k: Kubeconfig, name: string) => ({
  clusters: k.clusters.filter((c) => c.name === name),
  users: k.users.filter((u) => u.name === name),
  contexts: k.contexts.filter((c) => c.name === name),
});

describe.skipIf(!!skip)('control plane on the netns lab', () => {
  let home = '';
  let lab: LabHandle;
  let upStdout = '';

  beforeAll(async () => {
    home = freshHome('cp');
    mkdirSync(join(home, 'kube'), { recursive: true });
    writeFileSync(
      process.env.KUBECONFIG!,
      `# someone's kubeconfig\n${JSON.stringify({ apiVersion: 'v1', kind: 'Config', ...OTHER_CONTEXT, 'current-context': 'kind-dev' }, null, 2)}\n`,
    );
    const r = await cli(home, ['up', writeSpec(home, 'lab.yaml', SPEC), '--json'], 540_000);
    upStdout = r.stdout;
    if (r.code !== 0) throw new Error(`halab up failed (${r.code}):\n${r.stderr}\n${r.stdout.slice(-3000)}`);
    lab = await LabHandle.open(LAB);
  });

  afterAll(async () => {
    await lab?.close();
    saveLabLog(home, LAB);
    const r = await cli(home, ['down', LAB]);
    const left = leaks(home, LAB);
    await cli(home, ['down', BROKEN]);
    // `down` removed the lab's context (and current-context, which was it); the other one is as it was
    const kc = readKubeconfig();
    removeHome(home);
    expect(r.code, r.stderr).toBe(0);
    expect(left).toEqual([]);
    expect(entriesNamed(kc, `halab-${LAB}`)).toEqual({ clusters: [], users: [], contexts: [] });
    expect(kc['current-context']).toBeUndefined();
    expect(entriesNamed(kc, 'kind-dev')).toEqual(OTHER_CONTEXT);
  });

  it('`up` merged the context halab-<lab> into the default kubeconfig: plain `kubectl get nodes` answers', async () => {
    const kc = readKubeconfig();
    expect(kc['current-context']).toBe(`halab-${LAB}`);
    expect(entriesNamed(kc, 'kind-dev')).toEqual(OTHER_CONTEXT);
    // no flags, no --kubeconfig: only KUBECONFIG (this test's "default" file) in the environment,
    // and HOME for kubectl's discovery cache (without one it writes ./.kube into the checkout)
    const { stdout } = await promisify(execFile)(kubectlPath(lab.state), ['get', 'nodes'], {
      env: { PATH: process.env.PATH, KUBECONFIG: process.env.KUBECONFIG, HOME: home },
      timeout: 30_000,
    });
    const rows = stdout.trim().split('\n').slice(1);
    expect(rows.map((r) => r.split(/\s+/).slice(0, 2).join(' ')).sort()).toEqual(['w1 Ready', 'w2 Ready']);
  });

  it('the API answers through the VIP, and kubeconfigs point at the VIP', async () => {
    const r = await kubectl(lab, ['get', '--raw', '/readyz']);
    expect(r.stdout.trim()).toBe('ok');
    const admin = readFileSync(join(lab.dir, 'pki', 'kubeconfig', 'admin.conf'), 'utf8');
    expect(admin).toContain('server: https://10.213.62.10:6443');
    for (const m of ['m1', 'm2', 'm3']) {
      const conf = await lab
        .remote(m)
        .exec('grep -h server: /etc/kubernetes/controller-manager.conf /etc/kubernetes/scheduler.conf');
      expect(
        conf.stdout
          .trim()
          .split('\n')
          .map((l) => l.trim()),
      ).toEqual(['server: https://10.213.62.10:6443', 'server: https://10.213.62.10:6443']);
    }
    const w = await lab.remote('w1').exec('grep server: /etc/kubernetes/kubelet.conf');
    expect(w.stdout.trim()).toBe('server: https://10.213.62.10:6443');
  });

  it('etcd: 3 healthy members with TLS, data on disk A', async () => {
    const out = await etcdctl(lab, 'm1', ['endpoint', 'health', '--cluster', '-w', 'json']);
    const health = JSON.parse(out) as { endpoint: string; health: boolean }[];
    expect(health).toHaveLength(3);
    expect(health.every((h) => h.health)).toBe(true);
    const d = await lab.remote('m2').exec('findmnt -n -o SOURCE /var/lib/etcd; ls /var/lib/etcd/data/member');
    expect(d.stdout).toMatch(/^\/dev\/loop\d+\n/);
    expect(d.stdout).toContain('snap');
    expect(d.stdout).toContain('wal');
  });

  it('the VIP is on lb1 only, and both HAProxies see 3 apiservers up', async () => {
    const v = await vrrpStates(lab);
    expect(v.find((x) => x.lb === 'lb1')).toMatchObject({ hasVip: true, state: 'MASTER' });
    expect(v.find((x) => x.lb === 'lb2')).toMatchObject({ hasVip: false, state: 'BACKUP' });
    // a loaded machine can make one apiserver's /readyz miss a check for a moment: let both
    // HAProxies settle (at most a minute), then look at the views that showed it (reading
    // them again could catch the next miss)
    const views = await waitBackendsUp(lab, 3, 60_000);
    for (const lb of ['lb1', 'lb2']) {
      const b = views[lb]!;
      expect(b.map((x) => x.server).sort()).toEqual(['m1', 'm2', 'm3']);
      expect(b.filter((x) => x.up)).toHaveLength(3);
    }
    // keepalived talks unicast to its peer, never multicast
    const conf = await lab.remote('lb1').exec('cat /etc/keepalived/keepalived.conf');
    expect(conf.stdout).toContain('unicast_peer');
    expect(conf.stdout).toContain('10.213.62.12');
  });

  it('both leader leases are held by masters, both hollow nodes are Ready', async () => {
    const ls = await leases(lab);
    expect(ls.map((l) => l.name)).toEqual(['kube-controller-manager', 'kube-scheduler']);
    for (const l of ls) expect(l.holder?.split('_')[0]).toMatch(/^m[123]$/);
    const ns = await nodes(lab);
    expect(ns.map((n) => n.name).sort()).toEqual(['w1', 'w2']);
    expect(ns.every((n) => n.ready)).toBe(true);
  });

  it('a Deployment of 4 replicas runs, spread over both workers', async () => {
    const manifest = JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: 4,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            topologySpreadConstraints: [
              {
                maxSkew: 1,
                topologyKey: 'kubernetes.io/hostname',
                whenUnsatisfiable: 'DoNotSchedule',
                labelSelector: { matchLabels: { app: 'web' } },
              },
            ],
            containers: [{ name: 'web', image: 'registry.k8s.io/pause:3.10' }],
          },
        },
      },
    });
    await kubectl(lab, ['apply', '-f', '-'], { input: manifest, timeoutMs: 60_000, requestTimeoutS: 20 });
    let pods: { spec: { nodeName?: string }; status: { phase: string } }[] = [];
    for (let i = 0; i < 60; i++) {
      pods = (await kubectlJson<{ items: typeof pods }>(lab, ['get', 'pods', '-l', 'app=web'])).items;
      if (pods.length === 4 && pods.every((p) => p.status.phase === 'Running')) break;
      await sleep(1000);
    }
    expect(pods).toHaveLength(4);
    expect(pods.every((p) => p.status.phase === 'Running')).toBe(true);
    const perNode = pods.reduce<Record<string, number>>(
      (acc, p) => ({ ...acc, [p.spec.nodeName!]: (acc[p.spec.nodeName!] ?? 0) + 1 }),
      {},
    );
    expect(perNode).toEqual({ w1: 2, w2: 2 });
  });

  it('scheduled snapshots appear on disk B of each master and pass `snapshot status`', async () => {
    let list = await listSnapshots(lab);
    for (let i = 0; i < 40 && new Set(list.filter((s) => s.status === 'good').map((s) => s.master)).size < 3; i++) {
      await sleep(1000);
      list = await listSnapshots(lab);
    }
    for (const m of ['m1', 'm2', 'm3']) {
      const good = list.filter((s) => s.master === m && s.status === 'good');
      expect(good.length, `${m}: ${JSON.stringify(list)}`).toBeGreaterThan(0);
      expect(good[0]!.file.startsWith('/var/lib/etcd-snapshots/')).toBe(true);
      expect(good[0]!.revision).toBeGreaterThan(0);
      // really on disk B: the snapshot disk's own filesystem
      const df = await lab.remote(m).exec(`findmnt -n -o SOURCE --target ${good[0]!.file}`);
      expect(df.stdout.trim()).toBe(netnsHost(lab.state, m).disks.find((d) => d.name === 'etcd-snapshots')!.loopDevice);
    }
  });

  it('a truncated snapshot is reported bad, never listed as good', async () => {
    const r = await cli(home, ['snapshot', 'save', '--lab', LAB, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const saved = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(saved.status).toBe('good');
    await lab.remote(saved.master).exec(`truncate -s 4096 ${saved.file}`);
    const list = await listSnapshots(lab);
    const entry = list.find((s) => s.master === saved.master && s.file === saved.file);
    expect(entry?.status).toBe('bad');
    expect(entry?.error).toBeTruthy();
    const text = await cli(home, ['snapshot', 'list', '--lab', LAB]);
    expect(text.stdout).toMatch(new RegExp(`${saved.file.replace(/[.]/g, '\\.')}.*BAD`));
  });

  it('`halab status --json` reports the whole control plane', async () => {
    const r = await cli(home, ['status', LAB, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const st = JSON.parse(r.stdout);
    expect(st.controlPlane.vipHolder).toBe('lb1');
    expect(st.controlPlane.apiViaVip).toBe(true);
    expect(st.controlPlane.etcd.filter((m: { healthy: boolean }) => m.healthy)).toHaveLength(3);
    expect(st.controlPlane.etcdLeader).toMatch(/^m[123]$/);
    expect(st.controlPlane.apiservers.every((a: { ready: boolean }) => a.ready)).toBe(true);
    expect(st.controlPlane.lastGoodSnapshot.file).toMatch(/^\/var\/lib\/etcd-snapshots\/snap-/);
    expect(st.controlPlane.nodes.every((n: { ready: boolean }) => n.ready)).toBe(true);
    const m1 = st.hosts.find((h: { name: string }) => h.name === 'm1');
    expect(m1.services.map((s: { name: string }) => s.name)).toEqual(
      expect.arrayContaining(['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler']),
    );
  });

  it('`halab up` on the ready lab changes nothing', async () => {
    const before = JSON.parse((await cli(home, ['status', LAB, '--json'])).stdout);
    const r = await cli(home, ['up', join(home, 'lab.yaml'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const ends = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((e) => e.type === 'step:end');
    // only the pure checks (gates, which have nothing to skip) run again
    const ran = ends.filter((e) => e.status !== 'skipped').map((e) => e.stepId);
    expect(ran.filter((id) => !['netns:ssh', 'lb:ready', 'etcd:data-check'].includes(id))).toEqual([]);
    expect(ends.length).toBeGreaterThan(15);
    const after = JSON.parse((await cli(home, ['status', LAB, '--json'])).stdout);
    // no service restarted, same pids
    for (const h of before.hosts) {
      const a = after.hosts.find((x: { name: string }) => x.name === h.name);
      for (const s of h.services) {
        const s2 = a.services.find((x: { name: string }) => x.name === s.name);
        expect(s2.pid, `${h.name}/${s.name}`).toBe(s.pid);
      }
    }
    void upStdout;
  });

  it('`halab up` brings back a worker whose hollow kubelet was stopped', async () => {
    const lab = await LabHandle.open(LAB);
    try {
      await lab
        .remote('w1')
        .exec('s6-svc -d /run/halab/service/kubelet && s6-svwait -D -t 10000 /run/halab/service/kubelet');
      // the node controller marks it NotReady after the grace period
      const t0 = Date.now();
      while (
        Date.now() - t0 < 90_000 &&
        (await nodes(lab).catch(() => [])).find((n) => n.name === 'w1')?.ready !== false
      )
        await sleep(1000);
      expect((await nodes(lab)).find((n) => n.name === 'w1')?.ready).toBe(false);
    } finally {
      await lab.close();
    }
    const r = await cli(home, ['up', join(home, 'lab.yaml'), '--json'], 400_000);
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const step = events.filter((e) => e.type === 'step:end' && e.stepId === 'workers:hollow-nodes');
    expect(step.map((e) => e.status)).toEqual(['done']);
    // the service manager starts what was stopped on purpose (and nothing else on w2)
    expect(events.some((e) => e.type === 'step:log' && e.host === 'w1' && e.message === 'hollow kubelet started')).toBe(
      true,
    );
    expect(events.some((e) => e.type === 'step:log' && e.host === 'w2' && /hollow kubelet/.test(e.message))).toBe(
      false,
    );
    const lab2 = await LabHandle.open(LAB);
    try {
      expect((await nodes(lab2)).map((n) => `${n.name}:${n.ready}`).sort()).toEqual(['w1:true', 'w2:true']);
    } finally {
      await lab2.close();
    }
  });

  it('`halab kubeconfig` writes an admin kubeconfig for the VIP', async () => {
    const out = join(home, 'admin.conf');
    const r = await cli(home, ['kubeconfig', LAB, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain('server: https://10.213.62.10:6443');
  });

  for (const tool of ['haproxy', 'keepalived'] as const) {
    it(`a broken ${tool} template stops \`up\` with the validator's message and leaves nothing running`, async () => {
      const { spec } = await loadSpec(
        writeSpec(home, `broken-${tool}.yaml`, `name: ${BROKEN}\nsubnet: 10.213.63.0/24\n`),
      );
      const events: EngineEvent[] = [];
      const res = await up(spec, { emit: (e) => events.push(e), plan: labPlan(spec, { lb: breakConfig(tool) }) });
      expect(res.ok).toBe(false);
      expect(res.error?.message).toContain(tool === 'haproxy' ? 'haproxy -c' : 'keepalived -t');
      expect(res.error?.details).toContain('halab-test-break-invalid-keyword');
      expect(events.some((e) => e.type === 'step:log' && e.message.includes('removing the half-built lab'))).toBe(true);
      expect(leaks(home, BROKEN)).toEqual([]);
    });
  }
});
