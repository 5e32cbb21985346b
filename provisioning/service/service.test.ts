import { describe, expect, it } from 'vitest';
import type { LabEvent } from '../api/lab-api.ts';
import type { ShellSession } from '../exec/shell.ts';
import { createLabService } from './service.ts';
import { validateCall } from './schemas.ts';
import { fakeEngine } from './fake-engine.testutil.ts';

const wizard = { name: 'lab1', subnet: '10.213.7.0/24', lbs: 2, masters: 3, workers: 2 };

describe('validateCall: the boundary schemas', () => {
  it('accepts well-formed calls of every shape', () => {
    expect(validateCall('listLabs', []).args).toEqual([]);
    expect(validateCall('checkSpec', [wizard]).method).toBe('checkSpec');
    expect(validateCall('checkSpec', [{ spec: { name: 'x' } }]).method).toBe('checkSpec');
    expect(validateCall('runDrill', ['lab1', 'lb-failover', { stepwise: true }]).args).toHaveLength(3);
    expect(validateCall('openTerminal', ['lab1', 'm1', 80, 24]).args).toEqual(['lab1', 'm1', 80, 24]);
  });
  it.each([
    ['nope', []],
    ['status', 'lab1'],
    ['status', []],
    ['status', ['../../etc']],
    ['status', ['lab1', 'extra']],
    ['openTerminal', ['lab1', 'm1', 80]],
    ['openTerminal', ['lab1', 'm1', -1, 24]],
    ['openTerminal', ['lab1', 'm1;rm -rf /', 80, 24]],
    ['checkSpec', [{ ...wizard, lbs: '2' }]],
    ['checkSpec', [{ ...wizard, evil: true }]],
    ['checkSpec', [{ ...wizard, timers: { vrrpAdvertInt: Number.NaN } }]],
    ['terminalInput', ['abc', 42]],
    ['runDrill', ['lab1', 'x', { stepwise: 'yes' }]],
    ['__proto__', []],
    ['constructor', []],
  ])('refuses %s %j with BAD_INPUT', (method, args) => {
    expect(() => validateCall(method, args)).toThrow(expect.objectContaining({ code: 'BAD_INPUT' }));
  });
});

describe('LabService', () => {
  it('a session answers a malformed call with an ErrorInfo, never a throw or a stack', async () => {
    const s = createLabService(fakeEngine()).openSession(() => {});
    const r = await s.call('status', [42]);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('BAD_INPUT');
      expect(r.error.message).toMatch(/status: malformed call: args\[0\]/);
      expect(JSON.stringify(r.error)).not.toMatch(/at .*\.ts:\d+/);
    }
    const r2 = await s.call('toString', []);
    expect(r2).toMatchObject({ ok: false, error: { code: 'BAD_INPUT' } });
  });

  it('an engine error crosses as ErrorInfo (code, message, fix)', async () => {
    const svc = createLabService(
      fakeEngine({
        status: async () => {
          throw Object.assign(new Error('boom'), { stack: 'Error: boom\n    at secret.ts:1:1' });
        },
      }),
    );
    const r = await svc.openSession(() => {}).call('status', ['lab1']);
    expect(r).toEqual({ ok: false, error: { code: 'INTERNAL', message: 'boom' } });
  });

  it('checkSpec: wizard counts -> spec, issues and plan; machine overlap reported', async () => {
    const svc = createLabService(fakeEngine());
    const ok = await svc.checkSpec(wizard);
    expect(ok.spec?.hosts.map((h) => h.name)).toEqual(['lb1', 'lb2', 'm1', 'm2', 'm3', 'w1', 'w2']);
    expect(ok.plan?.quorum).toEqual({ members: 3, majority: 2, tolerated: 1 });
    expect(ok.plan?.quorumTable).toHaveLength(7);
    const clash = await svc.checkSpec({ ...wizard, subnet: '10.99.0.0/24' });
    expect(clash.spec).toBeUndefined();
    expect(clash.issues.some((i) => i.path === 'subnet' && i.severity === 'error')).toBe(true);
    expect(clash.plan).toBeDefined();
    const tooMany = await svc.checkSpec({ ...wizard, lbs: 11 });
    expect(tooMany.issues[0]).toMatchObject({ path: 'lbs', severity: 'error' });
    const even = await svc.checkSpec({ ...wizard, masters: 4 });
    expect(even.spec).toBeDefined();
    expect(even.issues.some((i) => i.severity === 'warning')).toBe(true);
    expect(ok.spec?.apiserverEtcd).toBe('all');
    expect((await svc.checkSpec({ ...wizard, apiserverEtcd: 'local' })).spec?.apiserverEtcd).toBe('local');
  });

  it('checkSpec refuses what the plan checks refuse: a timer the bootstrap ignores, a version that does not exist (issue 11)', async () => {
    const { planChecks } = await import('../engine/plan-checks.ts');
    const svc = createLabService(
      fakeEngine({
        planChecks: (spec) =>
          planChecks(spec, {
            availability: async (version) => ({ version, state: 'cached', detail: `Kubernetes ${version}: cached` }),
          }),
      }),
    );
    const r = await svc.checkSpec({ ...wizard, bootstrap: 'fast', timers: { nodeStatusUpdateFrequencyS: 2 } });
    expect(r.spec).toBeUndefined();
    expect(r.issues.filter((i) => i.severity === 'error').map((i) => i.path)).toEqual([
      'timers.nodeStatusUpdateFrequencyS',
    ]);
    expect(r.plan?.binaries?.state).toBe('cached');
    expect((await svc.checkSpec(wizard)).spec).toBeDefined();
    await expect(
      svc.up({ ...wizard, bootstrap: 'fast', timers: { nodeStatusUpdateFrequencyS: 2 } }),
    ).rejects.toMatchObject({
      code: 'SPEC_INVALID',
    });
  });

  it('up resolves with the run id once the run started, streams events, refuses a second run on the lab', async () => {
    const eng = fakeEngine();
    const svc = createLabService(eng);
    const events: LabEvent[] = [];
    svc.onEvent((e) => events.push(e));
    const r = await svc.up(wizard);
    expect(r).toEqual({ runId: 'run1', lab: 'lab1' });
    await expect(svc.up(wizard)).rejects.toMatchObject({ code: 'LAB_BUSY' });
    await expect(svc.down('lab1')).rejects.toMatchObject({ code: 'LAB_BUSY' });
    await new Promise((res) => setTimeout(res, 80));
    expect(events.map((e) => e.type)).toEqual(['run:start', 'run:end']);
    // free again
    await expect(svc.down('lab1')).resolves.toEqual({ runId: 'down1' });
  });

  it("resume runs up again with the lab's recorded spec; an unknown lab is NO_LAB", async () => {
    const eng = fakeEngine();
    const svc = createLabService(eng);
    await expect(svc.resume('lab9')).rejects.toMatchObject({ code: 'NO_LAB' });
    const { defaultSpec } = await import('../spec/schema.ts');
    (eng as unknown as { states: Map<string, unknown> }).states.set('lab9', {
      name: 'lab9',
      spec: defaultSpec('lab9'),
      phase: 'interrupted',
    });
    await expect(svc.resume('lab9')).resolves.toEqual({ runId: 'run1', lab: 'lab9' });
    expect(eng.calls).toEqual(['up lab9']);
  });

  it('up with an invalid spec is refused before anything runs', async () => {
    const eng = fakeEngine();
    const svc = createLabService(eng);
    await expect(svc.up({ ...wizard, name: 'Bad_Name' })).rejects.toMatchObject({ code: 'SPEC_INVALID' });
    expect(eng.calls).toEqual([]);
  });

  it('cancel aborts the run (Ctrl-C semantics); an unknown run id is an error', async () => {
    const svc = createLabService(fakeEngine());
    const events: LabEvent[] = [];
    svc.onEvent((e) => events.push(e));
    const { runId } = await svc.up(wizard);
    await svc.cancel(runId);
    await new Promise((res) => setTimeout(res, 10));
    expect(events.at(-1)).toMatchObject({ type: 'run:end', ok: false, error: { code: 'CANCELLED' } });
    await expect(svc.cancel('nope')).rejects.toMatchObject({ code: 'NO_RUN' });
  });

  it('a run that fails before it starts rejects the call', async () => {
    const svc = createLabService(
      fakeEngine({
        up: async () => {
          throw Object.assign(new Error('missing prerequisites'), { code: 'PREREQUISITES' });
        },
      }),
    );
    await expect(svc.up(wizard)).rejects.toThrow(/missing prerequisites/);
    // and the lab is not left busy
    await expect(svc.down('lab1')).resolves.toBeDefined();
  });

  it('stepwise drills wait for drillContinue', async () => {
    const svc = createLabService(fakeEngine());
    const events: LabEvent[] = [];
    svc.onEvent((e) => events.push(e));
    const { runId } = await svc.runDrill('lab1', 'lb-failover', { stepwise: true });
    await new Promise((res) => setTimeout(res, 20));
    expect(events.some((e) => e.type === 'drill:end')).toBe(false);
    await svc.drillContinue(runId);
    await new Promise((res) => setTimeout(res, 20));
    expect(events.at(-1)).toMatchObject({ type: 'drill:end', ok: true });
    await expect(svc.runDrill('lab1', 'no-such-drill')).rejects.toMatchObject({ code: 'NO_DRILL' });
  });

  it('snapshots: unreachable masters become bad rows with the reason', async () => {
    const svc = createLabService(fakeEngine());
    expect(await svc.snapshots('lab1')).toEqual([
      { master: 'm3', file: '', sizeBytes: 0, ageS: 0, status: 'bad', error: 'cannot list: m3 is powered off' },
    ]);
    expect(await svc.takeSnapshot('lab1')).toMatchObject({ master: 'm2', status: 'good', revision: 5 });
  });

  it('terminals: output only to the owning session, input and resize forwarded, closed with the session', async () => {
    const eng = fakeEngine();
    const svc = createLabService(eng);
    const a: LabEvent[][] = [];
    const b: LabEvent[][] = [];
    const sa = svc.openSession((x) => a.push(x), { terminalFlushMs: 1 });
    const sb = svc.openSession((x) => b.push(x), { terminalFlushMs: 1 });
    sa.ready();
    sb.ready();
    const r = await sa.call('openTerminal', ['lab1', 'm1', 80, 24]);
    expect(r.ok).toBe(true);
    const id = (r as { value: { id: string } }).value.id;
    const shell = (eng as unknown as { shells: (ShellSession & { emitData(t: string | Buffer): void })[] }).shells[0]!;
    shell.emitData('m1\r\n');
    // a multi-byte character split across two chunks arrives whole
    const e = Buffer.from('é');
    shell.emitData(e.subarray(0, 1));
    shell.emitData(e.subarray(1));
    await new Promise((res) => setTimeout(res, 10));
    expect(
      a
        .flat()
        .filter((x) => x.type === 'terminal:data')
        .map((x) => (x as { data: string }).data)
        .join(''),
    ).toBe('m1\r\né');
    expect(b.flat().filter((e) => e.type === 'terminal:data')).toEqual([]);
    await sa.call('terminalInput', [id, 'hostname\r']);
    await sa.call('resizeTerminal', [id, 100, 30]);
    expect(eng.calls).toContain('write m1 hostname\r');
    expect(eng.calls).toContain('resize 100x30');
    sa.close();
    await new Promise((res) => setTimeout(res, 5));
    expect(eng.calls).toContain('close-shell m1');
    expect(await sb.call('terminalInput', [id, 'x'])).toMatchObject({ ok: false, error: { code: 'NO_TERMINAL' } });
  });
});
