// The Kubernetes control plane on the masters (fast path: kubeadm's flags, s6 instead of a
// kubelet), hollow nodes on the workers, and the gates that say the cluster is ready.
import type { LabSpec } from '../../api/types.ts';
import { artifactDir, checkArtifacts, ensureArtifacts } from '../../artifacts/kubernetes.ts';
import { forEachLimit, type Step, type StepTools } from '../../engine/runner.ts';
import { HalabError } from '../../errors.ts';
import { shq } from '../../exec/types.ts';
import { Supervisor } from '../../hosts/supervisor.ts';
import { kubectl, leases, nodes } from '../../k8s/kubectl.ts';
import type { LabContext } from '../../providers/types.ts';
import { createAdminBindingCommand, masterHosts, renderClusterConfig, workerHosts } from '../pki/index.ts';
import { waitBackendsUp } from '../lb/status.ts';
import {
  CONTROL_PLANE, KUBEADM_CONFIG, KUBE_BIN, MANIFEST_DIR, adjustCommand, hollowNodeCommand, manifestCommand,
  type ControlPlaneComponent,
} from './flags.ts';

export * from './flags.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A worker node not Ready this long after its hollow kubelet started gets one restart of it. */
export const HOLLOW_RESTART_AFTER_MS = 45_000;

async function until(what: string, fn: () => Promise<boolean>, timeoutMs: number, t: Pick<StepTools, 'signal'>, fix?: string, detail?: () => string) {
  const t0 = Date.now();
  for (;;) {
    if (await fn().catch(() => false)) return;
    if (t.signal.aborted) throw new HalabError('CANCELLED', `${what}: cancelled`);
    if (Date.now() - t0 > timeoutMs) {
      throw new HalabError('TIMEOUT', `${what}: not reached within ${Math.round(timeoutMs / 1000)} s`, { fix, details: detail?.() });
    }
    await sleep(250);
  }
}

/** kubeadm's command lines for the three components on one master (read from its manifests). */
async function kubeadmCommands(ctx: LabContext, master: string): Promise<Record<ControlPlaneComponent, string[]>> {
  const r = await ctx.remote(master).exec(CONTROL_PLANE.map((c) => `echo '---halab:${c}'; cat ${MANIFEST_DIR}/${c}.yaml`).join('; '));
  const parts = r.stdout.split(/^---halab:/m).slice(1);
  const out = {} as Record<ControlPlaneComponent, string[]>;
  for (const p of parts) {
    const name = p.slice(0, p.indexOf('\n')) as ControlPlaneComponent;
    out[name] = manifestCommand(p.slice(p.indexOf('\n') + 1), name);
  }
  return out;
}

async function manifestsCurrent(ctx: LabContext, master: string): Promise<boolean> {
  const want = renderClusterConfig(ctx.state.spec, master);
  const r = await ctx.remote(master).exec(`cat ${KUBEADM_CONFIG} 2>/dev/null; echo '@@halab@@'; ls ${MANIFEST_DIR} 2>/dev/null`, { allowFail: true });
  const [have, ls = ''] = r.stdout.split('@@halab@@\n');
  return have === want && CONTROL_PLANE.every((c) => ls.split('\n').includes(`${c}.yaml`));
}

export function serviceDefs(spec: LabSpec, cmds: Record<ControlPlaneComponent, string[]>) {
  return CONTROL_PLANE.map((c) => ({ name: c, command: adjustCommand(c, cmds[c], spec) }));
}

async function apiserverReady(ctx: LabContext, master: string): Promise<boolean> {
  const m = ctx.state.spec.hosts.find((h) => h.name === master)!;
  const r = await ctx.remote(master).exec(
    `curl -fsS -m 2 --cacert /etc/kubernetes/pki/ca.crt https://${m.address}:6443/readyz`, { allowFail: true, timeoutMs: 5000 });
  return r.exitCode === 0 && r.stdout.trim() === 'ok';
}

/** The Kubernetes binaries on this machine (downloaded or built once, cached per version). */
export function artifactSteps(_spec: LabSpec): Step<LabContext>[] {
  return [{
    id: 'k8s:artifacts',
    title: 'Kubernetes binaries at the pinned version on this machine',
    done: async (ctx) => checkArtifacts(ctx.state.spec.kubernetesVersion).every((a) => a.ok),
    run: async (ctx, t) => {
      const v = ctx.state.spec.kubernetesVersion;
      t.log(`Kubernetes ${v} binaries are not cached: getting them (the first build takes a while)`, { level: 'warn' });
      await ensureArtifacts({ version: v, onLog: (l) => t.log(l, { level: 'debug' }), signal: t.signal });
    },
  }];
}

/** Control plane on the masters, up to the VIP answering. */
export function controlPlaneSteps(spec: LabSpec): Step<LabContext>[] {
  return allControlPlaneSteps(spec).filter((s) => !s.id.startsWith('workers:') && s.id !== 'control-plane:leaders');
}

/** Hollow nodes on the workers, then the leader leases. */
export function workerSteps(spec: LabSpec): Step<LabContext>[] {
  return allControlPlaneSteps(spec).filter((s) => s.id.startsWith('workers:') || s.id === 'control-plane:leaders');
}

function allControlPlaneSteps(_spec: LabSpec): Step<LabContext>[] {
  return [
    {
      id: 'k8s:share',
      title: 'Share the Kubernetes binaries with every master and worker',
      done: async (ctx) => {
        for (const h of ctx.state.spec.hosts.filter((x) => x.role !== 'lb')) {
          const r = await ctx.remote(h.name).exec(`test -x ${KUBE_BIN}/kube-apiserver`, { allowFail: true });
          if (r.exitCode !== 0) return false;
        }
        return true;
      },
      run: async (ctx) => {
        for (const h of ctx.state.spec.hosts.filter((x) => x.role !== 'lb')) {
          await ctx.provider.shareDirectory(ctx, h.name, `${artifactDir(ctx.state.spec.kubernetesVersion)}/bin`, KUBE_BIN);
        }
      },
    },
    {
      id: 'control-plane:manifests',
      title: 'Render the control-plane flags with `kubeadm init phase control-plane` on every master',
      done: async (ctx) => {
        for (const m of masterHosts(ctx.state.spec)) if (!(await manifestsCurrent(ctx, m.name))) return false;
        return true;
      },
      run: async (ctx, t) => {
        await forEachLimit(masterHosts(ctx.state.spec), 3, async (m) => {
          if (await manifestsCurrent(ctx, m.name)) return;
          const remote = ctx.remote(m.name);
          await remote.exec(`mkdir -p /etc/halab ${MANIFEST_DIR}`);
          await remote.upload(KUBEADM_CONFIG, renderClusterConfig(ctx.state.spec, m.name), 0o600);
          await remote.exec(`${KUBE_BIN}/kubeadm init phase control-plane all --config ${KUBEADM_CONFIG}`, {
            onLine: (l) => t.log(l, { host: m.name, level: 'debug' }),
          });
        });
      },
    },
    {
      id: 'control-plane:start',
      title: 'Start kube-apiserver, kube-controller-manager and kube-scheduler on every master',
      done: async (ctx) => {
        for (const m of masterHosts(ctx.state.spec)) {
          const cmds = await kubeadmCommands(ctx, m.name).catch(() => undefined);
          if (!cmds) return false;
          const st = await new Supervisor(ctx.remote(m.name)).status();
          for (const def of serviceDefs(ctx.state.spec, cmds)) {
            if (!st.find((s) => s.name === def.name && s.up)) return false;
          }
          // same command lines as now rendered?
          const r = await ctx.remote(m.name).exec(CONTROL_PLANE.map((c) => `cat /etc/halab/sv/${c}/run`).join('; '), { allowFail: true });
          for (const def of serviceDefs(ctx.state.spec, cmds)) if (!r.stdout.includes(def.command.map(shq).join(' '))) return false;
        }
        return true;
      },
      run: async (ctx, t) => {
        await forEachLimit(masterHosts(ctx.state.spec), 3, async (m) => {
          const cmds = await kubeadmCommands(ctx, m.name);
          const sv = new Supervisor(ctx.remote(m.name));
          for (const def of serviceDefs(ctx.state.spec, cmds)) {
            const what = await sv.ensure(def);
            if (what !== 'unchanged') t.log(`${def.name} ${what}`, { host: m.name });
          }
        });
      },
    },
    {
      id: 'control-plane:ready',
      title: 'Wait for every apiserver to be ready, for both HAProxies to see them, and for the VIP to answer',
      done: async (ctx) => {
        const r = await kubectl(ctx, ['get', '--raw', '/readyz'], { allowFail: true });
        if (r.stdout.trim() !== 'ok') return false;
        for (const m of masterHosts(ctx.state.spec)) if (!(await apiserverReady(ctx, m.name))) return false;
        return true;
      },
      run: async (ctx, t) => {
        const masters = masterHosts(ctx.state.spec);
        let n = 0;
        await forEachLimit(masters, 3, async (m) => {
          await until(`kube-apiserver on ${m.name} ready (/readyz)`, () => apiserverReady(ctx, m.name), 180_000, t,
            `see its log: halab ssh ${m.name} -- tail -50 /var/log/halab/kube-apiserver/current`);
          t.progress(++n, masters.length, `${m.name} ready`);
        });
        await waitBackendsUp(ctx, masters.length, 60_000);
        let last = '';
        await until('the API through the VIP (/readyz)', async () => {
          const r = await kubectl(ctx, ['get', '--raw', '/readyz'], { allowFail: true });
          last = `${r.stdout}${r.stderr}`.trim();
          return r.stdout.trim() === 'ok';
        }, 60_000, t, 'check `halab status`: the VIP holder and its HAProxy backends', () => last);
      },
    },
    {
      id: 'control-plane:rbac',
      title: 'Bind the admin kubeconfig\'s group to cluster-admin (what `kubeadm init` does)',
      done: async (ctx) => (await kubectl(ctx, ['get', 'clusterrolebinding', 'kubeadm:cluster-admins'], { allowFail: true })).exitCode === 0,
      run: async (ctx) => {
        const m = masterHosts(ctx.state.spec)[0]!.name;
        const [, ...args] = createAdminBindingCommand();
        const r = await ctx.remote(m).exec([`${KUBE_BIN}/kubectl`, ...args].map(shq).join(' '), { allowFail: true });
        if (r.exitCode !== 0 && !/AlreadyExists/.test(r.stderr)) {
          throw new HalabError('RBAC_FAILED', `cannot create the admin binding: ${r.stderr.trim()}`);
        }
      },
    },
    {
      id: 'workers:hollow-nodes',
      title: 'Start a hollow node (kubemark: real kubelet code, fake runtime) on every worker, registered through the VIP',
      done: async (ctx) => {
        const want = workerHosts(ctx.state.spec).map((w) => w.name);
        const ns = await nodes(ctx).catch(() => []);
        return want.every((w) => ns.find((n) => n.name === w)?.ready);
      },
      run: async (ctx, t) => {
        const workers = workerHosts(ctx.state.spec);
        for (const w of workers) {
          const what = await new Supervisor(ctx.remote(w.name)).ensure({ name: 'kubelet', command: hollowNodeCommand(w.name) });
          if (what !== 'unchanged') t.log(`hollow kubelet ${what}`, { host: w.name });
        }
        let state = '';
        const started = Date.now();
        const restarted = new Set<string>();
        await until('every worker node Ready', async () => {
          const ns = await nodes(ctx);
          state = ns.map((n) => `${n.name}:${n.ready ? 'Ready' : n.reason ?? 'NotReady'}`).join(' ');
          t.progress(ns.filter((n) => n.ready).length, workers.length, state);
          // a kubelet whose Node is not registered about 23 s after it starts gives up on its
          // CSINode and stays NotReady for good ("failed to initialize CSINode"); on a loaded
          // machine a hollow one can be that slow. Restarted once, it finds its Node and goes on.
          if (Date.now() - started > HOLLOW_RESTART_AFTER_MS) {
            for (const w of workers) {
              if (ns.find((n) => n.name === w.name)?.ready || restarted.has(w.name)) continue;
              restarted.add(w.name);
              t.log(`not Ready ${Math.round((Date.now() - started) / 1000)} s after its start: restarting the hollow kubelet once`, { host: w.name, level: 'warn' });
              const sv = new Supervisor(ctx.remote(w.name));
              await sv.start('kubelet'); // wanted up, whatever someone did to it
              await sv.restart('kubelet');
            }
          }
          return workers.every((w) => ns.find((n) => n.name === w.name)?.ready);
        }, 120_000, t, 'see the hollow kubelet log: halab ssh w1 -- tail -50 /var/log/halab/kubelet/current', () => state);
      },
    },
    {
      id: 'control-plane:leaders',
      title: 'Wait for the controller-manager and scheduler leader leases',
      done: async (ctx) => (await leases(ctx)).every((l) => !!l.holder),
      run: async (ctx, t) => {
        await until('both leader leases held', async () => (await leases(ctx)).every((l) => !!l.holder), 90_000, t);
      },
    },
  ];
}
