import { describe, expect, expectTypeOf, it } from 'vitest';
import type { LabSpec } from '../api/types.ts';
import {
  COUNT_LIMITS,
  DEFAULT_TIMERS,
  LabSpecSchema,
  defaultSpec,
  parseSize,
  referenceHosts,
  specFromCounts,
  suggestLabel,
  type LabSpecInput,
  type LabSpecOutput,
} from './schema.ts';

const REFERENCE_HOSTS = [
  { name: 'lb1', role: 'lb', address: '10.213.0.11' },
  { name: 'lb2', role: 'lb', address: '10.213.0.12' },
  { name: 'm1', role: 'master', address: '10.213.0.21' },
  { name: 'm2', role: 'master', address: '10.213.0.22' },
  { name: 'm3', role: 'master', address: '10.213.0.23' },
  { name: 'w1', role: 'worker', address: '10.213.0.31' },
  { name: 'w2', role: 'worker', address: '10.213.0.32' },
];

const REFERENCE: LabSpec = {
  apiVersion: 'halab/v1',
  kind: 'Lab',
  name: 'halab',
  provider: 'netns',
  bootstrap: 'kubeadm',
  apiserverEtcd: 'all',
  subnet: '10.213.0.0/24',
  vip: '10.213.0.10',
  kubernetesVersion: 'v1.34.4',
  hosts: REFERENCE_HOSTS as LabSpec['hosts'],
  disks: { etcdData: '512Mi', etcdSnapshots: '256Mi', runtime: '4Gi' },
  timers: {
    vrrpAdvertInt: 0.2,
    haproxyCheckInterMs: 500,
    haproxyCheckFall: 2,
    haproxyCheckRise: 2,
    etcdHeartbeatMs: 100,
    etcdElectionMs: 1000,
    leaseDurationS: 8,
    renewDeadlineS: 6,
    retryPeriodS: 2,
    nodeStatusUpdateFrequencyS: 10,
    nodeMonitorGracePeriodS: 20,
    podEvictionTolerationS: 10,
  },
  snapshots: { intervalS: 60, retain: 5 },
};

describe('defaults', () => {
  it('turns an empty spec into the reference lab named halab', () => {
    expect(LabSpecSchema.parse({})).toEqual(REFERENCE);
    expect(defaultSpec()).toEqual(REFERENCE);
  });

  it('turns just a name into the full reference lab', () => {
    expect(LabSpecSchema.parse({ name: 'lab2' })).toEqual({ ...REFERENCE, name: 'lab2' });
  });

  it('keeps the contract field order', () => {
    expect(Object.keys(defaultSpec())).toEqual([
      'apiVersion',
      'kind',
      'name',
      'provider',
      'bootstrap',
      'apiserverEtcd',
      'subnet',
      'vip',
      'kubernetesVersion',
      'hosts',
      'disks',
      'timers',
      'snapshots',
    ]);
  });

  it('fills partial nested objects field by field', () => {
    const spec = LabSpecSchema.parse({
      timers: { vrrpAdvertInt: 1 },
      disks: { etcdData: '1Gi' },
      snapshots: { retain: 2 },
    });
    expect(spec.timers).toEqual({ ...DEFAULT_TIMERS, vrrpAdvertInt: 1 });
    expect(spec.disks).toEqual({ etcdData: '1Gi', etcdSnapshots: '256Mi', runtime: '4Gi' });
    expect(spec.snapshots).toEqual({ intervalS: 60, retain: 2 });
  });

  it('places the default hosts and VIP in a given subnet at the same host numbers', () => {
    const spec = LabSpecSchema.parse({ subnet: '192.168.50.0/24' });
    expect(spec.vip).toBe('192.168.50.10');
    expect(spec.hosts.map((h) => `${h.name}=${h.address}`)).toEqual([
      'lb1=192.168.50.11',
      'lb2=192.168.50.12',
      'm1=192.168.50.21',
      'm2=192.168.50.22',
      'm3=192.168.50.23',
      'w1=192.168.50.31',
      'w2=192.168.50.32',
    ]);
    // a /16 counts from its network address
    expect(LabSpecSchema.parse({ subnet: '10.50.0.0/16' }).hosts[0]?.address).toBe('10.50.0.11');
  });

  it('keeps given hosts and defaults only the VIP', () => {
    const hosts = [{ name: 'a', role: 'master', address: '10.1.0.5' }];
    const spec = LabSpecSchema.parse({ subnet: '10.1.0.0/24', hosts });
    expect(spec.hosts).toEqual(hosts);
    expect(spec.vip).toBe('10.1.0.10');
  });

  it('keeps a given VIP with default hosts', () => {
    const spec = LabSpecSchema.parse({ vip: '10.213.0.100' });
    expect(spec.vip).toBe('10.213.0.100');
    expect(spec.hosts).toEqual(REFERENCE_HOSTS);
  });

  it('accepts provider qemu and bootstrap kubeadm', () => {
    const spec = LabSpecSchema.parse({ provider: 'qemu', bootstrap: 'kubeadm' });
    expect(spec.provider).toBe('qemu');
    expect(spec.bootstrap).toBe('kubeadm');
  });

  it('rejects unknown keys at every level', () => {
    expect(LabSpecSchema.safeParse({ colour: 'red' }).success).toBe(false);
    expect(LabSpecSchema.safeParse({ timers: { foo: 1 } }).success).toBe(false);
    expect(
      LabSpecSchema.safeParse({ hosts: [{ name: 'm1', role: 'master', address: '10.213.0.21', ip: 'x' }] }).success,
    ).toBe(false);
  });

  it('referenceHosts falls back to the default subnet when the subnet does not parse', () => {
    expect(referenceHosts('nonsense')).toEqual(REFERENCE_HOSTS);
  });
});

describe('types', () => {
  it('the schema output is the contract LabSpec and LabSpec is a valid input', () => {
    expectTypeOf<LabSpecOutput>().toEqualTypeOf<LabSpec>();
    expectTypeOf<LabSpec>().toExtend<LabSpecInput>();
  });
});

describe('helpers', () => {
  it('parseSize reads binary units', () => {
    expect(parseSize('512Mi')).toBe(512 * 2 ** 20);
    expect(parseSize('1Gi')).toBe(2 ** 30);
    expect(parseSize('4Ki')).toBe(4096);
    expect(parseSize('2Ti')).toBe(2 * 2 ** 40);
    expect(parseSize('512Q')).toBeUndefined();
    expect(parseSize('512M')).toBeUndefined();
    expect(parseSize('512')).toBeUndefined();
    expect(parseSize('1.5Gi')).toBeUndefined();
  });

  it('suggestLabel makes a DNS label', () => {
    expect(suggestLabel('My_Lab', 20, 'halab')).toBe('my-lab');
    expect(suggestLabel('-lab-', 20, 'halab')).toBe('lab');
    expect(suggestLabel('___', 20, 'halab')).toBe('halab');
    expect(suggestLabel('a-very-long-lab-name-indeed', 20, 'halab')).toBe('a-very-long-lab-name');
    expect(suggestLabel('abcdefghijklmnopqrs-tu', 20, 'halab')).toBe('abcdefghijklmnopqrs');
  });
});

describe('specFromCounts', () => {
  it('lays out lb1..N at .11+, m1..N at .21+, w1..N at .31+', () => {
    const spec = specFromCounts({ name: 'wiz', subnet: '10.213.4.0/24', lbs: 3, masters: 5, workers: 1 });
    expect(spec.hosts).toEqual([
      { name: 'lb1', role: 'lb', address: '10.213.4.11' },
      { name: 'lb2', role: 'lb', address: '10.213.4.12' },
      { name: 'lb3', role: 'lb', address: '10.213.4.13' },
      { name: 'm1', role: 'master', address: '10.213.4.21' },
      { name: 'm2', role: 'master', address: '10.213.4.22' },
      { name: 'm3', role: 'master', address: '10.213.4.23' },
      { name: 'm4', role: 'master', address: '10.213.4.24' },
      { name: 'm5', role: 'master', address: '10.213.4.25' },
      { name: 'w1', role: 'worker', address: '10.213.4.31' },
    ]);
    expect(spec.vip).toBe('10.213.4.10');
    expect(spec.name).toBe('wiz');
    expect(spec.subnet).toBe('10.213.4.0/24');
  });

  it('with the reference counts and no other option is the reference lab', () => {
    expect(specFromCounts({ lbs: 2, masters: 3, workers: 2 })).toEqual(REFERENCE);
  });

  it('passes the other fields through, filling the rest with defaults', () => {
    const spec = specFromCounts({
      lbs: 2,
      masters: 3,
      workers: 2,
      provider: 'qemu',
      vip: '10.213.0.99',
      timers: { vrrpAdvertInt: 1, haproxyCheckFall: undefined },
      disks: { etcdData: '1Gi' },
    });
    expect(spec.provider).toBe('qemu');
    expect(spec.vip).toBe('10.213.0.99');
    expect(spec.timers).toEqual({ ...DEFAULT_TIMERS, vrrpAdvertInt: 1 });
    expect(spec.disks).toEqual({ etcdData: '1Gi', etcdSnapshots: '256Mi', runtime: '4Gi' });
    expect(LabSpecSchema.parse(spec)).toEqual(spec);
  });

  it('lays hosts out in the default subnet when the subnet does not parse (validation reports it)', () => {
    const spec = specFromCounts({ subnet: '10.2', lbs: 1, masters: 1, workers: 0 });
    expect(spec.subnet).toBe('10.2');
    expect(spec.hosts.map((h) => h.address)).toEqual(['10.213.0.11', '10.213.0.21']);
  });

  it('allows zero of a role and refuses counts outside the layout', () => {
    expect(specFromCounts({ lbs: 0, masters: 0, workers: 0 }).hosts).toEqual([]);
    expect(() => specFromCounts({ lbs: COUNT_LIMITS.lbs + 1, masters: 3, workers: 2 })).toThrow(RangeError);
    expect(() => specFromCounts({ lbs: 2, masters: -1, workers: 2 })).toThrow(
      'specFromCounts: master count -1 must be a whole number from 0 to 10',
    );
    expect(() => specFromCounts({ lbs: 2, masters: 3, workers: 1.5 })).toThrow(RangeError);
    // the largest layout stays in its blocks: lb10 .20, m10 .30
    const big = specFromCounts({ lbs: 10, masters: 10, workers: 1 });
    expect(big.hosts.find((h) => h.name === 'lb10')?.address).toBe('10.213.0.20');
    expect(big.hosts.find((h) => h.name === 'm10')?.address).toBe('10.213.0.30');
  });
});
