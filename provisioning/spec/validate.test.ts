import { describe, expect, it } from 'vitest';
import type { SpecIssue } from '../api/types.ts';
import { defaultSpec } from './schema.ts';
import {
  closestField,
  formatPath,
  sortIssues,
  suggestFreeSubnet,
  validateSpec,
  type MachineNetworks,
} from './validate.ts';

const NONE: MachineNetworks = { cidrs: [] };

type H = { name: string; role: 'lb' | 'master' | 'worker'; address: string };
const lb = (n: number): H => ({ name: `lb${n}`, role: 'lb', address: `10.213.0.${10 + n}` });
const m = (n: number): H => ({ name: `m${n}`, role: 'master', address: `10.213.0.${20 + n}` });
const w = (n: number): H => ({ name: `w${n}`, role: 'worker', address: `10.213.0.${30 + n}` });
const REF_HOSTS: H[] = [lb(1), lb(2), m(1), m(2), m(3), w(1), w(2)];

function issues(input: unknown, machine: MachineNetworks = NONE): SpecIssue[] {
  return validateSpec(input, machine).issues;
}

const err = (path: string, message: string, fix: string): SpecIssue => ({ severity: 'error', path, message, fix });
const warn = (path: string, message: string, fix: string): SpecIssue => ({ severity: 'warning', path, message, fix });

/** The one issue the input has, compared whole. */
function expectOnly(input: unknown, expected: SpecIssue, machine: MachineNetworks = NONE): void {
  expect(issues(input, machine)).toEqual([expected]);
}

describe('valid specs', () => {
  it('an empty spec, null and the full reference lab have no issues', () => {
    expect(validateSpec({}, NONE)).toEqual({ spec: defaultSpec(), draft: defaultSpec(), issues: [] });
    expect(validateSpec(null, NONE).spec).toEqual(defaultSpec());
    expect(validateSpec(undefined, NONE).spec).toEqual(defaultSpec());
    expect(issues(defaultSpec())).toEqual([]);
    expect(issues({ name: 'ok', hosts: REF_HOSTS })).toEqual([]);
  });

  it('provider qemu is accepted', () => {
    const r = validateSpec({ provider: 'qemu' }, NONE);
    expect(r.issues).toEqual([]);
    expect(r.spec?.provider).toBe('qemu');
  });

  it('machine networks elsewhere do not matter', () => {
    const machine = {
      cidrs: [
        { cidr: '192.168.1.0/24', source: 'route 192.168.1.0/24 dev wlan0' },
        { cidr: '0.0.0.0/0', source: 'route default via 192.168.1.1' },
      ],
    };
    expect(issues({}, machine)).toEqual([]);
  });
});

describe('result shape', () => {
  it('spec only without errors; draft whenever the schema accepts the spec', () => {
    const warnOnly = validateSpec({ hosts: [lb(1), m(1), m(2), m(3), w(1)] }, NONE);
    expect(warnOnly.spec?.hosts).toHaveLength(5);
    expect(warnOnly.issues.map((i) => i.severity)).toEqual(['warning']);

    const relational = validateSpec({ vip: '10.213.0.21' }, NONE);
    expect(relational.spec).toBeUndefined();
    expect(relational.draft?.vip).toBe('10.213.0.21');

    const schema = validateSpec({ provider: 'vbox' }, NONE);
    expect(schema.spec).toBeUndefined();
    expect(schema.draft).toBeUndefined();
  });

  it('reports every problem at once, errors first in spec order, each with a fix', () => {
    const r = issues({
      name: 'Bad Name',
      subnet: '10.213.0.0/24',
      vip: '10.213.0.21',
      hosts: [lb(1), m(1), { ...m(2), address: '10.213.0.21' }, { name: 'm1', role: 'master', address: '10.213.9.1' }],
      timers: { renewDeadlineS: 8, vrrpAdvertInt: -1 },
      disks: { etcdData: '512Q' },
      extra: true,
    });
    expect(r.map((i) => `${i.severity} ${i.path}`)).toEqual([
      'error extra',
      'error name',
      'error vip',
      'error hosts[2].address',
      'error hosts[3].name',
      'error hosts[3].address',
      'error disks.etcdData',
      'error timers.vrrpAdvertInt',
      'error timers.renewDeadlineS',
      'warning hosts',
      'warning hosts',
    ]);
    for (const i of r) {
      expect(i.message.length).toBeGreaterThan(10);
      expect(i.fix.length).toBeGreaterThan(5);
    }
  });
});

describe('schema errors', () => {
  it('the spec must be a mapping', () => {
    expectOnly(
      ['a'],
      err(
        '',
        'the spec must be a mapping of fields (name, subnet, hosts, ...), not a list',
        'write the spec as "field: value" lines, e.g. name: halab',
      ),
    );
    expectOnly(
      'halab',
      err(
        '',
        'the spec must be a mapping of fields (name, subnet, hosts, ...), not the string "halab"',
        'write the spec as "field: value" lines, e.g. name: halab',
      ),
    );
  });

  it('unknown fields, with the likely intended one', () => {
    expectOnly({ tmers: {} }, err('tmers', 'unknown field "tmers"', 'rename it to "timers"'));
    expectOnly({ VIP: '10.213.0.10' }, err('VIP', 'unknown field "VIP"', 'rename it to "vip"'));
    expectOnly(
      { colour: 'red' },
      err(
        'colour',
        'unknown field "colour"',
        'delete it; the fields allowed here are: apiVersion, kind, name, provider, bootstrap, apiserverEtcd, subnet, vip, kubernetesVersion, hosts, disks, timers, snapshots, existing',
      ),
    );
    expectOnly(
      { hosts: [lb(1), lb(2), { ...m(1), ip: 'x' }, m(2), m(3), w(1)] },
      err('hosts[2].ip', 'unknown field "ip"', 'delete it; the fields allowed here are: name, role, address, ssh'),
    );
    expectOnly(
      { timers: { vrrpadvertint: 1 } },
      err('timers.vrrpadvertint', 'unknown field "vrrpadvertint"', 'rename it to "vrrpAdvertInt"'),
    );
    expectOnly(
      { disks: { etcdDta: '1Gi' } },
      err('disks.etcdDta', 'unknown field "etcdDta"', 'rename it to "etcdData"'),
    );
    expectOnly(
      { snapshots: { keep: 3 } },
      err('snapshots.keep', 'unknown field "keep"', 'delete it; the fields allowed here are: intervalS, retain'),
    );
  });

  it('wrong types', () => {
    expectOnly({ name: 5 }, err('name', 'name must be a string, not the number 5', 'write a string, e.g. name: halab'));
    expectOnly(
      { timers: { vrrpAdvertInt: 'fast' } },
      err(
        'timers.vrrpAdvertInt',
        'vrrpAdvertInt must be a number, not the string "fast"',
        'write a number, e.g. vrrpAdvertInt: 0.2',
      ),
    );
    expectOnly(
      { snapshots: { retain: true } },
      err('snapshots.retain', 'retain must be a number, not true', 'write a number, e.g. retain: 5'),
    );
    expectOnly(
      { timers: [] },
      err(
        'timers',
        'timers must be a mapping, not a list',
        expect.stringMatching(
          /^write timers as a mapping of vrrpAdvertInt, haproxyCheckInterMs, .*podEvictionTolerationS$/,
        ) as unknown as string,
      ),
    );
    expectOnly(
      { hosts: 'lb1' },
      err(
        'hosts',
        'hosts must be a list, not the string "lb1"',
        'write hosts as a list of entries with name, role and address',
      ),
    );
    expectOnly(
      { hosts: ['lb1'] },
      err(
        'hosts[0]',
        'hosts[0] must be a mapping, not the string "lb1"',
        'write hosts[0] as a mapping of name, role, address, ssh',
      ),
    );
    expectOnly(
      { hosts: [lb(1), lb(2), { ...m(1), address: 1021 }, m(2), m(3), w(1)] },
      err(
        'hosts[2].address',
        'address must be a string, not the number 1021',
        'write a string, e.g. address: 10.213.0.21',
      ),
    );
  });

  it('empty values and missing host fields', () => {
    expectOnly({ disks: null }, err('disks', 'disks has no value', 'write a value after "disks:" or delete the line'));
    expectOnly(
      { hosts: [lb(1), lb(2), null, m(1), m(2), m(3), w(1)] },
      err('hosts[2]', 'hosts[2] is empty', 'fill in the entry or delete its empty "-" line'),
    );
    expectOnly(
      { hosts: [lb(1), lb(2), { name: 'm1', role: 'master' }, m(2), m(3), w(1)] },
      err('hosts[2].address', 'address is missing', 'add address: 10.213.0.21'),
    );
    expectOnly(
      { hosts: [lb(1), lb(2), { name: 'm1', address: '10.213.0.21' }, m(2), m(3), w(1)] },
      err('hosts[2].role', 'role is missing', 'add role: master'),
    );
    expectOnly(
      { hosts: [lb(1), lb(2), { role: 'master', address: '10.213.0.21' }, m(2), m(3), w(1)] },
      err('hosts[2].name', 'name is missing', 'add name: m1'),
    );
  });

  it('values not among the allowed ones', () => {
    expectOnly(
      { provider: 'vbox' },
      err('provider', 'provider "vbox" is not one of: netns, qemu, existing', 'use one of: netns, qemu, existing'),
    );
    expectOnly(
      { provider: 1 },
      err(
        'provider',
        'provider must be one of: netns, qemu, existing, not the number 1',
        'use one of: netns, qemu, existing',
      ),
    );
    expectOnly(
      { bootstrap: 'slow' },
      err('bootstrap', 'bootstrap "slow" is not one of: fast, kubeadm', 'use one of: fast, kubeadm'),
    );
    expectOnly(
      { hosts: [lb(1), lb(2), { ...m(1), role: 'mastr' }, m(2), m(3), w(1)] },
      err('hosts[2].role', 'role "mastr" is not one of: lb, master, worker', 'use one of: lb, master, worker'),
    );
    expectOnly(
      { apiVersion: 'halab/v2' },
      err(
        'apiVersion',
        'apiVersion must be halab/v1, not the string "halab/v2"',
        'set apiVersion: halab/v1 or delete the line',
      ),
    );
    expectOnly(
      { kind: 'Cluster' },
      err('kind', 'kind must be Lab, not the string "Cluster"', 'set kind: Lab or delete the line'),
    );
  });

  it('disk sizes', () => {
    expectOnly(
      { disks: { etcdData: '512Q' } },
      err(
        'disks.etcdData',
        'etcdData "512Q" is not a size',
        'write a whole number followed by Ki, Mi, Gi or Ti, e.g. 512Mi',
      ),
    );
    expectOnly(
      { disks: { etcdSnapshots: '1.5Gi' } },
      err(
        'disks.etcdSnapshots',
        'etcdSnapshots "1.5Gi" is not a size',
        'write a whole number followed by Ki, Mi, Gi or Ti, e.g. 256Mi',
      ),
    );
    expectOnly(
      { disks: { etcdData: '128Mi' } },
      err(
        'disks.etcdData',
        'etcdData 128Mi is too small: etcd preallocates 64 MB write-ahead-log files, so it needs at least 256Mi',
        'use 256Mi or more, e.g. 512Mi',
      ),
    );
    expectOnly(
      { disks: { etcdSnapshots: '0Mi' } },
      err(
        'disks.etcdSnapshots',
        'etcdSnapshots 0Mi is too small: the snapshot disk keeps several snapshots, so it needs at least 32Mi',
        'use 32Mi or more, e.g. 256Mi',
      ),
    );
    expect(issues({ disks: { etcdData: '256Mi', etcdSnapshots: '32768Ki' } })).toEqual([]);
  });

  it('timer and snapshot numbers', () => {
    expectOnly(
      { timers: { podEvictionTolerationS: -1 } },
      err('timers.podEvictionTolerationS', 'podEvictionTolerationS -1 is negative', 'use 0 or more, e.g. 10'),
    );
    expectOnly(
      { timers: { haproxyCheckInterMs: -500 } },
      err('timers.haproxyCheckInterMs', 'haproxyCheckInterMs -500 is negative', 'use 1 or more, e.g. 500'),
    );
    expectOnly(
      { timers: { haproxyCheckFall: 0 } },
      err('timers.haproxyCheckFall', 'haproxyCheckFall 0 is below the minimum of 1', 'use 1 or more, e.g. 2'),
    );
    expectOnly(
      { timers: { haproxyCheckRise: 1.5 } },
      err('timers.haproxyCheckRise', 'haproxyCheckRise 1.5 is not a whole number', 'use a whole number, e.g. 2'),
    );
    expectOnly(
      { timers: { vrrpAdvertInt: 0 } },
      err('timers.vrrpAdvertInt', 'vrrpAdvertInt 0 is below the minimum of 0.01', 'use 0.01 or more, e.g. 0.2'),
    );
    expectOnly(
      { timers: { vrrpAdvertInt: 41 } },
      err('timers.vrrpAdvertInt', 'vrrpAdvertInt 41 is above the maximum of 40.95', 'use 40.95 or less, e.g. 0.2'),
    );
    expectOnly(
      { timers: { etcdElectionMs: 60000 } },
      err(
        'timers.etcdElectionMs',
        'etcdElectionMs 60000 is above the maximum of 50000',
        'use 50000 or less, e.g. 1000',
      ),
    );
    expectOnly(
      { snapshots: { intervalS: -60 } },
      err('snapshots.intervalS', 'intervalS -60 is negative', 'use 0 or more, e.g. 60'),
    );
    expectOnly(
      { snapshots: { retain: 0 } },
      err('snapshots.retain', 'retain 0 is below the minimum of 1', 'use 1 or more, e.g. 5'),
    );
    expect(issues({ snapshots: { intervalS: 0 }, timers: { vrrpAdvertInt: 1, podEvictionTolerationS: 0 } })).toEqual(
      [],
    );
  });

  it('kubernetesVersion', () => {
    expectOnly(
      { kubernetesVersion: '1.34.4' },
      err(
        'kubernetesVersion',
        'kubernetesVersion "1.34.4" is not a version like v1.34.4',
        'write it with a leading v: v1.34.4',
      ),
    );
    expectOnly(
      { kubernetesVersion: 'latest' },
      err(
        'kubernetesVersion',
        'kubernetesVersion "latest" is not a version like v1.34.4',
        'write v<major>.<minor>.<patch>, e.g. v1.34.4',
      ),
    );
  });

  it('the lab name is a DNS label of at most 20 characters', () => {
    const notLabel =
      "is not a DNS label: use lowercase letters, digits and '-', starting and ending with a letter or digit";
    expectOnly({ name: 'My_Lab' }, err('name', `name "My_Lab" ${notLabel}`, 'rename it, e.g. "my-lab"'));
    expectOnly({ name: '-lab' }, err('name', `name "-lab" ${notLabel}`, 'rename it, e.g. "lab"'));
    expectOnly({ name: 'lab-' }, err('name', `name "lab-" ${notLabel}`, 'rename it, e.g. "lab"'));
    expectOnly({ name: '' }, err('name', 'name is empty', 'set it to a short DNS label, e.g. "halab"'));
    expectOnly(
      { name: 'a'.repeat(21) },
      err(
        'name',
        `name "${'a'.repeat(21)}" is 21 characters long: at most 20 are allowed`,
        `shorten it, e.g. "${'a'.repeat(20)}"`,
      ),
    );
    expect(issues({ name: 'a'.repeat(20) })).toEqual([]);
    expect(issues({ name: '1-lab-2' })).toEqual([]);
  });

  it('host names are DNS labels of at most 63 characters', () => {
    const hosts = (name: string) => [lb(1), lb(2), { ...m(1), name }, m(2), m(3), w(1)];
    expectOnly(
      { hosts: hosts('M1') },
      err(
        'hosts[2].name',
        `host name "M1" is not a DNS label: use lowercase letters, digits and '-', starting and ending with a letter or digit`,
        'rename it, e.g. "m1"',
      ),
    );
    expectOnly(
      { hosts: hosts('x'.repeat(64)) },
      err(
        'hosts[2].name',
        `host name "${'x'.repeat(64)}" is 64 characters long: at most 63 are allowed`,
        `shorten it, e.g. "${'x'.repeat(63)}"`,
      ),
    );
    expect(issues({ hosts: hosts('x'.repeat(63)) })).toEqual([]);
  });

  it('addresses and the subnet must be written correctly', () => {
    expectOnly(
      { vip: '10.213.0.300' },
      err(
        'vip',
        'vip "10.213.0.300" is not an IPv4 address',
        'write four numbers 0-255 separated by dots, e.g. 10.213.0.10',
      ),
    );
    expectOnly(
      { hosts: [lb(1), lb(2), { ...m(1), address: '10.213.0' }, m(2), m(3), w(1)] },
      err(
        'hosts[2].address',
        'address "10.213.0" is not an IPv4 address',
        'write four numbers 0-255 separated by dots, e.g. 10.213.0.21',
      ),
    );
    expectOnly(
      { subnet: '10.213.0.0' },
      err(
        'subnet',
        'subnet "10.213.0.0" is not an IPv4 CIDR',
        'write a network address and a prefix length, e.g. 10.213.0.0/24',
      ),
    );
  });
});

describe('hosts', () => {
  it('duplicate names', () => {
    expectOnly(
      { hosts: [lb(1), lb(2), m(1), m(2), { ...m(3), name: 'm1' }, w(1)] },
      err('hosts[4].name', 'host name "m1" is also the name of hosts[2]', 'give each host its own name, e.g. "m3"'),
    );
  });

  it('duplicate addresses', () => {
    expectOnly(
      { hosts: [lb(1), lb(2), m(1), m(2), { ...m(3), address: '10.213.0.22' }, w(1)] },
      err(
        'hosts[4].address',
        'address 10.213.0.22 is also the address of m2 (hosts[3])',
        'give each host its own address, e.g. 10.213.0.23',
      ),
    );
  });

  it('addresses outside the subnet, or its network, broadcast or gateway address', () => {
    const at = (address: string) => ({ hosts: [lb(1), lb(2), m(1), m(2), m(3), { ...w(1), address }] });
    const fix = 'use a free address inside 10.213.0.0/24, e.g. 10.213.0.31';
    expectOnly(at('10.213.1.31'), err('hosts[5].address', 'address 10.213.1.31 is outside subnet 10.213.0.0/24', fix));
    expectOnly(
      at('10.213.0.0'),
      err('hosts[5].address', 'address 10.213.0.0 is the network address of subnet 10.213.0.0/24', fix),
    );
    expectOnly(
      at('10.213.0.255'),
      err('hosts[5].address', 'address 10.213.0.255 is the broadcast address of subnet 10.213.0.0/24', fix),
    );
    expectOnly(
      at('10.213.0.1'),
      err(
        'hosts[5].address',
        "address 10.213.0.1 is the gateway of subnet 10.213.0.0/24 (this machine's address on the lab bridge)",
        fix,
      ),
    );
  });

  it('no master and no lb are errors', () => {
    expect(issues({ hosts: [lb(1), lb(2), w(1)] })).toEqual([
      err(
        'hosts',
        'no host has role master: etcd and the Kubernetes API have nowhere to run',
        'add three hosts with role master, e.g. m1, m2 and m3',
      ),
    ]);
    expect(issues({ hosts: [m(1), m(2), m(3), w(1)] })).toEqual([
      err(
        'hosts',
        'no host has role lb: nothing holds the VIP or balances the API',
        'add two hosts with role lb, e.g. lb1 and lb2',
      ),
    ]);
    expect(issues({ hosts: [] }).map((i) => `${i.severity}: ${i.message}`)).toEqual([
      'error: no host has role master: etcd and the Kubernetes API have nowhere to run',
      'error: no host has role lb: nothing holds the VIP or balances the API',
      'warning: no workers: pods will have nowhere to run',
    ]);
  });

  it('does not count roles when one of them is invalid', () => {
    expect(issues({ hosts: [lb(1), lb(2), { ...m(1), role: 'boss' }, w(1)] }).map((i) => i.path)).toEqual([
      'hosts[2].role',
    ]);
  });
});

describe('warnings about weak designs', () => {
  it('an even number of etcd members', () => {
    expect(issues({ hosts: [lb(1), lb(2), m(1), m(2), m(3), m(4), w(1)] })).toEqual([
      warn(
        'hosts',
        '4 etcd members tolerate 1 failure, the same as 3: the extra member adds load, not safety',
        'use 3 or 5 masters',
      ),
    ]);
    expect(issues({ hosts: [lb(1), lb(2), m(1), m(2), m(3), m(4), m(5), m(6), w(1)] })).toEqual([
      warn(
        'hosts',
        '6 etcd members tolerate 2 failures, the same as 5: the extra member adds load, not safety',
        'use 5 or 7 masters',
      ),
    ]);
  });

  it('fewer than 3 masters', () => {
    expect(issues({ hosts: [lb(1), lb(2), m(1), w(1)] })).toEqual([
      warn(
        'hosts',
        'no control-plane HA: losing the master loses the API',
        'use three masters so the lab survives losing one',
      ),
    ]);
    expect(issues({ hosts: [lb(1), lb(2), m(1), m(2), w(1)] })).toEqual([
      warn(
        'hosts',
        '2 etcd members tolerate 0 failures, the same as 1: the extra member adds load, not safety',
        'use 1 or 3 masters',
      ),
      warn(
        'hosts',
        'no control-plane HA: losing either master loses etcd quorum and the API',
        'use three masters so the lab survives losing one',
      ),
    ]);
  });

  it('a single load balancer', () => {
    expect(issues({ hosts: [lb(1), m(1), m(2), m(3), w(1)] })).toEqual([
      warn(
        'hosts',
        'the load balancer is a single point of failure',
        'add a second host with role lb so keepalived can move the VIP',
      ),
    ]);
  });

  it('no workers', () => {
    const r = validateSpec({ hosts: [lb(1), lb(2), m(1), m(2), m(3)] }, NONE);
    expect(r.issues).toEqual([
      warn('hosts', 'no workers: pods will have nowhere to run', 'add a host with role worker, e.g. w1'),
    ]);
    expect(r.spec?.hosts).toHaveLength(5);
  });

  it('three masters, two lbs and any number of workers are fine', () => {
    expect(issues({ hosts: [lb(1), lb(2), lb(3), m(1), m(2), m(3), m(4), m(5), w(1)] })).toEqual([]);
  });
});

describe('VIP', () => {
  const fix = 'set vip to a free address inside 10.213.0.0/24, e.g. 10.213.0.10';
  it('must be inside the subnet and not its network, broadcast or gateway address', () => {
    expectOnly({ vip: '10.214.0.10' }, err('vip', 'VIP 10.214.0.10 is outside subnet 10.213.0.0/24', fix));
    expectOnly({ vip: '10.213.0.0' }, err('vip', 'VIP 10.213.0.0 is the network address of subnet 10.213.0.0/24', fix));
    expectOnly(
      { vip: '10.213.0.255' },
      err('vip', 'VIP 10.213.0.255 is the broadcast address of subnet 10.213.0.0/24', fix),
    );
    expectOnly(
      { vip: '10.213.0.1' },
      err(
        'vip',
        "VIP 10.213.0.1 is the gateway of subnet 10.213.0.0/24 (this machine's address on the lab bridge)",
        fix,
      ),
    );
  });

  it('must not be a host address', () => {
    expectOnly(
      { hosts: REF_HOSTS, vip: '10.213.0.21' },
      err('vip', 'VIP 10.213.0.21 is also the address of m1 (hosts[2])', fix),
    );
    expectOnly({ vip: '10.213.0.31' }, err('vip', 'VIP 10.213.0.31 is also the address of the default host w1', fix));
  });

  it('suggests an address that is really free', () => {
    const hosts = [lb(1), lb(2), m(1), m(2), m(3), { ...w(1), address: '10.213.0.10' }];
    expectOnly(
      { hosts, vip: '10.213.0.12' },
      err(
        'vip',
        'VIP 10.213.0.12 is also the address of lb2 (hosts[1])',
        'set vip to a free address inside 10.213.0.0/24, e.g. 10.213.0.13',
      ),
    );
  });
});

describe('subnet', () => {
  const free = 'pick a free private range, e.g. 10.213.0.0/24';
  it('host bits set', () => {
    expectOnly(
      { subnet: '10.213.0.5/24', hosts: REF_HOSTS },
      err(
        'subnet',
        'subnet 10.213.0.5/24 has host bits set: its network address is 10.213.0.0',
        'write it as 10.213.0.0/24',
      ),
    );
  });

  it('must be private', () => {
    expectOnly(
      { subnet: '192.0.2.0/24' },
      err('subnet', 'subnet 192.0.2.0/24 is not a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)', free),
    );
    expect(issues({ subnet: '172.16.9.0/24' })).toEqual([]);
    expect(issues({ subnet: '192.168.77.0/24' })).toEqual([]);
  });

  it('prefix between /16 and /29', () => {
    const hosts = [
      { name: 'lb1', role: 'lb', address: '10.213.0.2' },
      { name: 'm1', role: 'master', address: '10.213.0.3' },
    ];
    expect(issues({ subnet: '10.213.0.0/30', vip: '10.213.0.2', hosts }).filter((i) => i.path === 'subnet')).toEqual([
      err(
        'subnet',
        'subnet 10.213.0.0/30 is too small: the prefix must be /29 or shorter',
        'use a /24, e.g. 10.213.0.0/24',
      ),
    ]);
    expectOnly(
      { subnet: '10.0.0.0/15' },
      err(
        'subnet',
        'subnet 10.0.0.0/15 is too large: the prefix must be /16 or longer',
        'use a /24, e.g. 10.213.0.0/24',
      ),
    );
    expect(issues({ subnet: '10.5.0.0/16' })).toEqual([]);
    const small = [
      { name: 'lb1', role: 'lb', address: '10.213.0.2' },
      { name: 'm1', role: 'master', address: '10.213.0.3' },
      { name: 'w1', role: 'worker', address: '10.213.0.4' },
    ];
    expect(issues({ subnet: '10.213.0.0/29', vip: '10.213.0.6', hosts: small }).map((i) => i.message)).toEqual([
      'no control-plane HA: losing the master loses the API',
      'the load balancer is a single point of failure',
    ]);
  });

  it('reports the default hosts once when they do not fit the subnet', () => {
    expect(issues({ subnet: '10.213.0.0/27' })).toEqual([
      err(
        'subnet',
        'subnet 10.213.0.0/27 is too small for the default hosts at .11 to .32',
        'use a /26 or larger subnet, or list the hosts yourself',
      ),
    ]);
    expect(issues({ subnet: '10.213.0.0/26' })).toEqual([]);
    expect(issues({ subnet: '10.213.0.0/29' })).toEqual([
      err(
        'subnet',
        'subnet 10.213.0.0/29 is too small for the default hosts at .11 to .32',
        'use a /26 or larger subnet, or list the hosts yourself',
      ),
      err(
        'vip',
        'VIP 10.213.0.10 is outside subnet 10.213.0.0/29',
        'set vip to a free address inside 10.213.0.0/29, e.g. 10.213.0.2',
      ),
    ]);
  });

  it('must not overlap a network of this machine', () => {
    const machine = { cidrs: [{ cidr: '192.0.2.0/24', source: 'route 192.0.2.0/24 dev eth0' }] };
    const r = issues({ subnet: '192.0.2.0/24' }, machine);
    expect(r).toContainEqual(
      err('subnet', 'subnet 192.0.2.0/24 overlaps route 192.0.2.0/24 dev eth0 on this machine', free),
    );
    expect(r).toHaveLength(2); // and it is not private
  });

  it('suggests a /24 that overlaps nothing on the machine', () => {
    const machine = {
      cidrs: [
        { cidr: '10.213.0.1/24', source: 'address 10.213.0.1/24 on hl-br0' },
        { cidr: '10.213.0.0/24', source: 'route 10.213.0.0/24 dev hl-br0' },
        { cidr: '10.213.1.7', source: 'route 10.213.1.7 dev tun0' },
        { cidr: '10.213.2.0/23', source: 'route 10.213.2.0/23 dev docker0' },
        { cidr: '0.0.0.0/0', source: 'route default via 192.168.1.1 dev eth0' },
        { cidr: 'fe80::/64', source: 'route fe80::/64 dev eth0' },
      ],
    };
    // the address and its connected route are one clash, reported once with the first source
    expect(issues({}, machine)).toEqual([
      err(
        'subnet',
        'subnet 10.213.0.0/24 overlaps address 10.213.0.1/24 on hl-br0 on this machine',
        'pick a free private range, e.g. 10.213.4.0/24',
      ),
    ]);
    expect(suggestFreeSubnet(machine)).toBe('10.213.4.0/24');
  });

  it('a broad route counts too, and the suggestion leaves 10.213.x.0 when it must', () => {
    const machine = { cidrs: [{ cidr: '10.0.0.0/8', source: 'route 10.0.0.0/8 dev tun0' }] };
    expect(issues({}, machine)).toEqual([
      err(
        'subnet',
        'subnet 10.213.0.0/24 overlaps route 10.0.0.0/8 dev tun0 on this machine',
        'pick a free private range, e.g. 192.168.0.0/24',
      ),
    ]);
    const all = {
      cidrs: [
        { cidr: '10.0.0.0/8', source: 'a' },
        { cidr: '192.168.0.0/16', source: 'b' },
      ],
    };
    expect(suggestFreeSubnet(all)).toBeUndefined();
    expect(issues({}, all)[0]?.fix).toBe('pick a private range that no address or route on this machine uses');
  });

  it('checks the VIP and hosts against a moved subnet', () => {
    expect(issues({ subnet: '10.213.7.0/24', vip: '10.213.0.10' })).toEqual([
      err(
        'vip',
        'VIP 10.213.0.10 is outside subnet 10.213.7.0/24',
        'set vip to a free address inside 10.213.7.0/24, e.g. 10.213.7.10',
      ),
    ]);
    expect(issues({ subnet: '10.213.7.0/24', hosts: REF_HOSTS }).map((i) => i.path)).toEqual([
      'hosts[0].address',
      'hosts[1].address',
      'hosts[2].address',
      'hosts[3].address',
      'hosts[4].address',
      'hosts[5].address',
      'hosts[6].address',
    ]);
  });
});

describe('timers across fields', () => {
  it('renewDeadlineS must be less than leaseDurationS', () => {
    expectOnly(
      { timers: { renewDeadlineS: 8 } },
      err(
        'timers.renewDeadlineS',
        'renewDeadlineS 8 is not less than leaseDurationS 8: leader election will not start',
        'make renewDeadlineS smaller than leaseDurationS (the defaults are 6 and 8)',
      ),
    );
  });

  it('renewDeadlineS must exceed 1.2 × retryPeriodS', () => {
    expectOnly(
      { timers: { retryPeriodS: 5 } },
      err(
        'timers.retryPeriodS',
        'retryPeriodS 5 is too long for renewDeadlineS 6: the deadline must exceed 1.2 × retryPeriodS (6) or leader election will not start',
        'make retryPeriodS smaller than renewDeadlineS / 1.2 (the defaults are 2 and 6)',
      ),
    );
    expect(issues({ timers: { retryPeriodS: 4 } })).toEqual([]); // 6 > 4.8
  });

  it('etcdElectionMs must be at least 5 × etcdHeartbeatMs', () => {
    expectOnly(
      { timers: { etcdHeartbeatMs: 250 } },
      err(
        'timers.etcdElectionMs',
        'etcdElectionMs 1000 is less than 5 × etcdHeartbeatMs (1250): etcd refuses to start',
        'set etcdElectionMs to at least 1250; 10 × etcdHeartbeatMs (2500) is usual',
      ),
    );
    expect(issues({ timers: { etcdHeartbeatMs: 200 } })).toEqual([]);
  });

  it('warns when the node grace period is under two status updates', () => {
    expectOnly(
      { timers: { nodeMonitorGracePeriodS: 7 } },
      warn(
        'timers.nodeMonitorGracePeriodS',
        'nodeMonitorGracePeriodS 7 is less than 2 × nodeStatusUpdateFrequencyS (20): one late status update marks a healthy node NotReady',
        "set nodeMonitorGracePeriodS to at least 2 × nodeStatusUpdateFrequencyS (20); Kubernetes' own defaults give 4 × (40)",
      ),
    );
  });

  it('skips relations whose fields are already wrong', () => {
    expect(issues({ timers: { leaseDurationS: 'x', renewDeadlineS: 99 } }).map((i) => i.path)).toEqual([
      'timers.leaseDurationS',
    ]);
  });
});

describe('helpers', () => {
  it('formatPath', () => {
    expect(formatPath([])).toBe('');
    expect(formatPath(['hosts', 3, 'address'])).toBe('hosts[3].address');
    expect(formatPath(['timers', 'vrrpAdvertInt'])).toBe('timers.vrrpAdvertInt');
  });

  it('closestField', () => {
    const known = ['vip', 'subnet', 'timers'];
    expect(closestField('tmers', known)).toBe('timers');
    expect(closestField('Subnet', known)).toBe('subnet');
    expect(closestField('ip', known)).toBeUndefined();
    expect(closestField('colour', known)).toBeUndefined();
  });

  it('sortIssues puts errors first, then spec field order, then host index', () => {
    const i = (severity: SpecIssue['severity'], path: string): SpecIssue => ({
      severity,
      path,
      message: path,
      fix: 'f',
    });
    const sorted = sortIssues([
      i('warning', 'hosts'),
      i('error', 'timers.x'),
      i('error', 'hosts[10].name'),
      i('error', 'hosts[2].name'),
      i('error', 'name'),
      i('error', 'zzz'),
      i('error', ''),
    ]);
    expect(sorted.map((s) => `${s.severity} ${s.path}`)).toEqual([
      'error ',
      'error zzz',
      'error name',
      'error hosts[2].name',
      'error hosts[10].name',
      'error timers.x',
      'warning hosts',
    ]);
  });
});

describe('vrrpAdvertInt granularity', () => {
  it('refuses an interval that is not a whole number of centiseconds', () => {
    const r = validateSpec({ timers: { vrrpAdvertInt: 0.125 } }, { cidrs: [] });
    expect(r.issues).toContainEqual({
      severity: 'error',
      path: 'timers.vrrpAdvertInt',
      message: 'vrrpAdvertInt 0.125 is not a whole number of centiseconds: VRRP advertises in steps of 0.01 s',
      fix: 'round it, e.g. 0.13',
    });
    expect(
      validateSpec({ timers: { vrrpAdvertInt: 0.35 } }, { cidrs: [] }).issues.filter(
        (i) => i.path === 'timers.vrrpAdvertInt',
      ),
    ).toEqual([]);
  });
});
