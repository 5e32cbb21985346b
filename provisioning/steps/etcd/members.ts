// The etcd members: one supervised service per master, data on disk A. New members start
// together (they wait for each other to form the cluster); a running member whose definition
// changed is restarted one at a time, each after the cluster is healthy again; a member that
// runs the current definition is not touched.
import type { LabContext } from '../../engine/context.ts';
import { forEachLimit, type Step, type StepTools } from '../../engine/runner.ts';
import { HalabError } from '../../errors.ts';
import type { ServiceCheck } from '../../hosts/services.ts';
import { masterHosts } from '../../spec/roles.ts';
import { clusterHealthy, etcdEndpointsStatus, waitEtcdHealthy } from './etcdctl.ts';
import { ETCD_DISK, etcdServiceDef } from './render.ts';

async function diskMounted(lab: LabContext, master: string): Promise<boolean> {
  const r = await lab.remote(master).exec(`mountpoint -q ${ETCD_DISK}`, { allowFail: true, timeoutMs: 15_000 });
  return r.exitCode === 0;
}

/** done() of the member step: every master has disk A and runs the current definition. */
export async function etcdMembersConverged(lab: LabContext): Promise<boolean> {
  for (const m of masterHosts(lab.state.spec)) {
    if (!(await diskMounted(lab, m.name))) return false;
    const c = await lab.services(m.name).check(etcdServiceDef(lab.state.spec, m.name));
    if (c.state !== 'current' || !c.up) return false;
  }
  return true;
}

/** Install or refresh the etcd service on every master (see the file's header). */
export async function installEtcdMembers(lab: LabContext, t: Pick<StepTools, 'log' | 'signal'>): Promise<void> {
  const spec = lab.state.spec;
  const masters = masterHosts(spec).map((m) => m.name);
  const checks = new Map<string, ServiceCheck>();
  for (const m of masters) {
    if (!(await diskMounted(lab, m))) {
      throw new HalabError('ETCD_NO_DISK', `${m} has no disk mounted at ${ETCD_DISK}`, {
        fix: 'run `halab up` again: the provider step mounts it',
      });
    }
    checks.set(m, await lab.services(m).check(etcdServiceDef(spec, m)));
  }
  const rolling = masters.filter((m) => checks.get(m)!.state === 'changed' && checks.get(m)!.up);
  await forEachLimit(
    masters.filter((m) => !rolling.includes(m)),
    3,
    async (m) => {
      const what = await lab.services(m).ensure(etcdServiceDef(spec, m));
      if (what === 'installed') t.log('installing etcd', { host: m });
      else if (what === 'updated') t.log('etcd definition changed (service down): rewritten and started', { host: m });
      else if (what === 'started') t.log('etcd was stopped: started it', { host: m });
    },
  );
  for (const m of rolling) {
    t.log('etcd definition changed: restarting this member alone', { host: m });
    await waitEtcdHealthy(lab, { signal: t.signal, timeoutMs: 120_000 });
    await lab.services(m).ensure(etcdServiceDef(spec, m));
  }
}

export const etcdMembers: Step<LabContext> = {
  id: 'etcd:members',
  title: 'Run one etcd member per master (supervised, mutual TLS, data on disk A)',
  done: async (lab) => etcdMembersConverged(lab),
  run: async (lab, t) => installEtcdMembers(lab, t),
};

export const etcdHealthy: Step<LabContext> = {
  id: 'etcd:healthy',
  title: 'Wait until every etcd member is healthy and there is a leader',
  done: async (lab) => clusterHealthy(await etcdEndpointsStatus(lab).catch(() => [])),
  run: async (lab, t) => {
    const members = await waitEtcdHealthy(lab, { signal: t.signal, log: (m) => t.log(m) });
    const leader = members.find((m) => m.isLeader);
    t.log(`etcd healthy: ${members.map((m) => m.name).join(', ')}; leader ${leader?.name} (term ${leader?.raftTerm})`);
  },
};
