// The load-balancer steps (each idempotent; `done` reads the hosts, never a flag):
//   lb:configs     render, validate ON each LB with haproxy -c / keepalived -t, then install
//   lb:haproxy     HAProxy running the installed config and CA (restarted only when they changed)
//   lb:keepalived  keepalived, the VRRP MASTER first (see below); same restart rule
//   lb:ready       gate: the VIP on the MASTER only, every HAProxy answering its monitor endpoint
// Backends are not required UP here (the apiservers come later): the control-plane gate calls
// waitBackendsUp. Requirement: the Kubernetes CA is on every LB at LB_PATHS.caFile (HAProxy
// verifies the apiservers with it and refuses to start without it): the PKI steps run first.
import type { LabSpec } from '../../api/types.ts';
import type { LabContext } from '../../engine/context.ts';
import type { Step, StepTools } from '../../engine/runner.ts';
import { HalabError } from '../../errors.ts';
import type { Remote } from '../../exec/types.ts';
import { checksumScript, parseChecksums, sha256 } from '../../hosts/files.ts';
import type { FileSpec } from '../../hosts/services.ts';
import { poll } from '../../util/poll.ts';
import { renderHaproxyCfg } from './haproxy.ts';
import { renderKeepalivedConf, renderNotifyScript } from './keepalived.ts';
import {
  LB_INTERFACE,
  LB_PATHS,
  MONITOR_ADDR,
  MONITOR_PORT,
  MONITOR_URI,
  lbModel,
  masterDownMs,
  type LbModel,
} from './model.ts';
import type { LbOptions } from './options.ts';
import { ensureSecret, readSecret } from './secret.ts';
import { haproxyService, keepalivedService } from './services.ts';
import { hasAddress, lbProbeScript, parseLbProbe } from './status.ts';
import { promote, stageAndValidate } from './validate.ts';

interface Desired {
  lb: string;
  haproxy: string;
  keepalived: string;
  notify: string;
}

function renderAll(m: LbModel, opts: LbOptions, secret: string | undefined, trackScale = 1): Desired[] {
  return m.lbs.map(({ name }) => ({
    lb: name,
    haproxy: renderHaproxyCfg(m, {
      ...opts.haproxy,
      transform: opts.transform?.haproxy && ((x) => opts.transform!.haproxy!(x, name)),
    }),
    keepalived: renderKeepalivedConf(m, name, {
      authPass: secret,
      caFile: opts.haproxy?.caFile,
      trackScale,
      transform: opts.transform?.keepalived && ((x) => opts.transform!.keepalived!(x, name)),
    }),
    notify: renderNotifyScript(),
  }));
}

const caPath = (opts: LbOptions) => opts.haproxy?.caFile ?? LB_PATHS.caFile;

/** sha256 of the LB's config files and whether its CA is there (one round trip). */
async function filesOnLb(remote: Remote, opts: LbOptions) {
  const paths = [LB_PATHS.haproxyCfg, LB_PATHS.keepalivedConf, LB_PATHS.notifyScript, caPath(opts)];
  const have = parseChecksums((await remote.exec(checksumScript(paths), { timeoutMs: 20_000 })).stdout);
  const sum = (p: string) => have.get(p)?.sha256;
  return {
    haproxy: sum(LB_PATHS.haproxyCfg),
    keepalived: sum(LB_PATHS.keepalivedConf),
    notify: sum(LB_PATHS.notifyScript),
    ca: sum(caPath(opts)),
  };
}

/** What each daemon reads: its service's inputs (the config files as installed, the CA as distributed). */
async function inputs(lab: LabContext, d: Desired, opts: LbOptions) {
  const ca = await lab.remote(d.lb).exec(`base64 -w0 ${caPath(opts)}`, { allowFail: true, timeoutMs: 10_000 });
  if (ca.exitCode !== 0) {
    throw new HalabError('LB_CA_MISSING', `the Kubernetes CA is not on ${d.lb} at ${caPath(opts)}`, {
      fix: 'HAProxy verifies the apiservers with it: the step that distributes the cluster CA must run before the load-balancer steps',
    });
  }
  const haproxy: FileSpec[] = [
    { path: LB_PATHS.haproxyCfg, content: d.haproxy, mode: 0o644 },
    { path: caPath(opts), content: Buffer.from(ca.stdout.trim(), 'base64'), mode: 0o644 },
  ];
  const keepalived: FileSpec[] = [
    { path: LB_PATHS.keepalivedConf, content: d.keepalived, mode: 0o644 },
    { path: LB_PATHS.notifyScript, content: d.notify, mode: 0o755 },
  ];
  return { haproxy, keepalived };
}

function monitorCmd(): string {
  return `curl -fs -m 1 -o /dev/null -w '%{http_code}' http://${MONITOR_ADDR}:${MONITOR_PORT}${MONITOR_URI}`;
}

async function logTail(lab: LabContext, lb: string, name: string): Promise<string | undefined> {
  const log = lab.services(lb).logPath(name);
  const r = await lab.remote(lb).exec(`tail -n 25 ${log} 2>/dev/null`, { allowFail: true, timeoutMs: 10_000 });
  return r.stdout.trim() ? `last lines of ${log} on ${lb}:\n${r.stdout.trim()}` : undefined;
}

async function remoteNow(remote: Remote): Promise<number> {
  return Number((await remote.exec('date +%s.%N', { timeoutMs: 10_000 })).stdout.trim());
}

async function pidOf(lab: LabContext, lb: string, name: string): Promise<number | undefined> {
  return (await lab.services(lb).status()).find((s) => s.name === name && s.up)?.pid;
}

/** HAProxy on `lb` answers on its monitor endpoint. */
async function waitMonitor(lab: LabContext, lb: string, t: Pick<StepTools, 'signal'>): Promise<void> {
  let detail: string | undefined;
  await poll({
    what: `HAProxy on ${lb} to answer on ${MONITOR_ADDR}:${MONITOR_PORT}`,
    check: async () => {
      const r = await lab.remote(lb).exec(monitorCmd(), { allowFail: true, timeoutMs: 5000 });
      if (r.stdout.trim() === '200') return true;
      detail = await logTail(lab, lb, 'haproxy');
      return false;
    },
    timeoutMs: 15_000,
    intervalMs: 100,
    signal: t.signal,
    detail: () => detail,
  });
}

/** keepalived reported a state after `since` (and, if `master`, holds the VIP as MASTER). */
async function waitVrrp(lab: LabContext, lb: string, since: number, master: boolean, timeoutMs: number, t: StepTools) {
  let detail: string | undefined;
  await poll({
    what: master ? `${lb} to become VRRP MASTER with the VIP` : `keepalived on ${lb} to enter its first VRRP state`,
    check: async () => {
      const out = (await lab.remote(lb).exec(lbProbeScript(), { timeoutMs: 10_000 })).stdout;
      const st = parseLbProbe(lb, lab.state.spec.vip, out);
      const ok =
        st.since !== undefined &&
        st.since >= since &&
        (master ? st.state === 'MASTER' && st.hasVip : st.state !== 'STOP');
      if (!ok) detail = await logTail(lab, lb, 'keepalived');
      return ok;
    },
    timeoutMs,
    intervalMs: 100,
    signal: t.signal,
    detail: () => detail,
  });
}

/** The steps for the LBs of `spec` (none for a lab without LBs). The model is computed once here. */
export function lbSteps(
  spec: LabSpec,
  opts: LbOptions = {},
):
  | { configs: Step<LabContext>; haproxy: Step<LabContext>; keepalived: Step<LabContext>; ready: Step<LabContext> }
  | undefined {
  const model = lbModel(spec);
  if (model.lbs.length === 0) return undefined;
  const lbs = model.lbs.map((n) => n.name);
  const master = model.lbs[0]!.name;
  // hosts slower than this machine (TCG VMs) run their track scripts stretched alike (keepalived.ts)
  const vipTimeoutMs = (lab: LabContext) =>
    Math.max(20_000, 10 * masterDownMs(model)) * (lab.provider.cpuSlowdown?.(lab) ?? 1);
  const secret = async (lab: LabContext, create: boolean) =>
    model.vrrp.authenticated ? (create ? ensureSecret(lab) : readSecret(lab)) : undefined;
  const desired = async (lab: LabContext, create = false) =>
    renderAll(model, opts, await secret(lab, create), lab.provider.cpuSlowdown?.(lab) ?? 1);

  const configs: Step<LabContext> = {
    id: 'lb:configs',
    title: `Render, validate (haproxy -c, keepalived -t on each LB) and install the configs of ${lbs.join(', ')}`,
    done: async (lab) => {
      if (model.vrrp.authenticated && !(await readSecret(lab))) return false;
      for (const w of await desired(lab)) {
        const h = await filesOnLb(lab.remote(w.lb), opts);
        if (!h.ca || h.haproxy !== sha256(w.haproxy) || h.keepalived !== sha256(w.keepalived)) return false;
        if (h.notify !== sha256(w.notify)) return false;
      }
      return true;
    },
    run: async (lab, t) => {
      const want = await desired(lab, true);
      const have = new Map(
        await Promise.all(want.map(async (w) => [w.lb, await filesOnLb(lab.remote(w.lb), opts)] as const)),
      );
      const noCa = lbs.filter((lb) => !have.get(lb)!.ca);
      if (noCa.length) {
        throw new HalabError('LB_CA_MISSING', `the Kubernetes CA is not on ${noCa.join(', ')} at ${caPath(opts)}`, {
          fix: 'HAProxy verifies the apiservers with it: the step that distributes the cluster CA must run before the load-balancer steps',
        });
      }
      // 1. validate every changed config on every LB; nothing is replaced unless all are valid
      const staged: [string, 'haproxy' | 'keepalived'][] = [];
      for (const w of want) {
        const remote = lab.remote(w.lb);
        const h = have.get(w.lb)!;
        if (h.notify !== sha256(w.notify)) {
          await remote.exec(`mkdir -p ${LB_PATHS.notifyScript.replace(/\/[^/]+$/, '')}`);
          await remote.upload(LB_PATHS.notifyScript, w.notify, 0o755); // keepalived -t checks it exists
        }
        for (const tool of ['haproxy', 'keepalived'] as const) {
          if (h[tool] === sha256(w[tool])) continue;
          t.log(`validating ${tool} config`, { host: w.lb });
          await stageAndValidate(remote, tool, w[tool]);
          staged.push([w.lb, tool]);
        }
      }
      // 2. all valid: promote
      for (const [lb, tool] of staged) {
        await promote(lab.remote(lb), tool);
        t.log(`installed ${tool} config`, { host: lb });
      }
    },
  };

  const daemonsCurrent = async (lab: LabContext, d: 'haproxy' | 'keepalived') => {
    for (const w of await desired(lab)) {
      const inp = await inputs(lab, w, opts);
      const c = await lab.services(w.lb).check(d === 'haproxy' ? haproxyService() : keepalivedService(), inp[d]);
      if (c.state !== 'current' || !c.up) return false;
    }
    return true;
  };

  /**
   * Bring a daemon to "running with the files on disk" (ensure), and when it was (re)started,
   * wait for its new process and for `ready`; a daemon that starts but never gets ready fails
   * the step, and the next `up` waits for it again.
   */
  const ensureDaemon = async (
    lab: LabContext,
    w: Desired,
    d: 'haproxy' | 'keepalived',
    t: StepTools,
    ready: (since: number, changed: boolean) => Promise<void>,
  ) => {
    const def = d === 'haproxy' ? haproxyService() : keepalivedService();
    const inp = (await inputs(lab, w, opts))[d];
    const oldPid = await pidOf(lab, w.lb, d);
    const since = await remoteNow(lab.remote(w.lb));
    const what = await lab.services(w.lb).ensure(def, inp);
    if (what === 'unchanged') return ready(since, false);
    t.log(`${d} ${what}`, { host: w.lb });
    await poll({
      what: `${d} on ${w.lb} to run${oldPid ? ' a new process' : ''}`,
      check: async () => {
        const pid = await pidOf(lab, w.lb, d);
        return !!pid && pid !== oldPid;
      },
      timeoutMs: 15_000,
      intervalMs: 100,
      signal: t.signal,
    });
    await ready(since, true);
  };

  const haproxy: Step<LabContext> = {
    id: 'lb:haproxy',
    title: `Run HAProxy on ${lbs.join(', ')} (restarted only if its config or the CA changed)`,
    done: (lab) => daemonsCurrent(lab, 'haproxy'),
    run: async (lab, t) => {
      for (const w of await desired(lab)) await ensureDaemon(lab, w, 'haproxy', t, () => waitMonitor(lab, w.lb, t));
    },
  };

  const keepalived: Step<LabContext> = {
    id: 'lb:keepalived',
    title: `Run keepalived on ${lbs.join(', ')}, the VRRP MASTER ${master} first`,
    done: (lab) => daemonsCurrent(lab, 'keepalived'),
    run: async (lab, t) => {
      // MASTER first: keepalived starts every instance as BACKUP and waits the master-down
      // interval before claiming the VIP; started together, both time out at once and the
      // BACKUP may briefly win. Started alone, the MASTER owns the VIP before the others come.
      const want = await desired(lab);
      const ordered = [want.find((w) => w.lb === master)!, ...want.filter((w) => w.lb !== master)];
      for (const w of ordered) {
        await ensureDaemon(lab, w, 'keepalived', t, async (since, changed) => {
          if (changed) await waitVrrp(lab, w.lb, since, w.lb === master, vipTimeoutMs(lab), t);
        });
      }
    },
  };

  const ready: Step<LabContext> = {
    id: 'lb:ready',
    title: `Wait for the VIP ${spec.vip} on ${master} only and HAProxy answering on every LB`,
    run: async (lab, t) => {
      const probe = async (lb: string) => {
        const r = await lab.remote(lb).exec(`ip -4 -o addr show dev ${LB_INTERFACE}; echo @@; ${monitorCmd()}`, {
          allowFail: true,
          timeoutMs: 10_000,
        });
        const [addrs = '', code = ''] = r.stdout.split('@@\n');
        return { lb, vip: hasAddress(addrs, spec.vip), monitor: code.trim() === '200' };
      };
      let last: Awaited<ReturnType<typeof probe>>[] = [];
      await poll({
        what: `the VIP on ${master} only, with every HAProxy up`,
        check: async () => {
          last = await Promise.all(lbs.map(probe));
          return last.every((p) => p.monitor && p.vip === (p.lb === master));
        },
        timeoutMs: vipTimeoutMs(lab),
        intervalMs: 100,
        signal: t.signal,
        detail: () =>
          last
            .map(
              (p) =>
                `${p.lb}: VIP ${p.vip ? 'present' : 'absent'}, HAProxy monitor ${p.monitor ? 'OK' : 'not answering'}`,
            )
            .join('\n'),
      });
      t.log(`VIP ${spec.vip} on ${master}`, { host: master });
    },
  };

  return { configs, haproxy, keepalived, ready };
}
