// "Is the lab healthy?" as drills see it, before they act and after they clean up: every host
// powered on with its services up, the VIP on the first LB (the VRRP MASTER by priority), every
// HAProxy seeing every apiserver UP, etcd n/n healthy with a leader, every apiserver ready, the
// lab's nodes (the bootstrap names them) Ready and nothing else registered, both leader leases held.

import type { CheckResult } from '../api/drills.ts';
import { hostProblem, localProblem } from '../hosts/host-errors.ts';
import { STATUS_TIMEOUT_MS } from '../hosts/supervisor.ts';
import { poll } from '../util/poll.ts';
import { kubectl, leaseExpiry, leases, nodes } from '../k8s/kubectl.ts';
import type { LabContext } from '../providers/types.ts';
import { clusterHealthy, etcdEndpointsStatus, leaderOf } from '../steps/etcd/etcdctl.ts';
import { describeVip, haproxyBackends, vipView, vrrpStates } from '../steps/lb/status.ts';
import { lbNodes, masterLb } from '../steps/lb/model.ts';
import { masterHosts } from '../spec/roles.ts';

/** The value, or an Error whose message says what failed in one sentence (never a command line). */
async function safe<T>(p: Promise<T>, what = 'reading the lab', timeoutMs?: number): Promise<T | Error> {
  try {
    return await p;
  } catch (err) {
    return new Error(localProblem(err, { what, timeoutMs }));
  }
}

const chk = (id: string, title: string, ok: boolean, expected: string, observed: string): CheckResult => ({
  id,
  title,
  ok,
  expected,
  observed,
});

/** Every health check, gathered in parallel; a part that cannot be read fails with the reason. */
export async function labHealth(ctx: LabContext): Promise<CheckResult[]> {
  const spec = ctx.state.spec;
  const masters = masterHosts(spec);
  const workers = ctx.bootstrap.nodeNames(spec);
  const lbs = lbNodes(spec).map((l) => l.name);
  const [power, vrrp, backends, etcd, apis, viaVip, ns, ls] = await Promise.all([
    Promise.all(
      spec.hosts.map(async (h) => ({
        host: h.name,
        on: await ctx.provider.isPoweredOn(ctx, h.name).catch(() => false),
      })),
    ),
    safe(vrrpStates(ctx)),
    Promise.all(lbs.map(async (lb) => ({ lb, b: await safe(haproxyBackends(ctx, lb)) }))),
    safe(etcdEndpointsStatus(ctx)),
    Promise.all(
      masters.map(async (m) => {
        const r = await safe(
          ctx
            .remote(m.name)
            .exec(`curl -fsS -m 2 --cacert /etc/kubernetes/pki/ca.crt https://${m.address}:6443/readyz`, {
              allowFail: true,
              timeoutMs: 6000,
            }),
        );
        return { name: m.name, ready: !(r instanceof Error) && r.exitCode === 0 && r.stdout.trim() === 'ok' };
      }),
    ),
    safe(
      kubectl(ctx, ['get', '--raw', '/readyz'], { allowFail: true, timeoutMs: 10_000 }),
      'the API through the VIP',
      10_000,
    ),
    safe(nodes(ctx), 'listing the nodes through the VIP', 20_000),
    safe(leases(ctx), 'reading the leader leases', 20_000),
  ]);
  const off = power.filter((p) => !p.on).map((p) => p.host);
  const services = await Promise.all(
    power
      .filter((p) => p.on)
      .map(async (p) => {
        try {
          return { host: p.host, st: await ctx.services(p.host).status() };
        } catch (err) {
          // a frozen host (every process stopped) is on but does not answer: a value, not a crash
          const why = hostProblem(p.host, err, { timeoutMs: STATUS_TIMEOUT_MS, what: 'reading its services' });
          return { host: p.host, st: new Error(why) };
        }
      }),
  );
  const silent = services.filter((s) => s.st instanceof Error).map((s) => (s.st as Error).message);
  const down = services.flatMap((s) =>
    s.st instanceof Error ? [] : s.st.filter((x) => !x.up).map((x) => `${s.host}/${x.name}`),
  );
  const out: CheckResult[] = [];
  out.push(
    chk(
      'hosts-on',
      'Every host is powered on',
      off.length === 0,
      `${spec.hosts.length}/${spec.hosts.length} on`,
      off.length ? `off: ${off.join(', ')}` : 'all on',
    ),
  );
  out.push(
    chk(
      'hosts-answer',
      'Every powered-on host answers',
      silent.length === 0,
      'all answer over SSH',
      silent.length ? silent.join('; ') : 'all answer',
    ),
  );
  out.push(
    chk(
      'services-up',
      'Every service on every host is up',
      down.length === 0 && silent.length === 0,
      'all up',
      down.length ? `down: ${down.join(', ')}` : silent.length ? 'unknown on hosts that do not answer' : 'all up',
    ),
  );
  const want = masterLb(spec).name;
  const vip = vrrp instanceof Error ? undefined : vipView(vrrp);
  out.push(
    chk(
      'vip-home',
      `The VIP is on ${want} (and only there)`,
      vip?.holder === want && vip.holders.length === 1,
      `on ${want}`,
      vrrp instanceof Error ? vrrp.message : `on ${describeVip(vip!)}`,
    ),
  );
  const beDown = backends.flatMap(({ lb, b }) =>
    b instanceof Error ? [`${lb}: ${b.message}`] : b.filter((x) => !x.up).map((x) => `${lb} sees ${x.server} DOWN`),
  );
  const beCount = backends.every(({ b }) => !(b instanceof Error) && b.length === masters.length);
  out.push(
    chk(
      'haproxy-backends',
      'Every HAProxy sees every apiserver UP',
      beDown.length === 0 && beCount,
      `${masters.length}/${masters.length} UP on ${lbs.join(', ')}`,
      beDown.length ? beDown.join('; ') : 'all UP',
    ),
  );
  const healthy = etcd instanceof Error ? 0 : etcd.filter((m) => m.healthy).length;
  out.push(
    chk(
      'etcd-healthy',
      'etcd: every member healthy, one leader',
      !(etcd instanceof Error) && clusterHealthy(etcd),
      `${masters.length}/${masters.length} healthy with a leader`,
      etcd instanceof Error ? etcd.message : `${healthy}/${masters.length} healthy, leader ${leaderOf(etcd) ?? 'none'}`,
    ),
  );
  const notReady = apis.filter((a) => !a.ready).map((a) => a.name);
  out.push(
    chk(
      'apiservers-ready',
      'Every apiserver is ready (/readyz on its own address)',
      notReady.length === 0,
      `${masters.length}/${masters.length} ready`,
      notReady.length ? `not ready: ${notReady.join(', ')}` : 'all ready',
    ),
  );
  out.push(
    chk(
      'api-via-vip',
      'The API answers through the VIP',
      !(viaVip instanceof Error) && viaVip.stdout.trim() === 'ok',
      '/readyz = ok',
      viaVip instanceof Error ? viaVip.message : (viaVip.stdout.trim() || viaVip.stderr.trim()).slice(0, 120),
    ),
  );
  if (ns instanceof Error) {
    out.push(
      chk(
        'nodes-ready',
        'Every node is Ready, no other node registered',
        false,
        workers.map((w) => `${w} Ready`).join(', '),
        ns.message,
      ),
    );
  } else {
    const bad = workers.filter((w) => !ns.find((n) => n.name === w)?.ready);
    const extra = ns.filter((n) => !workers.includes(n.name)).map((n) => n.name);
    out.push(
      chk(
        'nodes-ready',
        'Every node is Ready, no other node registered',
        bad.length === 0 && extra.length === 0,
        workers.map((w) => `${w} Ready`).join(', '),
        ns.map((n) => `${n.name} ${n.ready ? 'Ready' : (n.reason ?? 'NotReady')}`).join(', ') || 'no nodes',
      ),
    );
  }
  // held = renewed within its duration: a frozen or dead holder keeps its name on the lease
  const now = Date.now();
  const unheld = ls instanceof Error ? ['?'] : ls.filter((l) => !leaseExpiry(l, now).held).map((l) => l.name);
  out.push(
    chk(
      'leases-held',
      'The controller-manager and scheduler leader leases are held (renewed within their duration)',
      unheld.length === 0,
      'both held',
      ls instanceof Error
        ? ls.message
        : ls
            .map((l) => {
              const e = leaseExpiry(l, now);
              const who = l.holder?.split('_')[0] ?? 'none';
              return `${l.name}: ${e.held ? who : `${who}, expired ${e.expiredS ?? '?'} s ago`}`;
            })
            .join(', '),
    ),
  );
  return out;
}

/** Poll labHealth until every check passes; the last result either way. */
export async function waitHealthy(
  ctx: LabContext,
  o: { timeoutMs: number; intervalMs?: number; signal?: AbortSignal; onProgress?: (checks: CheckResult[]) => void },
): Promise<{ ok: boolean; checks: CheckResult[]; ms: number }> {
  const t0 = Date.now();
  let checks: CheckResult[] = [];
  let lastReport = 0;
  const ok = await poll({
    what: 'the lab healthy',
    check: async () => {
      checks = await labHealth(ctx);
      if (checks.every((c) => c.ok)) return true;
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        o.onProgress?.(checks);
      }
      return false;
    },
    timeoutMs: o.timeoutMs,
    intervalMs: o.intervalMs ?? 1000,
    signal: o.signal,
  }).catch(() => false);
  return { ok, checks, ms: Date.now() - t0 };
}

/**
 * The generic part of every cleanup: power on every host that is off, start every service that
 * is not up. Safe to run on a healthy lab (it changes nothing there).
 */
export async function healLab(ctx: LabContext, log: (m: string, host?: string) => void): Promise<void> {
  for (const h of ctx.state.spec.hosts) {
    if (!(await ctx.provider.isPoweredOn(ctx, h.name).catch(() => true))) {
      log('powered off: powering it on', h.name);
      await ctx.provider.power(ctx, h.name, 'on');
    }
  }
  await Promise.all(
    ctx.state.spec.hosts.map(async (h) => {
      try {
        const sup = ctx.services(h.name);
        for (const s of await sup.status()) {
          if (!s.up) {
            log(`${s.name} is down: starting it`, h.name);
            await sup.start(s.name);
          }
        }
      } catch (err) {
        log(`cannot check its services: ${hostProblem(h.name, err, { timeoutMs: STATUS_TIMEOUT_MS })}`, h.name);
      }
    }),
  );
}
