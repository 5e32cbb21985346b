// A 3-member (one per master) etcd cluster with mutual TLS, supervised by s6, data on disk A.

import { createHash } from 'node:crypto';
import type { LabSpec } from '../../api/types.ts';
import { forEachLimit, type Step, type StepTools } from '../../engine/runner.ts';
import { HalabError } from '../../errors.ts';
import { SCAN_DIR, SV_DIR, Supervisor, serviceFiles } from '../../hosts/supervisor.ts';
import type { LabContext } from '../../providers/types.ts';
import { masterHosts } from '../pki/kubeadm-config.ts';
import { clusterHealthy, etcdEndpointsStatus, waitEtcdHealthy } from './etcdctl.ts';
import { ETCD_DISK, ETCD_SERVICE, etcdServiceDef } from './render.ts';

export interface MemberState {
  /** Disk A is mounted at /var/lib/etcd. */
  diskMounted: boolean;
  /** sha256 of the definition's run script and of the live copy s6 runs. */
  definedRun?: string;
  liveRun?: string;
  up: boolean;
  wantedUp: boolean;
}

/** What the state probe prints, one fact per line (pure, for tests). */
export function memberStateScript(service = ETCD_SERVICE): string {
  return [
    `if mountpoint -q ${ETCD_DISK}; then echo disk mounted; else echo disk unmounted; fi`,
    `echo "defined $(sha256sum < ${SV_DIR}/${service}/run 2>/dev/null | cut -c1-64)"`,
    `echo "live $(sha256sum < ${SCAN_DIR}/${service}/run 2>/dev/null | cut -c1-64)"`,
    `echo "svstat $(s6-svstat -o up,wantedup ${SCAN_DIR}/${service} 2>/dev/null)"`,
  ].join('\n');
}

export function parseMemberState(text: string): MemberState {
  const get = (k: string) => new RegExp(`^${k} ?(.*)$`, 'm').exec(text)?.[1]?.trim() ?? '';
  const sha = (v: string) => (/^[0-9a-f]{64}$/.test(v) ? v : undefined);
  // sha256sum of empty stdin (missing file) is e3b0c442...: treat it as absent
  const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
  const nonEmpty = (v?: string) => (v === EMPTY ? undefined : v);
  const [up, wanted] = get('svstat').split(/\s+/);
  return {
    diskMounted: get('disk') === 'mounted',
    definedRun: nonEmpty(sha(get('defined'))),
    liveRun: nonEmpty(sha(get('live'))),
    up: up === 'true',
    wantedUp: wanted === 'true',
  };
}

export function runScriptSha(spec: LabSpec, master: string): string {
  const run = serviceFiles(etcdServiceDef(spec, master)).find((f) => f.path.endsWith(`/${ETCD_SERVICE}/run`));
  return createHash('sha256').update(run?.content ?? '').digest('hex');
}

async function memberState(ctx: LabContext, master: string): Promise<MemberState> {
  const r = await ctx.remote(master).exec(memberStateScript(), { timeoutMs: 15_000 });
  return parseMemberState(r.stdout);
}

/** done() of the member step: every master runs the current definition. */
export async function etcdMembersConverged(ctx: LabContext): Promise<boolean> {
  for (const m of masterHosts(ctx.state.spec)) {
    const s = await memberState(ctx, m.name);
    const want = runScriptSha(ctx.state.spec, m.name);
    if (!s.diskMounted || s.definedRun !== want || s.liveRun !== want || !s.up) return false;
  }
  return true;
}

/**
 * Install/refresh the etcd service on every master. New members start together (they wait for
 * each other to form the cluster). A running member whose definition changed is restarted one
 * at a time, each after the cluster is healthy again. A member that runs the current definition
 * is not touched: a second run restarts nothing.
 */
export async function installEtcdMembers(ctx: LabContext, t: Pick<StepTools, 'log' | 'signal'>): Promise<void> {
  const spec = ctx.state.spec;
  const masters = masterHosts(spec).map((m) => m.name);
  const states = new Map<string, MemberState>();
  for (const m of masters) {
    const s = await memberState(ctx, m);
    if (!s.diskMounted) {
      throw new HalabError('ETCD_NO_DISK', `${m} has no disk mounted at ${ETCD_DISK}`, { fix: 'run `halab up` again: the provider step mounts it' });
    }
    states.set(m, s);
  }
  const rolling: string[] = [];
  await forEachLimit(masters, 3, async (m) => {
    const s = states.get(m)!;
    const want = runScriptSha(spec, m);
    const sup = new Supervisor(ctx.remote(m));
    if (s.definedRun === want && s.liveRun === want) {
      if (!s.up) {
        t.log('etcd is down: starting it', { host: m });
        await sup.start(ETCD_SERVICE);
      }
      return;
    }
    if (s.liveRun && s.up) {
      rolling.push(m);
      return;
    }
    t.log(s.liveRun ? 'etcd definition changed (service down): rewriting it and starting' : 'installing etcd', { host: m });
    await sup.install(etcdServiceDef(spec, m));
    // a new service starts by itself once s6-svscan has picked it up; a known one may be wanted down
    if (s.liveRun) await sup.start(ETCD_SERVICE);
  });
  for (const m of masters.filter((x) => rolling.includes(x))) {
    t.log('etcd definition changed: restarting this member alone', { host: m });
    await waitEtcdHealthy(ctx, { signal: t.signal, timeoutMs: 120_000 });
    await new Supervisor(ctx.remote(m)).install(etcdServiceDef(spec, m), { restart: true });
  }
}

export function etcdSteps(_spec: LabSpec): Step<LabContext>[] {
  return [
    {
      id: 'etcd:members',
      title: 'Run one etcd member per master (s6 service, mutual TLS, data on disk A)',
      done: async (ctx) => etcdMembersConverged(ctx),
      run: async (ctx, t) => installEtcdMembers(ctx, t),
    },
    {
      id: 'etcd:healthy',
      title: 'Wait until every etcd member is healthy and there is a leader',
      done: async (ctx) => clusterHealthy(await etcdEndpointsStatus(ctx).catch(() => [])),
      run: async (ctx, t) => {
        const members = await waitEtcdHealthy(ctx, { signal: t.signal, log: (m) => t.log(m) });
        const leader = members.find((m) => m.isLeader);
        t.log(`etcd healthy: ${members.map((m) => m.name).join(', ')}; leader ${leader?.name} (term ${leader?.raftTerm})`);
      },
    },
  ];
}

export * from './render.ts';
export * from './etcdctl.ts';
