import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { ProbeSample } from '../api/drills.ts';
import { allProbeStats, parseProbeLine, probeScript, probeStats } from './probe.ts';

const line = (f: (string | number)[]) => ['S', ...f].join('\t');

describe('parseProbeLine', () => {
  it('a 2xx answer is a success, with start time, latency and seq', () => {
    expect(parseProbeLine(line(['readyz', 7, '1700000000.123456', 0, 200, '0.042', '0.030', '']))).toEqual({
      t: 1700000000123,
      kind: 'read',
      op: 'GET /readyz',
      ok: true,
      latencyMs: 42,
      seq: 7,
    });
    expect(parseProbeLine(line(['get-cache', 1, '1700000000.5', 0, 200, '0.010', '0.005', '']))?.op).toBe(
      'GET configmap (cache)',
    );
  });

  it('a read that times out or gets an error answer failed', () => {
    const t = parseProbeLine(
      line([
        'get',
        2,
        '1700000000.0',
        28,
        '000',
        '2.501',
        '0.120',
        'curl: (28) Operation timed out after 2500 milliseconds with 0 bytes received',
      ]),
    );
    expect(t).toMatchObject({ kind: 'read', ok: false, latencyMs: 2501 });
    expect(t?.error).toMatch(/curl: \(28\) Operation timed out/);
    const e = parseProbeLine(
      line(['readyz', 3, '1700000000.0', 0, 500, '0.9', '0.1', '[-]etcd failed: reason withheld readyz check failed']),
    );
    expect(e).toMatchObject({ ok: false, error: expect.stringMatching(/^HTTP 500: \[-\]etcd failed/) });
  });

  it('a write sent without an answer is unknown, never failed', () => {
    for (const rc of [28, 52, 56]) {
      const s = parseProbeLine(line(['patch', 5, '1700000000.0', rc, '000', '2.5', '0.2', `curl: (${rc}) whatever`]));
      expect(s, `curl exit ${rc}`).toMatchObject({ kind: 'write', op: 'PATCH configmap', ok: null });
      expect(s?.error).toMatch(/outcome unknown/);
    }
  });

  it("the apiserver's own timeout on a write is unknown too (it may still commit)", () => {
    expect(
      parseProbeLine(
        line([
          'patch',
          5,
          '1700000000.0',
          0,
          504,
          '2.0',
          '0.2',
          '{"kind":"Status","message":"Timeout: request did not complete within requested timeout"}',
        ]),
      )?.ok,
    ).toBeNull();
    expect(
      parseProbeLine(
        line([
          'patch',
          5,
          '1700000000.0',
          0,
          500,
          '1.0',
          '0.2',
          '{"kind":"Status","message":"etcdserver: request timed out"}',
        ]),
      )?.ok,
    ).toBeNull();
  });

  it('a write that never left (refused, connect timeout, TLS failure) or was refused by the API failed', () => {
    expect(
      parseProbeLine(line(['patch', 5, '1700000000.0', 7, '000', '0.001', '0', 'curl: (7) Failed to connect']))?.ok,
    ).toBe(false);
    expect(
      parseProbeLine(line(['patch', 5, '1700000000.0', 28, '000', '1.5', '0', 'curl: (28) SSL connection timeout']))
        ?.ok,
    ).toBe(false);
    expect(
      parseProbeLine(
        line(['patch', 5, '1700000000.0', 35, '000', '0.3', '0', 'curl: (35) OpenSSL SSL_connect: SSL_ERROR_SYSCALL']),
      )?.ok,
    ).toBe(false);
    const r = parseProbeLine(
      line([
        'patch',
        5,
        '1700000000.0',
        0,
        500,
        '0.4',
        '0.1',
        '{"kind":"Status","message":"rpc error: code = Unavailable desc = error reading from server"}',
      ]),
    );
    expect(r).toMatchObject({
      ok: false,
      error: 'HTTP 500: rpc error: code = Unavailable desc = error reading from server',
    });
  });

  it('ignores other lines', () => {
    expect(parseProbeLine('READY')).toBeUndefined();
    expect(parseProbeLine('END')).toBeUndefined();
    expect(parseProbeLine(line(['nope', 1, '1', 0, 200, '0', '0', '']))).toBeUndefined();
  });
});

describe('probeScript', () => {
  it('is valid bash with every "${" restored and the values filled in', () => {
    const sh = probeScript();
    expect(sh).not.toMatch(/@\{|@[A-Z_]+@/);
    expect(sh).toContain('/etc/kubernetes/pki/ca.crt');
    expect(sh).toContain('/api/v1/namespaces/halab-probe/configmaps/probe?resourceVersion=0');
    expect(sh).toContain("'\\n@@W %{http_code} %{time_total} %{time_pretransfer}\\n'");
    const r = spawnSync('bash', ['-n'], { input: sh, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });
});

// A read every 100 ms, 20 ms each, from t=0; `bad` start times fail.
function reads(
  fromMs: number,
  toMs: number,
  bad: (t: number) => boolean | null = () => false,
  latency = 20,
): ProbeSample[] {
  const out: ProbeSample[] = [];
  for (let t = fromMs; t < toMs; t += 100) {
    const b = bad(t);
    out.push({ t, kind: 'read', op: 'GET /readyz', ok: b === null ? null : !b, latencyMs: latency });
  }
  return out;
}

describe('probeStats', () => {
  it('without a fault: no failures, the outage is one interval', () => {
    const st = probeStats(reads(0, 2000), 'read', { faultAt: 500 });
    expect(st).toMatchObject({
      kind: 'read',
      requests: 20,
      failures: 0,
      unknowns: 0,
      longestOutageMs: 100,
      recoveryMs: 0,
      p50LatencyMs: 20,
      p99LatencyMs: 20,
    });
  });

  it('an outage runs from the last success to the first success after it', () => {
    // requests starting in [1000, 1800) fail: last ok answer at 920, next ok answer at 1820
    const st = probeStats(
      reads(0, 3000, (t) => t >= 1000 && t < 1800),
      'read',
      { faultAt: 950 },
    );
    expect(st.failures).toBe(8);
    expect(st.longestOutageMs).toBe(900);
    // recovery: fault at 950 -> the answer of the first success after the last failure (1800 + 20)
    expect(st.recoveryMs).toBe(870);
  });

  it('unknowns are counted apart, and a success is needed to end an outage', () => {
    const samples: ProbeSample[] = [
      { t: 0, kind: 'write', op: 'PATCH configmap', ok: true, latencyMs: 50 },
      { t: 400, kind: 'write', op: 'PATCH configmap', ok: null, latencyMs: 2500 },
      { t: 800, kind: 'write', op: 'PATCH configmap', ok: false, latencyMs: 10 },
      { t: 1200, kind: 'write', op: 'PATCH configmap', ok: true, latencyMs: 100 },
    ];
    const st = probeStats(samples, 'write', { faultAt: 300 });
    expect(st).toMatchObject({
      requests: 4,
      failures: 1,
      unknowns: 1,
      longestOutageMs: 1250,
      recoveryMs: 1000,
      p50LatencyMs: 50,
      p99LatencyMs: 100,
    });
  });

  it('an outage still running at the end counts to the end and is not recovered', () => {
    const st = probeStats(
      reads(0, 1000, (t) => t >= 500),
      'read',
      { faultAt: 450, endAt: 2000 },
    );
    expect(st.longestOutageMs).toBe(2000 - 420);
    expect(st.recovered).toBe(false);
    expect(st.recoveryMs).toBe(2000 - 450);
  });

  it('a window limits the requests by their start time', () => {
    const all = reads(0, 3000, (t) => t < 1000);
    expect(probeStats(all, 'read', { from: 1000 }).failures).toBe(0);
    expect(probeStats(all, 'read', { to: 1000 }).failures).toBe(10);
  });

  it('failures before the fault do not count for the recovery', () => {
    const st = probeStats(
      reads(0, 3000, (t) => t === 200),
      'read',
      { faultAt: 1000 },
    );
    expect(st.recoveryMs).toBe(0);
    expect(st.failures).toBe(1);
  });

  it('per op and per kind', () => {
    const samples: ProbeSample[] = [
      ...reads(0, 1000),
      ...reads(50, 1050, () => true).map((s) => ({ ...s, op: 'GET configmap' })),
      { t: 0, kind: 'write', op: 'PATCH configmap', ok: true, latencyMs: 30 },
    ];
    const { byKind, byOp } = allProbeStats(samples);
    expect(byKind.map((s) => [s.kind, s.requests, s.failures])).toEqual([
      ['read', 20, 10],
      ['write', 1, 0],
    ]);
    expect(byOp.find((s) => s.op === 'GET configmap')).toMatchObject({ requests: 10, failures: 10 });
    expect(byOp.find((s) => s.op === 'GET /readyz')).toMatchObject({ requests: 10, failures: 0 });
  });

  it('p99 of the successful requests', () => {
    const samples = Array.from({ length: 100 }, (_, i): ProbeSample => ({
      t: i * 10,
      kind: 'read',
      op: 'GET /readyz',
      ok: true,
      latencyMs: i + 1,
    }));
    samples.push({ t: 2000, kind: 'read', op: 'GET /readyz', ok: false, latencyMs: 5000 });
    const st = probeStats(samples, 'read');
    expect(st.p50LatencyMs).toBe(50);
    expect(st.p99LatencyMs).toBe(99);
  });
});
