import { describe, expect, it } from 'vitest';
import type { SpecCheck } from '../../../../provisioning/api/lab-api.ts';
import {
  canCreate,
  defaultForm,
  fieldOf,
  issuesFor,
  localIssues,
  mergeIssues,
  quorumRow,
  toWizardInput,
} from './wizard.ts';

describe('wizard validation', () => {
  it('the default form is valid locally and becomes the reference topology', () => {
    const f = defaultForm('lab1', '10.213.7.0/24');
    expect(localIssues(f)).toEqual([]);
    expect(toWizardInput(f)).toEqual({
      name: 'lab1',
      subnet: '10.213.7.0/24',
      lbs: 2,
      masters: 3,
      workers: 2,
      apiserverEtcd: 'all',
      bootstrap: 'kubeadm',
      timers: {},
      snapshots: { intervalS: 60, retain: 5 },
    });
  });

  it.each([
    ['name', { name: '' }, /needs a name/],
    ['name', { name: 'Lab_1' }, /not a DNS label/],
    ['name', { name: 'a'.repeat(21) }, /longer than 20/],
    ['subnet', { subnet: '10.213.7.0' }, /not an IPv4 network/],
    ['subnet', { subnet: '10.300.7.0/24' }, /not an IPv4 network/],
    ['masters', { masters: '2.5' }, /whole number/],
    ['lbs', { lbs: '11' }, /0 to 10/],
    ['workers', { workers: '-1' }, /whole number/],
    ['snapshots.intervalS', { snapshotIntervalS: 'often' }, /not a number/],
  ])('flags %s at once', (field, patch, msg) => {
    const issues = localIssues({ ...defaultForm(), ...patch });
    expect(
      issuesFor(issues, field)
        .map((i) => i.message)
        .join(),
    ).toMatch(msg);
  });

  it('timers: blank means default, numbers are passed, junk is an error', () => {
    const f = { ...defaultForm(), timers: { vrrpAdvertInt: '0.5', etcdElectionMs: '' } };
    expect(toWizardInput(f)?.timers).toEqual({ vrrpAdvertInt: 0.5 });
    const bad = { ...defaultForm(), timers: { haproxyCheckFall: 'two' } };
    expect(issuesFor(localIssues(bad), 'timers.haproxyCheckFall')).toHaveLength(1);
    expect(toWizardInput(bad)).toBeUndefined();
  });

  it('a bad name or subnet still asks the machine (the server explains), bad counts do not', () => {
    expect(toWizardInput({ ...defaultForm(), name: 'Bad' })).toBeDefined();
    expect(toWizardInput({ ...defaultForm(), masters: 'x' })).toBeUndefined();
  });

  it('maps server issue paths to fields', () => {
    expect(fieldOf('subnet')).toBe('subnet');
    expect(fieldOf('vip')).toBe('subnet');
    expect(fieldOf('hosts[3].address')).toBe('hosts');
    expect(fieldOf('timers.etcdElectionMs')).toBe('timers.etcdElectionMs');
    expect(fieldOf('')).toBe('');
  });

  it('merges local and server issues: a stale server issue on a field with a local error is hidden', () => {
    const local = localIssues({ ...defaultForm(), name: 'Bad' });
    const server = [
      { severity: 'error' as const, path: 'name', message: 'server says name', fix: '' },
      { severity: 'error' as const, path: 'subnet', message: '10.213.0.0/24 overlaps eth0', fix: 'use 10.213.1.0/24' },
    ];
    const m = mergeIssues(local, server);
    expect(m.map((i) => i.path)).toEqual(['name', 'subnet']);
    expect(m[0]!.message).toMatch(/DNS label/);
  });

  it('Create is allowed only for the exact input the server accepted', () => {
    const f = defaultForm('lab1');
    const input = toWizardInput(f)!;
    const ok: SpecCheck = { spec: {} as never, issues: [] };
    expect(canCreate([], ok, JSON.stringify(input), input)).toBe(true);
    expect(canCreate([], ok, JSON.stringify({ ...input, masters: 5 }), input)).toBe(false);
    expect(
      canCreate(
        [],
        { issues: [{ severity: 'error', path: 'subnet', message: 'x', fix: '' }] },
        JSON.stringify(input),
        input,
      ),
    ).toBe(false);
    expect(canCreate(localIssues({ ...f, name: '' }), ok, JSON.stringify(input), input)).toBe(false);
    expect(canCreate([], undefined, undefined, input)).toBe(false);
  });

  it('finds the quorum row of the chosen size', () => {
    const table = [1, 2, 3, 4, 5].map((n) => ({
      members: n,
      majority: Math.floor(n / 2) + 1,
      tolerated: Math.floor((n - 1) / 2),
    }));
    expect(quorumRow(table, 3)).toEqual({ members: 3, majority: 2, tolerated: 1 });
    expect(quorumRow(table, 0)).toBeUndefined();
  });
});
