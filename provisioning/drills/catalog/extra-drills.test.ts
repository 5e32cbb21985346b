// Pure parts of the disk-loss, partition and quorum-table drills.
import { describe, expect, it } from 'vitest';
import { validateSpec } from '../../spec/validate.ts';
import type { LabSpec } from '../../api/types.ts';
import { infoOf } from '../engine.ts';
import { DRILLS } from './index.ts';
import { parseMemberList, predictDiskLoss, wipeCommand } from './disk-loss.ts';
import { parseRecorder, partitionRecorderScript, predictPartition } from './partition.ts';
import {
  QT_DIR,
  formatQuorumTable,
  parseQuorumRun,
  predictQuorumTable,
  qtClientPort,
  qtPeerPort,
  quorumTableHost,
  quorumTableScript,
} from './quorum-table.ts';

function refSpec(): LabSpec {
  const r = validateSpec({ name: 'unitdx', subnet: '10.213.99.0/24' }, { cidrs: [] } as never);
  if (!r.spec) throw new Error(JSON.stringify(r.issues));
  return r.spec;
}

describe('registration', () => {
  it('the three drills come last, after the existing six', () => {
    expect(DRILLS.map((d) => d.info.name)).toEqual([
      'master-down',
      'lb-failover',
      'quorum-loss',
      'worker-down',
      'etcd-restore',
      'external-lb',
      'disk-loss',
      'partition',
      'quorum-table',
      'lb-no-backends',
      'split-brain',
      'frozen-master',
      'control-plane-down',
      'in-cluster-clients',
    ]);
    for (const d of DRILLS) {
      const info = infoOf(d);
      expect(info.steps[0]!.id).toBe('preflight');
      expect(info.steps.at(-1)!.id).toBe('healthy-again');
      // the drills only real pods allow need bootstrap kubeadm; every other one runs on the reference lab
      const spec = refSpec();
      expect(
        d.needs(
          ['control-plane-down', 'in-cluster-clients'].includes(d.info.name) ? { ...spec, bootstrap: 'kubeadm' } : spec,
        ),
      ).toEqual([]);
    }
  });
});

describe('quorum-table', () => {
  it("predicts the article's table: floor((n-1)/2) for 1..7", () => {
    expect(predictQuorumTable(refSpec()).map((p) => [p.id, p.value, p.margin])).toEqual([
      ['tolerated-1', 0, 0],
      ['tolerated-2', 0, 0],
      ['tolerated-3', 1, 0],
      ['tolerated-4', 1, 0],
      ['tolerated-5', 2, 0],
      ['tolerated-6', 2, 0],
      ['tolerated-7', 3, 0],
    ]);
  });

  it("gives every member of every size its own ports, below the kernel's ephemeral range", () => {
    const ports = new Set<number>();
    for (let n = 1; n <= 7; n++)
      for (let i = 1; i <= n; i++) {
        ports.add(qtClientPort(n, i));
        ports.add(qtPeerPort(n, i));
      }
    expect(ports.size).toBe(2 * 28);
    // an outgoing connection may take any port of 32768-60999 as its source port
    expect(Math.max(...ports)).toBeLessThan(32768);
  });

  it('builds a script that starts n plain members on the loopback, with pid files and a cleanup trap', () => {
    const sc = quorumTableScript(3);
    expect(sc.match(/nohup \/usr\/bin\/etcd /g)).toHaveLength(3);
    expect(sc).toContain(
      '--initial-cluster=qt3-1=http://127.0.0.1:31531,qt3-2=http://127.0.0.1:31532,qt3-3=http://127.0.0.1:31533',
    );
    expect(sc).toContain('--heartbeat-interval=100 --election-timeout=1000');
    expect(sc).toContain(`echo $! >${QT_DIR}/3-1.pid`);
    expect(sc).toContain('trap cleanup EXIT');
    expect(sc).not.toMatch(/https:|--cert/);
  });

  it('parses a run: the kills survived by a committed write', () => {
    const r = parseQuorumRun(
      5,
      'READY\nWRITE 0 ok\nKILL 1\nWRITE 1 ok\nKILL 2\nWRITE 2 ok\nKILL 3\nWRITE 3 fail Error: context deadline exceeded\n',
    );
    expect(r).toMatchObject({ members: 5, ready: true, tolerated: 2 });
    expect(r.writes.at(-1)).toEqual({ killed: 3, ok: false, error: 'Error: context deadline exceeded' });
    expect(parseQuorumRun(1, 'NOTREADY\n')).toMatchObject({ ready: false, tolerated: -1 });
  });

  it("formats the measured table next to the article's", () => {
    const t = formatQuorumTable([
      { members: 3, majority: 2, measured: 1, article: 1 },
      { members: 4, majority: 3, measured: 2, article: 1 },
    ]);
    const lines = t.split('\n');
    expect(lines[0]).toBe('members  majority  tolerated (measured)  tolerated (article)');
    expect(lines[2]).toMatch(/^3 +2 +1 +1 +same$/);
    expect(lines[3]).toMatch(/^4 +3 +2 +1 +DIFFERENT$/);
  });

  it('runs on the last worker', () => {
    expect(quorumTableHost(refSpec())).toBe('w2');
  });
});

describe('partition', () => {
  it("predicts from the lab's timers", () => {
    const spec = refSpec();
    const p = Object.fromEntries(predictPartition(spec).map((x) => [x.id, x]));
    expect(p['isolated-writes']!.value).toBe(0);
    const t = spec.timers;
    expect(p['haproxy-down']!.value).toBe(
      t.haproxyCheckFall * (Math.min(300, t.haproxyCheckInterMs) + t.haproxyCheckInterMs),
    );
    expect(p['converge']!.value).toBeCloseTo((2 * t.etcdElectionMs) / 1000 + 1);
  });

  it('the recorder waits for the carrier to drop and writes to the local member', () => {
    const sc = partitionRecorderScript();
    expect(sc).toContain('/sys/class/net/eth0/carrier');
    expect(sc).toContain('--endpoints=https://127.0.0.1:2379');
    expect(sc).toContain('--consistency=s');
  });

  it('parses the recorder output', () => {
    const r = parseRecorder(
      'CUT 1700000000.100000\nPUT 1 1 1700000000.200000 1700000003.300000 Error: context deadline exceeded\nSGET 1 0\nPUT 2 1 1700000006.300000 1700000009.400000 Error: context deadline exceeded\nSGET 2 0\nDONE\n',
    );
    expect(r.done).toBe(true);
    expect(r.cutAt).toBe(1700000000100);
    expect(r.attempts).toHaveLength(2);
    expect(r.attempts[0]).toEqual({
      n: 1,
      exitCode: 1,
      start: 1700000000200,
      end: 1700000003300,
      error: 'Error: context deadline exceeded',
      serializableRead: true,
    });
    expect(parseRecorder('TIMEOUT\n')).toEqual({ cutAt: undefined, attempts: [], done: false });
  });
});

describe('disk-loss', () => {
  it('parses member list JSON with exact 64-bit IDs', () => {
    const list = parseMemberList(
      '{"header":{"cluster_id":1129171014155689710,"member_id":7686125478416267746},"members":[{"ID":5685060754765868863,"name":"m3","peerURLs":["https://10.0.0.23:2380"],"clientURLs":["https://10.0.0.23:2379"]},{"ID":12606975961641627716,"peerURLs":["https://10.0.0.22:2380"]}]}',
    );
    expect(list).toEqual([
      { id: '5685060754765868863', hexId: '4ee564a2be556f3f', name: 'm3', peerURLs: ['https://10.0.0.23:2380'] },
      { id: '12606975961641627716', hexId: 'aef4f9d7ad89b044', name: '', peerURLs: ['https://10.0.0.22:2380'] },
    ]);
    expect(parseMemberList('')).toEqual([]);
  });

  it('wipes the content of the data dir on disk A', () => {
    expect(wipeCommand()).toContain('find /var/lib/etcd/data -mindepth 1 -delete');
  });

  it('predicts a majority kept throughout', () => {
    const p = Object.fromEntries(predictDiskLoss(refSpec()).map((x) => [x.id, x]));
    expect(p['healthy-during']).toMatchObject({ value: 2, min: 2, margin: 0 });
    expect(p['write-outage']!.value).toBe(400);
  });
});
