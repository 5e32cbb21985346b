// The gates every bootstrap ends its control plane with: every apiserver ready, both HAProxies
// seeing them, the API answering through the VIP; the admin binding; the leader leases held.
import type { LabContext } from '../../engine/context.ts';
import { forEachLimit, type Step } from '../../engine/runner.ts';
import { HalabError } from '../../errors.ts';
import { shq } from '../../exec/types.ts';
import { kubectl, leases } from '../../k8s/kubectl.ts';
import { masterHosts } from '../../spec/roles.ts';
import { poll } from '../../util/poll.ts';
import { waitBackendsUp } from '../lb/status.ts';
import { createAdminBindingCommand } from '../pki/generate.ts';
import { KUBE_BIN } from './flags.ts';

/** `/readyz` of the apiserver on `master`'s own address answers ok (asked on the master). */
export async function apiserverReady(lab: LabContext, master: string, timeoutMs = 5000): Promise<boolean> {
  const m = lab.state.spec.hosts.find((h) => h.name === master)!;
  const r = await lab
    .remote(master)
    .exec(`curl -fsS -m 2 --cacert /etc/kubernetes/pki/ca.crt https://${m.address}:6443/readyz`, {
      allowFail: true,
      timeoutMs,
    });
  return r.exitCode === 0 && r.stdout.trim() === 'ok';
}

async function apiViaVip(lab: LabContext): Promise<string> {
  const r = await kubectl(lab, ['get', '--raw', '/readyz'], { allowFail: true });
  return r.stdout.trim() === 'ok' ? 'ok' : `${r.stdout}${r.stderr}`.trim();
}

export const controlPlaneReady: Step<LabContext> = {
  id: 'control-plane:ready',
  title: 'Wait for every apiserver to be ready, for both HAProxies to see them, and for the VIP to answer',
  done: async (lab) => {
    if ((await apiViaVip(lab)) !== 'ok') return false;
    for (const m of masterHosts(lab.state.spec)) if (!(await apiserverReady(lab, m.name))) return false;
    return true;
  },
  run: async (lab, t) => {
    const masters = masterHosts(lab.state.spec);
    let n = 0;
    await forEachLimit(masters, 3, async (m) => {
      await poll({
        what: `kube-apiserver on ${m.name} ready (/readyz)`,
        check: () => apiserverReady(lab, m.name),
        timeoutMs: 180_000,
        signal: t.signal,
        fix: `see its log: halab ssh ${m.name} -- tail -50 ${lab.bootstrap.components.logPath(lab, m.name, 'kube-apiserver')}`,
      });
      t.progress(++n, masters.length, `${m.name} ready`);
    });
    await waitBackendsUp(lab, masters.length, 60_000);
    let last = '';
    await poll({
      what: 'the API through the VIP (/readyz)',
      check: async () => (last = await apiViaVip(lab)) === 'ok',
      timeoutMs: 60_000,
      signal: t.signal,
      fix: 'check `halab status`: the VIP holder and its HAProxy backends',
      detail: () => last,
    });
  },
};

export const adminBinding: Step<LabContext> = {
  id: 'control-plane:rbac',
  title: "Bind the admin kubeconfig's group to cluster-admin (what `kubeadm init` does)",
  done: async (lab) =>
    (await kubectl(lab, ['get', 'clusterrolebinding', 'kubeadm:cluster-admins'], { allowFail: true })).exitCode === 0,
  run: async (lab) => {
    const m = masterHosts(lab.state.spec)[0]!.name;
    const [, ...args] = createAdminBindingCommand();
    const r = await lab.remote(m).exec([`${KUBE_BIN}/kubectl`, ...args].map(shq).join(' '), { allowFail: true });
    if (r.exitCode !== 0 && !/AlreadyExists/.test(r.stderr)) {
      throw new HalabError('RBAC_FAILED', `cannot create the admin binding: ${r.stderr.trim()}`);
    }
  },
};

export const leaderLeases: Step<LabContext> = {
  id: 'control-plane:leaders',
  title: 'Wait for the controller-manager and scheduler leader leases',
  done: async (lab) => (await leases(lab)).every((l) => !!l.holder),
  run: async (lab, t) => {
    await poll({
      what: 'both leader leases held',
      check: async () => (await leases(lab)).every((l) => !!l.holder),
      timeoutMs: 90_000,
      signal: t.signal,
    });
  },
};

/** Whether the API answers `/readyz` through the VIP within `timeoutMs` (never throws). */
async function apiReady(lab: LabContext, timeoutMs: number): Promise<boolean> {
  const r = await kubectl(lab, ['get', '--raw', '/readyz'], { allowFail: true, timeoutMs }).catch(() => undefined);
  return r?.stdout.trim() === 'ok';
}

/**
 * In an `up` of a lab that already has a control plane (a `start`, a power on): wait (at most
 * 2 min) for the API through the VIP, which comes back by itself once what runs the apiservers is
 * up again, before the steps that ask it. Each bootstrap lists it where that is so (fast: after
 * the load balancers, its apiservers start with their hosts; kubeadm: after the kubelets are
 * started). Skipped on a new lab (no control plane yet) and when the API already answers. Not
 * fatal: an API that stays away is what the later steps may repair, and their errors say why.
 */
export const apiBack: Step<LabContext> = {
  id: 'lab:api-back',
  title: 'A lab started again: wait for its API to come back through the VIP (nothing to do on a new lab)',
  // done when the API already answers (one quick ask)
  done: async (lab) => !lab.bootstrap.hasControlPlane(lab.state) || (await apiReady(lab, 5000)),
  run: async (lab, t) => {
    const ready = () => apiReady(lab, 10_000);
    const t0 = Date.now();
    const ok = await poll({
      what: 'the API',
      check: ready,
      timeoutMs: 120_000,
      intervalMs: 1000,
      signal: t.signal,
    }).then(
      () => true,
      () => false,
    );
    if (ok) t.log(`the API answers through the VIP (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    else
      t.log('the API does not answer through the VIP after 2 min: going on (the next steps may repair it)', {
        level: 'warn',
      });
  },
};
