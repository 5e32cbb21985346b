// split-brain: the two load balancers stop hearing each other's VRRP adverts while both keep
// running (each LB's ARP entry for the other points at a MAC nobody owns: a broken VLAN, a
// firewall dropping protocol 112). Each thinks the other is dead, so both hold the VIP. Status,
// the map and the drill preflight must say so. When they hear each other again, exactly one must
// keep the VIP and announce it at once, so that no client stays on the loser's MAC.

import type { Prediction } from '../../api/drills.ts';
import type { LabSpec } from '../../api/types.ts';
import { controlPlaneStatus } from '../../engine/cp-status.ts';
import { shq } from '../../exec/types.ts';
import { workerHosts } from '../../spec/roles.ts';
import { LB_INTERFACE, lbNodes, masterDownMs, masterLb, vrrpSettings } from '../../steps/lb/model.ts';
import { vipView, vrrpStates } from '../../steps/lb/status.ts';
import type { Drill, DrillContext } from '../engine.ts';
import { labHealth } from '../health.ts';
import { DEFAULT_PROBE, probeStats } from '../probe.ts';
import { n, probeCaughtUp, s, vipPresentCondition, watchOnHost } from './common.ts';

/** A MAC nobody owns (locally administered): where each LB's adverts to the other go. */
export const NOBODY_MAC = '02:00:00:de:ad:01';
/** keepalived's vrrp_garp_master_refresh in keepalived.ts: a MASTER re-announces the VIP this often. */
export const GARP_REFRESH_S = 10;
/** ARP flips of the clients during the split (see the split-read-failures prediction). */
export const SPLIT_FLIPS = 4;
/** Reads after the heal that count as the heal's (the probe's own timeout covers requests in flight). */
export const HEAL_WINDOW_MS = 3000;
/** How long both LBs hold the VIP at least, before the heal. */
export const SPLIT_HOLD_S = 6;

/** The commands that cut and heal one LB's adverts to its peer (pure). */
export function neighCommands(peer: string): { cut: string; heal: string } {
  return {
    cut: `ip neigh replace ${peer} lladdr ${NOBODY_MAC} dev ${LB_INTERFACE} nud permanent`,
    heal: `ip neigh del ${peer} dev ${LB_INTERFACE} 2>/dev/null; true`,
  };
}

/** Shell condition on a client: its ARP entry for `ip` points at `mac`. */
export function neighPointsAt(ip: string, mac: string): string {
  return `ip neigh show ${ip} dev ${LB_INTERFACE} | grep -qi ${shq(` lladdr ${mac} `)}`;
}

interface ArpWatch {
  /** When the client's entry first held `from` (the watcher is armed). */
  armed: Promise<number>;
  /** When, after that, it held `to`; undefined on timeout. */
  result: Promise<number | undefined>;
}

/**
 * A watcher ON the client: it waits until the client's ARP entry for the VIP holds `fromMac`
 * (prints ARMED), then until it holds `toMac` (prints AT); both times from the host's clock.
 */
function armedArpWatch(ctx: DrillContext, host: string, fromMac: string, toMac: string): ArpWatch {
  const script = [
    'end=$(( $(date +%s) + 60 ))',
    `until ${neighPointsAt(ctx.spec.vip, fromMac)}; do [ "$(date +%s)" -ge "$end" ] && { echo TIMEOUT; exit 0; }; sleep 0.01; done`,
    'echo "ARMED $EPOCHREALTIME"',
    `until ${neighPointsAt(ctx.spec.vip, toMac)}; do [ "$(date +%s)" -ge "$end" ] && { echo TIMEOUT; exit 0; }; sleep 0.01; done`,
    'echo "AT $EPOCHREALTIME"',
  ].join('\n');
  let onArmed: (t: number) => void = () => {};
  const armed = new Promise<number>((res) => (onArmed = res));
  const ms = (line: string, tag: string) => {
    const m = new RegExp(`^${tag} (\\d+(?:\\.\\d+)?)`).exec(line.trim());
    return m ? Math.round(Number(m[1]) * 1000) : undefined;
  };
  const result = ctx.lab
    .remote(host)
    .exec(`bash -c ${shq(script)}`, {
      timeoutMs: 80_000,
      allowFail: true,
      onLine: (line) => {
        const t = ms(line, 'ARMED');
        if (t !== undefined) onArmed(t);
      },
    })
    .then(
      (r) =>
        r.stdout
          .split('\n')
          .map((l) => ms(l, 'AT'))
          .find((t) => t !== undefined),
      () => undefined,
    );
  return { armed, result };
}

export function predictSplitBrain(spec: LabSpec): Prediction[] {
  const v = vrrpSettings(spec);
  const advertMs = v.advertInt * 1000;
  const down = masterDownMs(spec);
  const readRate = 1000 / DEFAULT_PROBE.tickMs;
  return [
    {
      id: 'split',
      label: 'The standby holds the VIP too',
      unit: 'ms',
      value: down,
      min: Math.round(down - advertMs),
      margin: 500,
      formula: `the standby hears no advert any more and takes the VIP after its master-down timer (3 × ${n(v.advertInt)} s + skew = ${down} ms); the active LB hears nothing either, and keeps it`,
    },
    {
      id: 'split-read-failures',
      label: 'Failed reads while both hold the VIP',
      unit: 'count',
      value: Math.round(SPLIT_FLIPS * readRate * 0.05),
      min: 0,
      margin: Math.round(SPLIT_FLIPS * readRate * 0.4),
      formula: `both HAProxies reach every apiserver, so a request through either succeeds; but each time the clients' ARP entry flips from one LB to the other, the requests in flight are reset by the LB that never saw their connection. About ${SPLIT_FLIPS} flips: the standby's gratuitous ARPs when it takes over (at once and 1 s later) and each LB's re-announcement every ${GARP_REFRESH_S} s; in flight: ${n(readRate)} reads/s × ~50 ms (margin: × 400 ms, a loaded machine's latency)`,
    },
    {
      id: 'one-holder',
      label: 'One holder again after the heal',
      unit: 'ms',
      value: advertMs,
      min: 0,
      margin: 1000,
      formula: `the standby hears the active LB's next advert (every ${n(v.advertInt)} s), sees the higher priority and steps down: ≤ ${advertMs} ms; margin: the ARP resolution of the peer after its entry is removed, on a loaded machine`,
    },
    {
      id: 'arp-fixed',
      label: "The probe host's ARP entry back on the VIP holder",
      unit: 'ms',
      value: advertMs,
      min: 0,
      margin: 1000,
      formula: `the loser sends one last (lower-priority) advert before it steps down (vrrp_higher_prio_send_advert) and the winner answers a lower-priority advert with gratuitous ARPs at once (vrrp_garp_lower_prio_repeat): ≤ one advert interval (${advertMs} ms). Without that, clients stay on the loser's MAC until the winner's periodic re-announcement (every ${GARP_REFRESH_S} s) or their ARP entry expires (issue 11: 4.6 s, 2 reads lost)`,
    },
    {
      id: 'heal-read-failures',
      label: 'Failed reads after the heal',
      unit: 'count',
      value: 0,
      min: 0,
      margin: 4,
      formula: `the clients move to the winner with its gratuitous ARP as the loser steps down: 0 in the ${HEAL_WINDOW_MS / 1000} s after the heal; margin: the requests in flight at the switch, and the odd timeout of a loaded machine`,
    },
  ];
}

interface Vars {
  active: string;
  standby: string;
  macs: Record<string, string>;
  addrs: Record<string, string>;
  faultAt: number;
  cut?: boolean;
  healed?: boolean;
  healAt?: number;
  splitAt?: number;
}
const v = (ctx: DrillContext) => ctx.vars as unknown as Vars;

/** How far ahead both LBs are told the instant to change their entries (SSH on a loaded machine is slow). */
export const SYNC_AHEAD_MS = 600;

/**
 * Cut or heal both directions at the same instant (the hosts share this machine's clock): a
 * link that comes back, comes back both ways. Returns that instant (ms since the epoch).
 */
async function cutOrHeal(ctx: DrillContext, what: 'cut' | 'heal'): Promise<number> {
  const { active, standby, addrs } = v(ctx);
  const at = Date.now() + SYNC_AHEAD_MS;
  const wait = `until [ "$(date +%s%N)" -ge ${at}000000 ]; do sleep 0.002; done; `;
  await Promise.all(
    [
      [active, standby],
      [standby, active],
    ].map(([lb, peer]) =>
      ctx.command(
        lb!,
        wait + neighCommands(addrs[peer!]!)[what],
        what === 'cut'
          ? `${lb}'s adverts to ${peer} go to a MAC nobody owns: ${lb} no longer hears ${peer}, nor ${peer} it`
          : `${lb} resolves ${peer}'s address again: its adverts reach ${peer}`,
      ),
    ),
  );
  return at;
}

export const splitBrain: Drill = {
  info: {
    name: 'split-brain',
    title: 'The load balancers stop hearing each other: both hold the VIP',
    concept:
      "VRRP decides who holds the VIP by listening: a standby that hears no advert for three intervals takes over. If the two LBs cannot hear each other while both are alive, both hold the VIP (split brain), and each client reaches whichever LB answered its last ARP. Status must show both holders, not one. When they hear each other again, the lower priority steps down, and the winner must announce itself at once (gratuitous ARP), or clients stay on the loser's MAC until their ARP entry expires.",
    article: '§4',
    needs: '2 load balancers, 1 worker (probe)',
  },
  needs: (spec) => {
    const out: string[] = [];
    if (lbNodes(spec).length !== 2) out.push(`${lbNodes(spec).length} load balancer(s) (the drill splits exactly two)`);
    if (workerHosts(spec).length === 0) out.push('no worker');
    return out;
  },
  predict: predictSplitBrain,
  steps: [
    {
      id: 'choose',
      phase: 'explain',
      title: 'Find the active load balancer and both MAC addresses',
      explain: (ctx) =>
        `The VIP ${ctx.spec.vip} is on ${masterLb(ctx.spec).name}. Clients reach it through their ARP entry for the VIP: the MAC of whichever LB announced it last.`,
      run: async (ctx) => {
        const view = vipView(await vrrpStates(ctx.lab));
        const active = view.holder ?? masterLb(ctx.spec).name;
        const standby = lbNodes(ctx.spec).find((l) => l.name !== active)!.name;
        const macs: Record<string, string> = {};
        for (const lb of [active, standby]) {
          macs[lb] = (
            await ctx.lab.remote(lb).exec(`cat /sys/class/net/${LB_INTERFACE}/address`, { timeoutMs: 10_000 })
          ).stdout.trim();
        }
        const addrs = Object.fromEntries(lbNodes(ctx.spec).map((l) => [l.name, l.address]));
        Object.assign(ctx.vars, { active, standby, macs, addrs } satisfies Partial<Vars>);
        ctx.log(`active ${active} (${macs[active]}), standby ${standby} (${macs[standby]})`, active);
      },
    },
    {
      id: 'cut',
      phase: 'act',
      title: 'Make the load balancers deaf to each other',
      explain: (ctx) =>
        `On each LB, the other LB's address now resolves to ${NOBODY_MAC}, a MAC nobody owns: the unicast VRRP adverts go nowhere. Both keep running; a watcher on ${v(ctx).standby} records when it takes the VIP too.`,
      run: async (ctx) => {
        const { standby } = v(ctx);
        ctx.vars.watch = watchOnHost(ctx, standby, vipPresentCondition(ctx.spec.vip), { timeoutS: 30, everyS: 0.02 });
        await ctx.sleep(300);
        ctx.vars.cut = true;
        const at = await cutOrHeal(ctx, 'cut');
        ctx.vars.faultAt = ctx.mark('the LBs stop hearing each other', 'fault', at).t;
      },
    },
    {
      id: 'observe-split',
      phase: 'observe',
      title: 'Both hold the VIP: status, the map and the preflight must say so',
      explain: (ctx) =>
        `${v(ctx).standby} hears no advert and takes the VIP; ${v(ctx).active} hears none either and keeps it. \`halab status\` must say "VIP on ${v(ctx).active} AND ${v(ctx).standby} (split brain)".`,
      run: async (ctx) => {
        const { active, standby, faultAt } = v(ctx);
        const at = await (ctx.vars.watch as { result: Promise<number | undefined> }).result;
        if (at !== undefined) {
          ctx.vars.splitAt = at;
          ctx.mark(`VIP on ${active} AND ${standby}`, 'info', at);
          ctx.measure({
            id: 'split',
            label: `${standby} holds the VIP too`,
            value: at - faultAt,
            unit: 'ms',
            predictionId: 'split',
            how: `${standby}'s eth0 polled every 20 ms on ${standby}`,
          });
        }
        const cp = await controlPlaneStatus(ctx.lab);
        ctx.check({
          id: 'status-split-brain',
          title: '`halab status` reports both holders as a split brain',
          ok: cp.splitBrain && cp.vipHolders.length === 2 && cp.vipHolder === undefined,
          expected: `VIP on ${active} AND ${standby} (split brain)`,
          observed: cp.problems[0] ?? `vipHolders ${cp.vipHolders.join(', ')}, splitBrain ${cp.splitBrain}`,
        });
        const vipCheck = (await labHealth(ctx.lab)).find((c) => c.id === 'vip-home');
        ctx.check({
          id: 'preflight-split-brain',
          title: "The drills' health check (the preflight) says split brain",
          ok: !vipCheck?.ok && /AND .*\(split brain\)/.test(vipCheck?.observed ?? ''),
          expected: `not healthy: on ${active} AND ${standby} (split brain)`,
          observed: vipCheck ? `${vipCheck.ok ? 'healthy' : 'not healthy'}: ${vipCheck.observed}` : 'no VIP check',
        });
        const hold = faultAt + SPLIT_HOLD_S * 1000 - Date.now();
        if (hold > 0) await ctx.sleep(hold);
      },
    },
    {
      id: 'heal',
      phase: 'act',
      title: 'Let them hear each other again',
      explain: (ctx) =>
        `The worst moment: once the probe's host has last heard ${v(ctx).standby} (its ARP entry for the VIP holds ${v(ctx).standby}'s MAC), both LBs' bad entries are removed at the same instant, as when a link comes back. ${v(ctx).standby} hears the higher priority and steps down; ${v(ctx).active} must announce the VIP at once. A watcher on the probe's host records when its ARP entry points at ${v(ctx).active} again.`,
      run: async (ctx) => {
        const { active, standby, macs } = v(ctx);
        const probe = ctx.probe?.host ?? workerHosts(ctx.spec)[0]!.name;
        ctx.vars.goneWatch = watchOnHost(ctx, standby, `! ${vipPresentCondition(ctx.spec.vip)}`, {
          timeoutS: 60,
          everyS: 0.02,
        });
        const arp = armedArpWatch(ctx, probe, macs[standby]!, macs[active]!);
        ctx.vars.arpWatch = arp;
        const armed = await Promise.race([arp.armed, ctx.sleep(25_000).then(() => undefined)]);
        ctx.log(
          armed !== undefined
            ? `${probe} reaches the VIP at ${standby}'s MAC (${macs[standby]}): healing now`
            : `${probe} kept ${active}'s MAC during the split: healing anyway`,
          probe,
        );
        ctx.vars.armed = armed;
        const at = await cutOrHeal(ctx, 'heal');
        ctx.vars.healAt = ctx.mark('the LBs hear each other again', 'recovery', at).t;
        ctx.vars.healed = true;
      },
    },
    {
      id: 'verify',
      phase: 'verify',
      title: 'Verify: one holder, announced at once, no client left on the wrong MAC',
      explain: 'The checks read the VIP from every LB, and the probe says whether any read failed after the heal.',
      run: async (ctx) => {
        const { active, standby, healAt, faultAt } = v(ctx);
        const gone = await (ctx.vars.goneWatch as { result: Promise<number | undefined> }).result;
        if (gone !== undefined) {
          ctx.mark(`${standby} dropped the VIP`, 'recovery', gone);
          ctx.measure({
            id: 'one-holder',
            label: `${standby} drops the VIP after the heal`,
            value: Math.max(0, gone - healAt!),
            unit: 'ms',
            predictionId: 'one-holder',
            how: `${standby}'s eth0 polled every 20 ms on ${standby}`,
          });
        }
        const armed = ctx.vars.armed as number | undefined;
        const raw = await (ctx.vars.arpWatch as ArpWatch).result;
        // a periodic re-announcement that moved the client in the instant before the heal is not
        // the heal's doing: say so rather than count it
        const early = raw !== undefined && raw < healAt!;
        if (early)
          ctx.log(`${active}'s periodic announcement moved the probe's host ${s(healAt! - raw)} before the heal`);
        const arp = armed !== undefined && !early ? raw : undefined;
        if (arp !== undefined) {
          ctx.mark(`clients on ${active}'s MAC`, 'recovery', arp);
          ctx.measure({
            id: 'arp-fixed',
            label: `The probe host's ARP entry on ${active}'s MAC`,
            value: Math.max(0, arp - healAt!),
            unit: 'ms',
            predictionId: 'arp-fixed',
            how: `\`ip neigh\` on the probe's host every 10 ms, from the heal`,
          });
        }
        // every request started in the window has its answer (or its timeout) before it is counted
        const end = healAt! + HEAL_WINDOW_MS;
        const wait = end + DEFAULT_PROBE.totalTimeoutS * 1000 + 500 - Date.now();
        if (wait > 0) await ctx.sleep(wait);
        await probeCaughtUp(ctx, end);
        const view = vipView(await vrrpStates(ctx.lab));
        ctx.check({
          id: 'single-holder',
          title: `Exactly one holder after the heal: ${active}`,
          ok: view.holders.length === 1 && view.holder === active && !view.splitBrain,
          expected: `on ${active} only`,
          observed: view.holders.length ? `on ${view.holders.join(' AND ')}` : 'on no LB',
        });
        const limit = ctx.prediction('arp-fixed').value + ctx.prediction('arp-fixed').margin;
        ctx.check({
          id: 'arp-announced',
          title: `The probe's host follows ${active} after the heal (gratuitous ARP)`,
          ok: armed === undefined || early || (arp !== undefined && arp - healAt! <= limit),
          expected: `its ARP entry for the VIP on ${active}'s MAC within ${s(limit)} of the heal`,
          observed:
            armed === undefined
              ? `it never left ${active}'s MAC during the split`
              : early
                ? `moved by ${active}'s periodic announcement just before the heal`
                : arp !== undefined
                  ? `after ${s(arp - healAt!)}`
                  : 'not within 60 s',
        });
        const during = probeStats(ctx.samples(), 'read', { from: faultAt, to: healAt! });
        ctx.measure({
          id: 'split-read-failures',
          label: 'Failed reads while both held the VIP',
          value: during.failures,
          unit: 'count',
          predictionId: 'split-read-failures',
          how: `${during.requests} reads between the cut and the heal`,
        });
        const after = probeStats(ctx.samples(), 'read', { from: healAt!, to: end });
        const m = ctx.measure({
          id: 'heal-read-failures',
          label: 'Failed reads after the heal',
          value: after.failures,
          unit: 'count',
          predictionId: 'heal-read-failures',
          how: `${after.requests} reads started in the ${HEAL_WINDOW_MS / 1000} s after the heal; longest outage ${s(after.longestOutageMs)}`,
        });
        ctx.check({
          id: 'heal-reads',
          title: 'Reads keep working through the heal',
          ok: m.verdict !== 'worse than predicted',
          expected: `at most ${ctx.prediction('heal-read-failures').margin} failed reads`,
          observed: `${after.failures} of ${after.requests} failed`,
        });
      },
    },
  ],
  cleanup: async (ctx) => {
    const { active, cut, healed } = v(ctx);
    if (!cut || healed) return;
    // a heal that failed half-way, a cut that never got its heal: both entries go, at once
    await cutOrHeal(ctx, 'heal');
    await ctx
      .until(
        `the VIP on ${active} only`,
        async () => {
          const view = vipView(await vrrpStates(ctx.lab));
          return view.holders.length === 1 && view.holder === active;
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      )
      .catch(() => undefined);
  },
};
