// The fast path's control plane: `kubeadm init phase control-plane all` writes the static-pod
// manifests on every master; their `command:` lists run as supervised services (no kubelet on
// the masters), with HA Lab's documented differences (steps/control-plane/flags.ts).
import { artifactDir } from '../../artifacts/kubernetes.ts';
import type { LabSpec } from '../../api/types.ts';
import type { LabContext } from '../../engine/context.ts';
import { forEachLimit, type Step } from '../../engine/runner.ts';
import type { ServiceDef } from '../../hosts/services.ts';
import { clusterHosts, masterHosts } from '../../spec/roles.ts';
import {
  CONTROL_PLANE,
  KUBEADM_CONFIG,
  KUBE_BIN,
  MANIFEST_DIR,
  adjustCommand,
  manifestCommand,
  type ControlPlaneComponent,
} from '../../steps/control-plane/flags.ts';
import { renderClusterConfig } from '../../steps/pki/kubeadm-config.ts';
import { poll } from '../../util/poll.ts';

/** kubeadm's command lines for the three components on one master (read from its manifests). */
async function kubeadmCommands(lab: LabContext, master: string): Promise<Record<ControlPlaneComponent, string[]>> {
  const r = await lab
    .remote(master)
    .exec(CONTROL_PLANE.map((c) => `echo '---halab:${c}'; cat ${MANIFEST_DIR}/${c}.yaml`).join('; '));
  const out = {} as Record<ControlPlaneComponent, string[]>;
  for (const p of r.stdout.split(/^---halab:/m).slice(1)) {
    const name = p.slice(0, p.indexOf('\n')) as ControlPlaneComponent;
    out[name] = manifestCommand(p.slice(p.indexOf('\n') + 1), name);
  }
  return out;
}

async function manifestsCurrent(lab: LabContext, master: string): Promise<boolean> {
  const want = renderClusterConfig(lab.state.spec, master);
  const r = await lab
    .remote(master)
    .exec(`cat ${KUBEADM_CONFIG} 2>/dev/null; echo '@@halab@@'; ls ${MANIFEST_DIR} 2>/dev/null`, { allowFail: true });
  const [have, ls = ''] = r.stdout.split('@@halab@@\n');
  return have === want && CONTROL_PLANE.every((c) => ls.split('\n').includes(`${c}.yaml`));
}

/** The three services of a master from kubeadm's command lines (pure). */
export function serviceDefs(spec: LabSpec, cmds: Record<ControlPlaneComponent, string[]>): ServiceDef[] {
  return CONTROL_PLANE.map((c) => ({ name: c, command: adjustCommand(c, cmds[c], spec) }));
}

export const shareBinaries: Step<LabContext> = {
  id: 'k8s:share',
  title: 'Share the Kubernetes binaries with every master and worker',
  done: async (lab) => {
    for (const h of clusterHosts(lab.state.spec)) {
      const r = await lab.remote(h.name).exec(`test -x ${KUBE_BIN}/kube-apiserver`, { allowFail: true });
      if (r.exitCode !== 0) return false;
    }
    return true;
  },
  run: async (lab) => {
    for (const h of clusterHosts(lab.state.spec)) {
      await lab.provider.shareDirectory(lab, h.name, `${artifactDir(lab.state.spec.kubernetesVersion)}/bin`, KUBE_BIN);
    }
  },
};

export const renderManifests: Step<LabContext> = {
  id: 'control-plane:manifests',
  title: 'Render the control-plane flags with `kubeadm init phase control-plane` on every master',
  done: async (lab) => {
    for (const m of masterHosts(lab.state.spec)) if (!(await manifestsCurrent(lab, m.name))) return false;
    return true;
  },
  run: async (lab, t) => {
    await forEachLimit(masterHosts(lab.state.spec), 3, async (m) => {
      if (await manifestsCurrent(lab, m.name)) return;
      const remote = lab.remote(m.name);
      await remote.exec(`mkdir -p /etc/halab ${MANIFEST_DIR}`);
      await remote.upload(KUBEADM_CONFIG, renderClusterConfig(lab.state.spec, m.name), 0o600);
      await remote.exec(`${KUBE_BIN}/kubeadm init phase control-plane all --config ${KUBEADM_CONFIG}`, {
        onLine: (l) => t.log(l, { host: m.name, level: 'debug' }),
      });
    });
  },
};

export const startControlPlane: Step<LabContext> = {
  id: 'control-plane:start',
  title: 'Start kube-apiserver, kube-controller-manager and kube-scheduler on every master',
  done: async (lab) => {
    for (const m of masterHosts(lab.state.spec)) {
      const cmds = await kubeadmCommands(lab, m.name).catch(() => undefined);
      if (!cmds) return false;
      const services = lab.services(m.name);
      for (const def of serviceDefs(lab.state.spec, cmds)) {
        const c = await services.check(def);
        if (c.state !== 'current' || !c.up) return false;
      }
    }
    return true;
  },
  run: async (lab, t) => {
    const spec = lab.state.spec;
    const apply = async (m: string, defs: ServiceDef[]) => {
      const services = lab.services(m);
      for (const def of defs) {
        const what = await services.ensure(def);
        if (what !== 'unchanged') t.log(`${def.name} ${what}`, { host: m });
      }
    };
    // a master whose control plane runs a changed definition (a master added or removed changes
    // every apiserver's --etcd-servers) is restarted one at a time, each once the one before is
    // ready again: restarted together, the apiservers would all be gone at once (an API outage)
    const plans = await Promise.all(
      masterHosts(spec).map(async (m) => {
        const defs = serviceDefs(spec, await kubeadmCommands(lab, m.name));
        const checks = await Promise.all(defs.map((d) => lab.services(m.name).check(d)));
        const running = checks.every((c) => c.state !== 'absent' && c.up);
        return { m, defs, rolling: running && checks.some((c) => c.state === 'changed') };
      }),
    );
    await forEachLimit(
      plans.filter((p) => !p.rolling),
      3,
      (p) => apply(p.m.name, p.defs),
    );
    for (const p of plans.filter((x) => x.rolling)) {
      t.log('control-plane definition changed: restarting this master alone', { host: p.m.name });
      await apply(p.m.name, p.defs);
      await poll({
        what: `the apiserver on ${p.m.name} ready again`,
        check: async () =>
          (
            await lab
              .remote(p.m.name)
              .exec(`curl -fsS -m 2 --cacert /etc/kubernetes/pki/ca.crt https://${p.m.address}:6443/readyz`, {
                allowFail: true,
                timeoutMs: 6000,
              })
          ).stdout.trim() === 'ok',
        timeoutMs: 120_000,
        intervalMs: 500,
        signal: t.signal,
        fix: `see its log: halab ssh ${p.m.name} -- tail -50 ${lab.services(p.m.name).logPath('kube-apiserver')}`,
      });
    }
  },
};
