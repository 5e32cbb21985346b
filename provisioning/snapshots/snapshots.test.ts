import { describe, expect, it } from 'vitest';
import { formatSnapshots } from '../cli/cluster.ts';
import { fakeLab, testSpec, type FakeHost, type Reply } from '../engine/fake-lab.testutil.ts';
import {
  SNAPSHOT_SCRIPT_PATH,
  installSchedule,
  listSnapshots,
  listSnapshotsReport,
  parseSnapshotList,
  saveSnapshot,
  scheduleConverged,
  scriptCommand,
  snapshotScript,
  snapshotServiceDef,
} from './snapshots.ts';

const spec = testSpec();

const GOOD =
  '{"v":1,"file":"snap-20261126T152500Z.db","master":"m2","origin":"manual","createdAt":"2026-11-26T15:25:00Z","sizeBytes":20512,"mtime":"1795706712.256609823","checkedAt":"2026-11-26T15:25:01Z","ok":true,"status":{"hash":3130830108,"revision":3,"totalKey":6,"totalSize":20480}}';
const BAD =
  '{"v":1,"file":"snap-20261126T152600Z.db","master":"m2","origin":"schedule","createdAt":"2026-11-26T15:26:00Z","sizeBytes":10000,"mtime":"1795706718.4","checkedAt":"2026-11-26T15:27:00Z","ok":false,"error":"size 10000 bytes is not a database plus the 32-byte sha256 trailer etcd appends: truncated, or not an etcd snapshot"}';

describe('parseSnapshotList', () => {
  it('maps sidecars to snapshot infos with age', () => {
    const l = parseSnapshotList('m2', `${BAD}\n${GOOD}\n`, Date.parse('2026-11-26T15:30:00Z'));
    expect(l).toEqual([
      {
        master: 'm2',
        file: '/var/lib/etcd-snapshots/snap-20261126T152500Z.db',
        sizeBytes: 20512,
        createdAt: '2026-11-26T15:25:00Z',
        ageS: 300,
        status: 'good',
        hash: 3130830108,
        revision: 3,
        keys: 6,
        totalSize: 20480,
        origin: 'manual',
        checkedAt: '2026-11-26T15:25:01Z',
        error: undefined,
      },
      {
        master: 'm2',
        file: '/var/lib/etcd-snapshots/snap-20261126T152600Z.db',
        sizeBytes: 10000,
        createdAt: '2026-11-26T15:26:00Z',
        ageS: 240,
        status: 'bad',
        hash: undefined,
        revision: undefined,
        keys: undefined,
        totalSize: undefined,
        origin: 'schedule',
        checkedAt: '2026-11-26T15:27:00Z',
        error: expect.stringMatching(/truncated/),
      },
    ]);
  });

  it('an ok sidecar without a status is not good; garbage is reported, foreign names ignored', () => {
    const noStatus = GOOD.replace(/,"status":\{[^}]*\}/, '');
    const l = parseSnapshotList('m1', `${noStatus}\nnot json\n{"file":"other.db"}\n`);
    expect(l.map((s) => [s.status, s.error])).toEqual([
      ['bad', expect.stringMatching(/^unreadable sidecar/)],
      ['bad', 'no status recorded'],
    ]);
  });
});

describe('save and list over a fake SSH layer', () => {
  const STATUS =
    '[{"Endpoint":"https://10.213.51.21:2379","Status":{"header":{"member_id":11},"leader":11,"raftTerm":2}},{"Endpoint":"https://10.213.51.22:2379","Status":{"header":{"member_id":12},"leader":11,"raftTerm":2}},{"Endpoint":"https://10.213.51.23:2379","Status":{"header":{"member_id":13},"leader":11,"raftTerm":2}}]';
  const HEALTH =
    '[{"endpoint":"https://10.213.51.21:2379","health":true},{"endpoint":"https://10.213.51.22:2379","health":true},{"endpoint":"https://10.213.51.23:2379","health":true}]';
  const handler = (h: FakeHost, cmd: string): Reply | undefined => {
    if (cmd.includes('endpoint status')) return { stdout: STATUS };
    if (cmd.includes('endpoint health')) return { stdout: HEALTH };
    if (cmd.startsWith('/bin/sh -c ') && cmd.endsWith(' etcd-snapshot save manual'))
      return { stdout: `${GOOD.replace('"m2"', `"${h.host}"`)}\n` };
    if (cmd.startsWith('/bin/sh -c ') && cmd.endsWith(' etcd-snapshot list'))
      return { stdout: h.host === 'm3' ? `${BAD}\n` : `${GOOD}\n` };
    return undefined;
  };

  it('saves on a healthy follower by default, or on the master asked for', async () => {
    const lab = fakeLab(spec, handler);
    const s = await saveSnapshot(lab);
    expect(s).toMatchObject({ master: 'm2', status: 'good', revision: 3, keys: 6, hash: 3130830108 });
    const cmd = lab.hosts.get('m2')!.commands.find((c) => c.includes('etcd-snapshot save'))!;
    expect(cmd).toBe(scriptCommand(snapshotScript(spec, 'm2'), ['save', 'manual']));
    expect((await saveSnapshot(lab, 'm1')).master).toBe('m1');
  });

  it("a save that produced nothing throws with the script's message", async () => {
    const lab = fakeLab(spec, (h, c) =>
      c.includes('etcd-snapshot save')
        ? { exitCode: 1, stderr: 'etcd-snapshot m1: snapshot save failed: Error: context deadline exceeded' }
        : handler(h, c),
    );
    await expect(saveSnapshot(lab, 'm1')).rejects.toMatchObject({
      code: 'SNAPSHOT_FAILED',
      details: expect.stringMatching(/context deadline exceeded/),
    });
  });

  it('lists every master; a powered-off one is reported, not fatal, in the report', async () => {
    const lab = fakeLab(spec, handler);
    const all = await listSnapshots(lab);
    expect(all.map((s) => [s.master, s.status])).toEqual([
      ['m1', 'good'],
      ['m2', 'good'],
      ['m3', 'bad'],
    ]);
    lab.poweredOff.add('m1');
    const r = await listSnapshotsReport(lab);
    expect(r.snapshots.map((s) => s.master)).toEqual(['m2', 'm3']);
    expect(r.unreachable).toEqual([{ master: 'm1', error: 'm1 is powered off' }]);
    await expect(listSnapshots(lab)).rejects.toThrow(/cannot list the snapshots of m1/);
  });

  it("shows each snapshot's revision against the cluster's current one (issue 11, case 3)", async () => {
    // the healthy members are at revision 393; m2's snapshot was taken at 3
    const lab = fakeLab(spec, (h, c) =>
      c.includes('endpoint status')
        ? { stdout: STATUS.replace(/"member_id":(\d+)/g, '"member_id":$1,"revision":393') }
        : handler(h, c),
    );
    const r = await listSnapshotsReport(lab);
    expect(r.clusterRevision).toBe(393);
    expect(r.snapshots.filter((s) => s.status === 'good').map((s) => [s.master, s.revision, s.behind])).toEqual([
      ['m1', 3, 390],
      ['m2', 3, 390],
    ]);
    expect(formatSnapshots(r.snapshots).split('\n')[1]).toMatch(/good +revision 3 of 393 \(390 behind\), 6 keys/);
  });

  it('a save on a member that is not part of a quorum is refused with the reason (issue 11, case 3)', async () => {
    const lab = fakeLab(spec, (h, c) =>
      c.includes('etcd-snapshot save')
        ? {
            exitCode: 3,
            stderr:
              'etcd-snapshot m2: not part of a quorum (Error: context deadline exceeded): no manual snapshot from a member that may be behind the cluster',
          }
        : handler(h, c),
    );
    await expect(saveSnapshot(lab, 'm2')).rejects.toMatchObject({
      code: 'SNAPSHOT_NO_QUORUM',
      message: "m2's etcd member is not part of a quorum: no snapshot taken from it",
    });
  });
});

describe('schedule', () => {
  it('the service runs the uploaded script in loop mode', () => {
    expect(snapshotServiceDef()).toEqual({
      name: 'etcd-snapshot',
      command: ['/bin/sh', '/etc/halab/etcd-snapshot.sh', 'loop'],
    });
  });

  it('installs on every master, changes nothing the second time, restarts the loop when the script changes, removes it for intervalS 0', async () => {
    const lab = fakeLab(testSpec({ snapshots: { intervalS: 5, retain: 2 } }), () => ({}));
    const t = { log: () => {} };
    expect(await scheduleConverged(lab)).toBe(false);
    await installSchedule(lab, t);
    expect(await scheduleConverged(lab)).toBe(true);
    for (const m of ['m1', 'm2', 'm3']) {
      const h = lab.hosts.get(m)!;
      expect(h.files.get(SNAPSHOT_SCRIPT_PATH)).toMatchObject({ mode: 0o755 });
      expect(h.files.get(SNAPSHOT_SCRIPT_PATH)!.content.toString()).toContain(`MASTER=${m}\n`);
      expect(h.files.get(SNAPSHOT_SCRIPT_PATH)!.content.toString()).toContain('INTERVAL=5\nRETAIN=2\n');
      expect(lab.svc.get(m)!.services.get('etcd-snapshot')!.def).toEqual(snapshotServiceDef());
    }
    expect(lab.svc.get('w1')!.actions).toEqual([]);
    await installSchedule(lab, t);
    expect(lab.svc.get('m1')!.actions).toEqual(['install etcd-snapshot']);
    // new retention: the script (an input) changes, the service definition does not -> updated
    lab.state.spec = testSpec({ snapshots: { intervalS: 5, retain: 3 } });
    expect(await scheduleConverged(lab)).toBe(false);
    await installSchedule(lab, t);
    expect(lab.svc.get('m1')!.actions.at(-1)).toBe('update etcd-snapshot');
    expect(lab.hosts.get('m1')!.files.get(SNAPSHOT_SCRIPT_PATH)!.content.toString()).toContain('RETAIN=3\n');
    expect(await scheduleConverged(lab)).toBe(true);
    // schedule off
    lab.state.spec = testSpec({ snapshots: { intervalS: 0, retain: 3 } });
    expect(await scheduleConverged(lab)).toBe(false);
    await installSchedule(lab, t);
    expect(lab.svc.get('m1')!.actions.at(-1)).toBe('remove etcd-snapshot');
    expect(lab.hosts.get('m1')!.commands.at(-1)).toBe(`rm -f ${SNAPSHOT_SCRIPT_PATH}`);
    expect(await scheduleConverged(lab)).toBe(true);
  });

  it('intervalS 0 on a lab that never had it: nothing to do', async () => {
    const lab = fakeLab(testSpec({ snapshots: { intervalS: 0, retain: 5 } }), () => ({}));
    expect(await scheduleConverged(lab)).toBe(true);
  });
});
