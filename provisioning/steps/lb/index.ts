// The load-balancer layer of a lab: HAProxy (API VIP:6443 -> the masters' kube-apiservers) and
// keepalived (VRRP, the VIP) on every host with role lb, as s6 services, plus readiness gates.
//
//   registerPlanExtension((spec) => lbSteps(spec));
//
// Steps (each idempotent; `done` reads the hosts, never a flag):
//   lb:configs     render, validate ON each LB with haproxy -c / keepalived -t, then install
//   lb:haproxy     start HAProxy everywhere; restart it only if its config, the CA or the service changed
//   lb:keepalived  start keepalived, the MASTER first (pitfall 11); same restart rule
//   lb:ready       gate: the VIP on the MASTER only, every HAProxy answering its monitor endpoint
// Backends are not required UP here (the apiservers come later): the control-plane step calls
// waitBackendsUp(ctx, n, timeoutMs) from status.ts.
//
// Requirement: the Kubernetes CA must already be on every LB at /etc/halab/pki/ca.crt (HAProxy
// verifies the apiservers with it and refuses to start without it): the PKI step runs first.

import { createHash, randomInt } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { LabSpec } from '../../api/types.ts';
import type { Step, StepTools } from '../../engine/runner.ts';
import { HalabError } from '../../errors.ts';
import type { Remote } from '../../exec/types.ts';
import { SCAN_DIR, Supervisor, serviceFiles, type ServiceDef } from '../../hosts/supervisor.ts';
import type { LabContext } from '../../providers/types.ts';
import { renderHaproxyCfg, type HaproxyRenderOptions } from './haproxy.ts';
import { renderKeepalivedConf, renderNotifyScript } from './keepalived.ts';
import {
  AUTH_PASS_LENGTH, LB_INTERFACE, LB_PATHS, MONITOR_ADDR, MONITOR_PORT, MONITOR_URI, lbNodes, masterDownMs, masterLb, vrrpSettings,
} from './model.ts';
import { hasAddress, lbProbeScript, parseLbProbe } from './status.ts';
import { promote, stageAndValidate, type LbTool } from './validate.ts';

export { renderHaproxyCfg } from './haproxy.ts';
export { renderKeepalivedConf, renderNotifyScript } from './keepalived.ts';
export { lbModel, lbNodes, masterLb, vrrpSettings, virtualRouterId, LB_PATHS } from './model.ts';
export {
  haproxyBackends, haproxyViews, vipHolder, vipHolders, vrrpStates, waitBackendsUp,
  type BackendStatus, type VrrpStatus, type VrrpStateName,
} from './status.ts';

export interface LbOptions {
  /** Renderer inputs other than the spec (CA path, verified host name). */
  haproxy?: Omit<HaproxyRenderOptions, 'transform'>;
  /**
   * Test hook: rewrite a rendered config before validation, e.g. to prove that a broken
   * template stops `up` (the real validator rejects it, nothing is installed). Never set in
   * production; lbOptionsFromEnv() maps HALAB_TEST_BREAK onto it for CLI-driven tests.
   */
  transform?: Partial<Record<LbTool, (text: string, lb: string) => string>>;
}

/** What HALAB_TEST_BREAK appends: a keyword neither HAProxy nor keepalived knows. */
export const TEST_BREAK_LINE = 'halab-test-break-invalid-keyword 1';

/** HALAB_TEST_BREAK=haproxy|keepalived -> a transform that appends TEST_BREAK_LINE (tests only). */
export function lbOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): LbOptions {
  const v = env.HALAB_TEST_BREAK;
  if (v !== 'haproxy' && v !== 'keepalived') return {};
  return { transform: { [v]: (text: string) => `${text}${TEST_BREAK_LINE}\n` } };
}

// ---------------------------------------------------------------------------------------------
// services
// ---------------------------------------------------------------------------------------------

export function haproxyService(): ServiceDef {
  return {
    name: 'haproxy',
    // -db: foreground, no daemon (s6 supervises); logs go to stdout (log stdout)
    command: ['/usr/sbin/haproxy', '-db', '-f', LB_PATHS.haproxyCfg],
    prepare: [`mkdir -p ${LB_PATHS.adminSocket.replace(/\/[^/]+$/, '')}`],
  };
}

export function keepalivedService(): ServiceDef {
  return {
    name: 'keepalived',
    // -n foreground, -l -D detailed log to the console (s6-log), -G no syslog, -P VRRP only,
    // own pid files in the host's private /run (pitfall 7); stale ones go first: s6 guarantees
    // one instance, and a reused pid in the file would make keepalived exit 0 "already running"
    command: ['/usr/sbin/keepalived', '-n', '-l', '-D', '-G', '-P', '-f', LB_PATHS.keepalivedConf,
      '-p', '/run/keepalived.pid', '-r', '/run/keepalived_vrrp.pid'],
    prepare: ['rm -f /run/keepalived.pid /run/keepalived_vrrp.pid', `mkdir -p ${LB_PATHS.vrrpEventsLog.replace(/\/[^/]+$/, '')}`],
  };
}

// ---------------------------------------------------------------------------------------------
// the lab's VRRP secret (VRRPv2 only), kept in the lab directory
// ---------------------------------------------------------------------------------------------

const SECRET_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function secretFile(ctx: LabContext): string {
  return join(ctx.dir, 'lb', 'vrrp-auth-pass');
}

async function readSecret(ctx: LabContext): Promise<string | undefined> {
  const s = (await fs.readFile(secretFile(ctx), 'utf8').catch(() => '')).trim();
  return new RegExp(`^[A-Za-z0-9]{${AUTH_PASS_LENGTH}}$`).test(s) ? s : undefined;
}

async function ensureSecret(ctx: LabContext): Promise<string> {
  const have = await readSecret(ctx);
  if (have) return have;
  const s = Array.from({ length: AUTH_PASS_LENGTH }, () => SECRET_ALPHABET[randomInt(SECRET_ALPHABET.length)]).join('');
  await fs.mkdir(join(ctx.dir, 'lb'), { recursive: true, mode: 0o700 });
  const tmp = `${secretFile(ctx)}.tmp`;
  await fs.writeFile(tmp, `${s}\n`, { mode: 0o600 });
  await fs.rename(tmp, secretFile(ctx));
  return s;
}

// ---------------------------------------------------------------------------------------------
// what should be on each LB, and what is
// ---------------------------------------------------------------------------------------------

interface Desired { lb: string; haproxy: string; keepalived: string; notify: string }

function renderAll(spec: LabSpec, opts: LbOptions, secret: string | undefined): Desired[] {
  return lbNodes(spec).map(({ name }) => ({
    lb: name,
    haproxy: renderHaproxyCfg(spec, { ...opts.haproxy, transform: opts.transform?.haproxy && ((x) => opts.transform!.haproxy!(x, name)) }),
    keepalived: renderKeepalivedConf(spec, name, { authPass: secret, transform: opts.transform?.keepalived && ((x) => opts.transform!.keepalived!(x, name)) }),
    notify: renderNotifyScript(),
  }));
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

const FILES = {
  haproxy: LB_PATHS.haproxyCfg,
  keepalived: LB_PATHS.keepalivedConf,
  notify: LB_PATHS.notifyScript,
  ca: LB_PATHS.caFile,
} as const;
type FileKey = keyof typeof FILES;
type Daemon = 'haproxy' | 'keepalived';
const stampPath = (d: Daemon) => `${LB_PATHS.stampDir}/${d}.applied`;

interface ServiceView { present: boolean; up: boolean; pid?: number; wantedUp: boolean }
interface HostView {
  hashes: Partial<Record<FileKey, string>>;
  stamps: Partial<Record<Daemon, string>>;
  services: Record<Daemon, ServiceView>;
}

function inspectScript(): string {
  const lines: string[] = [];
  for (const [k, p] of Object.entries(FILES)) {
    lines.push(`if [ -f ${p} ]; then echo "F ${k} $(sha256sum < ${p} | cut -c1-64)"; else echo "F ${k} -"; fi`);
  }
  for (const d of ['haproxy', 'keepalived'] as const) {
    lines.push(`echo "A ${d} $(head -c 64 ${stampPath(d)} 2>/dev/null)"`);
    lines.push(`if [ -d ${SCAN_DIR}/${d} ]; then echo "S ${d} $(s6-svstat -o up,pid,wantedup ${SCAN_DIR}/${d} 2>/dev/null || echo false -1 false)"; else echo "S ${d} absent"; fi`);
  }
  return lines.join('\n');
}

export function parseInspect(text: string): HostView {
  const v: HostView = {
    hashes: {}, stamps: {},
    services: { haproxy: { present: false, up: false, wantedUp: false }, keepalived: { present: false, up: false, wantedUp: false } },
  };
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] === 'F' && f[2] && f[2] !== '-') v.hashes[f[1] as FileKey] = f[2];
    if (f[0] === 'A' && f[2]) v.stamps[f[1] as Daemon] = f[2];
    if (f[0] === 'S' && (f[1] === 'haproxy' || f[1] === 'keepalived') && f[2] !== 'absent') {
      const up = f[2] === 'true';
      v.services[f[1]] = { present: true, up, pid: up && Number(f[3]) > 0 ? Number(f[3]) : undefined, wantedUp: f[4] === 'true' };
    }
  }
  return v;
}

async function inspect(ctx: LabContext, lb: string): Promise<HostView> {
  return parseInspect((await ctx.remote(lb).exec(inspectScript(), { timeoutMs: 20_000 })).stdout);
}

function serviceHash(def: ServiceDef): string {
  return sha(serviceFiles(def).map((f) => `${f.path}\n${f.mode}\n${f.content}`).join('\0'));
}

/** What a daemon's running instance must have been started with: its files on disk + its service. */
function fingerprint(d: Daemon, v: HostView): string {
  const parts = d === 'haproxy'
    ? [v.hashes.haproxy, v.hashes.ca, serviceHash(haproxyService())]
    : [v.hashes.keepalived, v.hashes.notify, serviceHash(keepalivedService())];
  return sha([d, ...parts.map((p) => p ?? '-')].join('\n'));
}

function daemonCurrent(d: Daemon, v: HostView): boolean {
  const s = v.services[d];
  return s.present && s.up && s.wantedUp && v.stamps[d] === fingerprint(d, v);
}

// ---------------------------------------------------------------------------------------------
// waiting helpers
// ---------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, t: Pick<StepTools, 'signal'>,
  onTimeout?: () => Promise<string | undefined>, intervalMs = 100): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (t.signal.aborted) throw new HalabError('CANCELLED', `${what}: cancelled`);
    if (Date.now() - t0 > timeoutMs) {
      const details = await onTimeout?.().catch(() => undefined);
      throw new HalabError('LB_NOT_READY', `${what} did not happen within ${Math.round(timeoutMs / 1000)} s`, { details });
    }
    await sleep(intervalMs);
  }
}

async function logTail(remote: Remote, name: string): Promise<string | undefined> {
  const r = await remote.exec(`tail -n 25 /var/log/halab/${name}/current 2>/dev/null`, { allowFail: true, timeoutMs: 10_000 });
  return r.stdout.trim() ? `last lines of /var/log/halab/${name}/current on ${remote.host}:\n${r.stdout.trim()}` : undefined;
}

async function remoteNow(remote: Remote): Promise<number> {
  return Number((await remote.exec('date +%s.%N', { timeoutMs: 10_000 })).stdout.trim());
}

async function svstat(remote: Remote, name: string): Promise<{ up: boolean; pid?: number }> {
  const r = await remote.exec(`s6-svstat -o up,pid ${SCAN_DIR}/${name}`, { allowFail: true, timeoutMs: 10_000 });
  const [up, pid] = r.stdout.trim().split(/\s+/);
  return { up: r.exitCode === 0 && up === 'true', pid: Number(pid) > 0 ? Number(pid) : undefined };
}

function monitorCmd(): string {
  return `curl -fs -m 1 -o /dev/null -w '%{http_code}' http://${MONITOR_ADDR}:${MONITOR_PORT}${MONITOR_URI}`;
}

/**
 * Bring a daemon to "running with the files on disk": install it if new, restart it if what it
 * runs changed (stamp differs), start it if it is down; leave it alone otherwise. Then `ready`
 * (given the host's time just before any change, and whether there was one) must pass before
 * the stamp records what the new process runs: a daemon that starts but never gets ready is
 * retried by the next `up`.
 */
async function ensureDaemon(ctx: LabContext, lb: string, d: Daemon, t: StepTools,
  ready: (since: number, changed: boolean) => Promise<void>): Promise<void> {
  const remote = ctx.remote(lb);
  const sup = new Supervisor(remote);
  const def = d === 'haproxy' ? haproxyService() : keepalivedService();
  const view = await inspect(ctx, lb);
  const since = await remoteNow(remote);
  const s = view.services[d];
  if (daemonCurrent(d, view)) {
    await ready(since, false);
    return;
  }
  const fp = fingerprint(d, view);
  const oldPid = s.up ? s.pid : undefined;
  if (!s.present) {
    t.log(`starting ${d}`, { host: lb });
    await sup.install(def);
  } else if (view.stamps[d] !== fp) {
    const what = d === 'haproxy' ? 'its config, the CA or its service' : 'its config, notify script or service';
    t.log(s.up ? `restarting ${d}: ${what} changed` : `starting ${d} with its new configuration`, { host: lb });
    await sup.install(def, { restart: true });
  } else {
    t.log(`starting ${d} (it was down)`, { host: lb });
  }
  await sup.start(d);
  await until(`${d} on ${lb} to run${oldPid ? ' a new process' : ''}`, async () => {
    const st = await svstat(remote, d);
    return st.up && st.pid && st.pid !== oldPid ? true : undefined;
  }, 15_000, t, () => logTail(remote, d));
  await ready(since, true);
  await remote.exec(`mkdir -p ${LB_PATHS.stampDir}`);
  await remote.upload(stampPath(d), `${fp}\n`, 0o644);
}

/** keepalived reported a state after `since` (and, if `master`, holds the VIP as MASTER). */
async function waitVrrp(ctx: LabContext, lb: string, since: number, master: boolean, timeoutMs: number, t: StepTools) {
  const remote = ctx.remote(lb);
  await until(master ? `${lb} to become VRRP MASTER with the VIP` : `keepalived on ${lb} to enter its first VRRP state`, async () => {
    const st = parseLbProbe(lb, ctx.state.spec.vip, (await remote.exec(lbProbeScript(), { timeoutMs: 10_000 })).stdout);
    if (st.since === undefined || st.since < since) return undefined;
    if (!master) return st.state !== 'STOP' ? true : undefined;
    return st.state === 'MASTER' && st.hasVip ? true : undefined;
  }, timeoutMs, t, () => logTail(remote, 'keepalived'));
}

/** HAProxy on `lb` answers on its monitor endpoint. */
async function waitMonitor(ctx: LabContext, lb: string, t: StepTools): Promise<void> {
  const remote = ctx.remote(lb);
  await until(`HAProxy on ${lb} to answer on ${MONITOR_ADDR}:${MONITOR_PORT}`, async () => {
    const r = await remote.exec(monitorCmd(), { allowFail: true, timeoutMs: 5000 });
    return r.stdout.trim() === '200' ? true : undefined;
  }, 15_000, t, () => logTail(remote, 'haproxy'));
}

function vipTimeoutMs(spec: LabSpec): number {
  return Math.max(20_000, 10 * masterDownMs(spec));
}

// ---------------------------------------------------------------------------------------------
// steps
// ---------------------------------------------------------------------------------------------

export function lbSteps(spec: LabSpec, opts: LbOptions = {}): Step<LabContext>[] {
  const nodes = lbNodes(spec);
  if (nodes.length === 0) return [];
  const lbs = nodes.map((n) => n.name);
  const master = masterLb(spec).name;
  const vrrp = vrrpSettings(spec);
  const secret = async (ctx: LabContext, create: boolean) => (vrrp.authenticated ? (create ? ensureSecret(ctx) : readSecret(ctx)) : undefined);
  const views = async (ctx: LabContext) => Object.fromEntries(await Promise.all(lbs.map(async (lb) => [lb, await inspect(ctx, lb)] as const)));

  const configs: Step<LabContext> = {
    id: 'lb:configs',
    title: `Render, validate (haproxy -c, keepalived -t on each LB) and install the configs of ${lbs.join(', ')}`,
    done: async (ctx) => {
      const pass = await secret(ctx, false);
      if (vrrp.authenticated && !pass) return false;
      const want = renderAll(spec, opts, pass);
      const have = await views(ctx);
      return want.every((w) => {
        const h = have[w.lb]!.hashes;
        return h.ca !== undefined && h.haproxy === sha(w.haproxy) && h.keepalived === sha(w.keepalived) && h.notify === sha(w.notify);
      });
    },
    run: async (ctx, t) => {
      const want = renderAll(spec, opts, await secret(ctx, true));
      const have = await views(ctx);
      const noCa = lbs.filter((lb) => have[lb]!.hashes.ca === undefined);
      if (noCa.length) {
        throw new HalabError('LB_CA_MISSING', `the Kubernetes CA is not on ${noCa.join(', ')} at ${LB_PATHS.caFile}`, {
          fix: 'HAProxy verifies the apiservers with it: the step that distributes the cluster CA must run before the load-balancer steps',
        });
      }
      // 1. validate every changed config on every LB; nothing is replaced unless all are valid
      const staged: [string, LbTool][] = [];
      for (const w of want) {
        const remote = ctx.remote(w.lb);
        const h = have[w.lb]!.hashes;
        if (h.notify !== sha(w.notify)) {
          await remote.exec(`mkdir -p ${LB_PATHS.notifyScript.replace(/\/[^/]+$/, '')}`);
          await remote.upload(LB_PATHS.notifyScript, w.notify, 0o755); // keepalived -t checks it exists
        }
        for (const tool of ['haproxy', 'keepalived'] as const) {
          if (h[tool] === sha(w[tool])) continue;
          t.log(`validating ${tool} config`, { host: w.lb });
          await stageAndValidate(remote, tool, w[tool]);
          staged.push([w.lb, tool]);
        }
      }
      // 2. all valid: promote
      for (const [lb, tool] of staged) {
        await promote(ctx.remote(lb), tool);
        t.log(`installed ${tool} config`, { host: lb });
      }
    },
  };

  const haproxy: Step<LabContext> = {
    id: 'lb:haproxy',
    title: `Run HAProxy on ${lbs.join(', ')} (restarted only if its config or the CA changed)`,
    done: async (ctx) => Object.values(await views(ctx)).every((v) => daemonCurrent('haproxy', v)),
    run: async (ctx, t) => {
      for (const lb of lbs) {
        await ensureDaemon(ctx, lb, 'haproxy', t, () => waitMonitor(ctx, lb, t));
      }
    },
  };

  const keepalived: Step<LabContext> = {
    id: 'lb:keepalived',
    title: `Run keepalived on ${lbs.join(', ')}, the VRRP MASTER ${master} first`,
    done: async (ctx) => Object.values(await views(ctx)).every((v) => daemonCurrent('keepalived', v)),
    run: async (ctx, t) => {
      // MASTER first: started together, both time out as BACKUP at once and the BACKUP may
      // briefly win (pitfall 11); started alone, the MASTER owns the VIP before the others come
      for (const lb of [master, ...lbs.filter((x) => x !== master)]) {
        await ensureDaemon(ctx, lb, 'keepalived', t, async (since, changed) => {
          if (changed) await waitVrrp(ctx, lb, since, lb === master, vipTimeoutMs(spec), t);
        });
      }
    },
  };

  const ready: Step<LabContext> = {
    id: 'lb:ready',
    title: `Wait for the VIP ${spec.vip} on ${master} only and HAProxy answering on every LB`,
    run: async (ctx, t) => {
      const probe = async (lb: string) => {
        const r = await ctx.remote(lb).exec(`ip -4 -o addr show dev ${LB_INTERFACE}; echo @@; ${monitorCmd()}`, { allowFail: true, timeoutMs: 10_000 });
        const [addrs = '', code = ''] = r.stdout.split('@@\n');
        return { lb, vip: hasAddress(addrs, spec.vip), monitor: code.trim() === '200' };
      };
      let last: Awaited<ReturnType<typeof probe>>[] = [];
      await until(`the VIP on ${master} only, with every HAProxy up`, async () => {
        last = await Promise.all(lbs.map(probe));
        return last.every((p) => p.monitor && p.vip === (p.lb === master)) ? true : undefined;
      }, vipTimeoutMs(spec), t, async () => last.map((p) => `${p.lb}: VIP ${p.vip ? 'present' : 'absent'}, HAProxy monitor ${p.monitor ? 'OK' : 'not answering'}`).join('\n'));
      t.log(`VIP ${spec.vip} on ${master}`, { host: master });
    },
  };

  return [configs, haproxy, keepalived, ready];
}
