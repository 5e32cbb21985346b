import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { LabContext } from '../../providers/types.ts';
import { referenceSpec } from './fixtures.ts';
import {
  backendStatuses,
  hasAddress,
  isServerUp,
  parseLbProbe,
  parseServersState,
  parseStatCsv,
  parseVrrpEvents,
  describeVip,
  vipView,
  describeViews,
  haproxyViews,
  waitBackendsUp,
  type VrrpStatus,
} from './status.ts';

// captured on the lab (HAProxy 2.6.12) with m3's apiserver stopped
const SERVERS_STATE = readFileSync(new URL('./testdata/haproxy-servers-state.txt', import.meta.url), 'utf8');
const SHOW_STAT = readFileSync(new URL('./testdata/haproxy-show-stat.csv', import.meta.url), 'utf8');

// captured 0.1 s after HAProxy started: m1 checked, m2 already failed, m3 not checked yet
const JUST_STARTED = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 apiservers 1 m1 10.213.0.21 2 0 1 1 0 15 3 3 6 0 0 0 - 6443 - 0 0 - - 0
3 apiservers 2 m2 10.213.0.22 0 0 1 1 0 8 2 0 6 0 0 0 - 6443 - 0 0 - - 0
3 apiservers 3 m3 10.213.0.23 2 0 1 1 0 1 0 2 6 0 0 0 - 6443 - 0 0 - - 0
`;

describe('HAProxy server states', () => {
  it('parses show servers state by its header', () => {
    expect(parseServersState(SERVERS_STATE)).toEqual([
      {
        backend: 'apiservers',
        server: 'm1',
        address: '10.213.0.21',
        opState: 2,
        adminState: 0,
        checkResult: 3,
        checkHealth: 3,
      },
      {
        backend: 'apiservers',
        server: 'm2',
        address: '10.213.0.22',
        opState: 2,
        adminState: 0,
        checkResult: 3,
        checkHealth: 3,
      },
      {
        backend: 'apiservers',
        server: 'm3',
        address: '10.213.0.23',
        opState: 0,
        adminState: 0,
        checkResult: 2,
        checkHealth: 0,
      },
    ]);
  });

  it('does not count a server UP before its first check passed (HAProxy starts servers UP)', () => {
    const s = parseServersState(JUST_STARTED);
    expect(s.map((x) => [x.server, x.opState, x.checkResult, isServerUp(x)])).toEqual([
      ['m1', 2, 3, true],
      ['m2', 0, 2, false],
      ['m3', 2, 0, false], // "running" only because nothing was checked yet
    ]);
  });

  it('does not count a server in maintenance, or one whose last check failed while it is still up', () => {
    const base = {
      backend: 'apiservers',
      server: 'm1',
      address: 'x',
      opState: 2,
      adminState: 0,
      checkResult: 3,
      checkHealth: 3,
    };
    expect(isServerUp(base)).toBe(true);
    expect(isServerUp({ ...base, adminState: 1 })).toBe(false);
    expect(isServerUp({ ...base, checkResult: 2, checkHealth: 2 })).toBe(false); // falling: "UP 1/2"
  });

  it('parses show stat and merges both views', () => {
    const rows = parseStatCsv(SHOW_STAT).filter((r) => r.proxy === 'apiservers');
    expect(rows.map((r) => [r.server, r.status, r.checkStatus])).toEqual([
      ['m1', 'UP', 'L7OK'],
      ['m2', 'UP', 'L7OK'],
      ['m3', 'DOWN', 'L4CON'],
      ['BACKEND', 'UP', ''],
    ]);
    expect(backendStatuses(SERVERS_STATE, SHOW_STAT)).toEqual([
      { server: 'm1', up: true, lastCheck: 'L7OK 200' },
      { server: 'm2', up: true, lastCheck: 'L7OK 200' },
      { server: 'm3', up: false, lastCheck: 'L4CON: Connection refused' },
    ]);
  });

  it('returns nothing for empty output', () => {
    expect(parseServersState('')).toEqual([]);
    expect(backendStatuses('', '')).toEqual([]);
  });
});

describe('VRRP state', () => {
  const addrs = (vip: boolean) =>
    [
      '2: eth0    inet 10.213.0.11/24 scope global eth0\\       valid_lft forever preferred_lft forever',
      ...(vip
        ? ['2: eth0    inet 10.213.0.10/24 scope global secondary eth0\\       valid_lft forever preferred_lft forever']
        : []),
    ].join('\n');
  const probe = (o: { vip: boolean; procs: string; events: string; now: string }) =>
    `${addrs(o.vip)}\n@@halab@@\n${o.procs}\n@@halab@@\n${o.events}\n@@halab@@\n${o.now}\n`;
  const EVENTS = '1795700000.100000 lb1 BACKUP\n1795700000.800000 lb1 MASTER\n';

  it('finds the VIP among the addresses, not a longer address with the same prefix', () => {
    expect(hasAddress(addrs(true), '10.213.0.10')).toBe(true);
    expect(hasAddress(addrs(false), '10.213.0.10')).toBe(false);
    expect(hasAddress('2: eth0    inet 10.213.0.100/24 scope global eth0', '10.213.0.10')).toBe(false);
  });

  it('parses the notify log', () => {
    expect(parseVrrpEvents(`${EVENTS}garbage\n1795700001,5 lb2 FAULT\n`)).toEqual([
      { at: 1795700000.1, host: 'lb1', state: 'BACKUP' },
      { at: 1795700000.8, host: 'lb1', state: 'MASTER' },
      { at: 1795700001.5, host: 'lb2', state: 'FAULT' },
    ]);
  });

  it('reports the running process with its last state', () => {
    expect(
      parseLbProbe(
        'lb1',
        '10.213.0.10',
        probe({ vip: true, procs: '302 S 10\n307 S 10', events: EVENTS, now: '1795700009.0' }),
      ),
    ).toEqual({ lb: 'lb1', reachable: true, process: 'running', state: 'MASTER', since: 1795700000.8, hasVip: true });
  });

  it('ignores what an earlier process reported', () => {
    // started 2 s ago, after the events were written
    expect(
      parseLbProbe(
        'lb1',
        '10.213.0.10',
        probe({ vip: false, procs: '402 S 2\n407 S 2', events: EVENTS, now: '1795700009.0' }),
      ),
    ).toEqual({ lb: 'lb1', reachable: true, process: 'running', hasVip: false });
  });

  it('reports a frozen process (SIGSTOP) and a crashed one with its stale VIP', () => {
    expect(
      parseLbProbe(
        'lb1',
        '10.213.0.10',
        probe({ vip: true, procs: '302 T 10\n307 T 10', events: EVENTS, now: '1795700009.0' }),
      ),
    ).toMatchObject({ process: 'frozen', state: 'MASTER', hasVip: true });
    expect(
      parseLbProbe('lb1', '10.213.0.10', probe({ vip: true, procs: '', events: EVENTS, now: '1795700009.0' })),
    ).toEqual({ lb: 'lb1', reachable: true, process: 'absent', hasVip: true });
    expect(
      parseLbProbe('lb1', '10.213.0.10', probe({ vip: true, procs: '302 Z 10', events: EVENTS, now: '1795700009.0' }))
        .process,
    ).toBe('absent');
  });

  it('picks the live MASTER when a crashed one keeps a stale VIP', () => {
    const st = (lb: string, o: Partial<VrrpStatus>): VrrpStatus => ({
      lb,
      reachable: true,
      process: 'running',
      hasVip: false,
      ...o,
    });
    expect(vipView([st('lb1', { hasVip: true, state: 'MASTER' }), st('lb2', { state: 'BACKUP' })])).toEqual({
      holders: ['lb1'],
      holder: 'lb1',
      splitBrain: false,
      stale: [],
    });
    const crashed = vipView([
      st('lb1', { hasVip: true, process: 'absent' }),
      st('lb2', { hasVip: true, state: 'MASTER' }),
    ]);
    expect(crashed).toEqual({ holders: ['lb1', 'lb2'], holder: 'lb2', splitBrain: false, stale: ['lb1'] });
    expect(describeVip(crashed)).toMatch(/^lb2 \(a stale copy on lb1: its keepalived is not running as MASTER/);
    expect(vipView([st('lb1', {}), st('lb2', {})])).toEqual({ holders: [], splitBrain: false, stale: [] });
    expect(describeVip(vipView([st('lb1', {}), st('lb2', {})]))).toBe('no load balancer');
  });

  it('reports a split brain: two live MASTERs both hold the VIP, and neither is THE holder (issue 11, case 2)', () => {
    const st = (lb: string): VrrpStatus => ({ lb, reachable: true, process: 'running', state: 'MASTER', hasVip: true });
    const v = vipView([st('lb1'), st('lb2')]);
    expect(v).toEqual({ holders: ['lb1', 'lb2'], holder: undefined, splitBrain: true, stale: [] });
    expect(describeVip(v)).toBe('lb1 AND lb2 (split brain)');
    // an unreachable LB's last known address does not count
    expect(vipView([st('lb1'), { ...st('lb2'), reachable: false }]).holder).toBe('lb1');
  });
});

describe('waitBackendsUp', () => {
  // each LB answers the admin-socket script with the captured views (m1, m2 UP; m3 DOWN)
  const fakeLab = (reads: string[]) =>
    ({
      state: { spec: referenceSpec() },
      remote: (host: string) => ({
        exec: async () => {
          reads.push(host);
          return { exitCode: 0, stdout: `${SERVERS_STATE}@@halab-stat@@\n${SHOW_STAT}`, stderr: '' };
        },
      }),
    }) as unknown as LabContext;

  it('returns the views of every LB that showed enough apiservers UP', async () => {
    const reads: string[] = [];
    const views = await waitBackendsUp(fakeLab(reads), 2, 1000);
    expect(reads.sort()).toEqual(['lb1', 'lb2']);
    for (const lb of ['lb1', 'lb2'])
      expect(views[lb]!.map((b) => [b.server, b.up])).toEqual([
        ['m1', true],
        ['m2', true],
        ['m3', false],
      ]);
  });

  it("throws LB_BACKENDS_DOWN with every LB's view when too few are UP", async () => {
    const err = await waitBackendsUp(fakeLab([]), 3, 100, { intervalMs: 20 }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'LB_BACKENDS_DOWN',
      details: expect.stringMatching(/^lb1: m1 UP.*m3 DOWN[^]*\nlb2: /),
    });
  });

  it('haproxyViews reads every LB at once; one that cannot be asked has no backends and says why', async () => {
    const ctx = {
      state: { spec: referenceSpec() },
      remote: (host: string) => ({
        exec: async () =>
          host === 'lb2'
            ? { exitCode: 3, stdout: '', stderr: 'no HAProxy admin socket at /run/haproxy/admin.sock' }
            : { exitCode: 0, stdout: `${SERVERS_STATE}@@halab-stat@@\n${SHOW_STAT}`, stderr: '' },
      }),
    } as unknown as LabContext;
    const views = await haproxyViews(ctx);
    expect(views.map((v) => [v.lb, v.backends.length, v.error])).toEqual([
      ['lb1', 3, undefined],
      ['lb2', 0, "cannot read HAProxy's backend states on lb2"],
    ]);
    expect(describeViews(views)).toBe("lb1: m1 UP m2 UP m3 DOWN; lb2: cannot read HAProxy's backend states on lb2");
  });
});
