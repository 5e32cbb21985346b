// Bad specs are refused by `halab up` and `halab plan` with the exact message, a non-zero exit,
// and nothing created on the machine.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, freshHome, removeHome, writeSpec } from './helpers.ts';

const home = freshHome('badspec');
afterAll(() => removeHome(home));

const netnsNow = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
const linksNow = () =>
  execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(': ')[1])
    .join(' ');
// the machine's own network (the first address of eth0 or whatever interface carries the default route)
const machineNet = (() => {
  const r = JSON.parse(execFileSync('ip', ['-j', '-4', 'route', 'show'], { encoding: 'utf8' })) as {
    dst: string;
    dev: string;
  }[];
  const dev = r.find((x) => x.dst === 'default')?.dev;
  return r.find((x) => x.dst !== 'default' && x.dev === dev && !x.dst.startsWith('127.'));
})();

const H = (name: string, role: string, address: string) => `  - { name: ${name}, role: ${role}, address: ${address} }`;
const hosts = (subnet3: string, extra: string[] = []) =>
  [
    'hosts:',
    H('lb1', 'lb', `${subnet3}.11`),
    H('lb2', 'lb', `${subnet3}.12`),
    H('m1', 'master', `${subnet3}.21`),
    H('m2', 'master', `${subnet3}.22`),
    H('m3', 'master', `${subnet3}.23`),
    H('w1', 'worker', `${subnet3}.31`),
    ...extra,
  ].join('\n');

const cases: { name: string; yaml: string; expect: string[] }[] = [
  {
    name: 'a VIP outside the subnet',
    yaml: `name: bad1\nsubnet: 10.213.70.0/24\nvip: 10.213.71.10\n`,
    expect: [
      'VIP 10.213.71.10 is outside subnet 10.213.70.0/24',
      'fix: set vip to a free address inside 10.213.70.0/24',
    ],
  },
  {
    name: 'a VIP equal to a host address',
    yaml: `name: bad2\nsubnet: 10.213.70.0/24\nvip: 10.213.70.21\n${hosts('10.213.70')}\n`,
    expect: ['VIP 10.213.70.21 is also the address of m1 (hosts[2])'],
  },
  {
    name: 'duplicate names and addresses',
    yaml: `name: bad3\nsubnet: 10.213.70.0/24\n${hosts('10.213.70', [H('m1', 'worker', '10.213.70.31')])}\n`,
    expect: [
      'hosts[6].name',
      'host name "m1" is also the name of hosts[2]',
      'hosts[6].address',
      'address 10.213.70.31 is also the address of w1 (hosts[5])',
    ],
  },
  {
    name: 'names that are not DNS labels',
    yaml: `name: Bad_Lab\nsubnet: 10.213.70.0/24\n${hosts('10.213.70', [H('W_2', 'worker', '10.213.70.32')])}\n`,
    expect: [
      `name "Bad_Lab" is not a DNS label: use lowercase letters, digits and '-', starting and ending with a letter or digit`,
      'host name "W_2" is not a DNS label',
    ],
  },
  {
    name: 'an address outside the subnet',
    yaml: `name: bad5\nsubnet: 10.213.70.0/24\n${hosts('10.213.70', [H('w2', 'worker', '10.213.99.32')])}\n`,
    expect: ['hosts[6].address', 'address 10.213.99.32 is outside subnet 10.213.70.0/24'],
  },
];
if (machineNet) {
  cases.push({
    name: 'a subnet that overlaps a route of this machine',
    yaml: `name: bad6\nsubnet: ${machineNet.dst}\n`,
    // the machine's own network: reported as overlapping its address (and its route) on that interface
    expect: [
      `subnet ${machineNet.dst} overlaps `,
      ` on ${machineNet.dev} on this machine`,
      'fix: pick a free private range, e.g. 10.213.',
    ],
  });
}

describe('bad specs', () => {
  for (const c of cases) {
    it(`refuses ${c.name}: exact message, exit code 2, nothing created`, async () => {
      const path = writeSpec(home, `${c.name.replace(/\W+/g, '-')}.yaml`, c.yaml);
      const ns0 = netnsNow();
      const links0 = linksNow();
      for (const cmd of ['up', 'plan']) {
        const r = await cli(home, [cmd, path]);
        expect(r.code, `${cmd}: ${r.stderr}`).toBe(2);
        // `up` prints the issues on stderr; `plan` draws the plan with the issues in it on stdout
        const text = r.stdout + r.stderr;
        for (const e of c.expect) expect(text).toContain(e);
        expect(r.stderr).toContain('nothing was created');
        expect(r.stderr).not.toMatch(/\n\s+at .*:\d+:\d+/); // no stack trace
      }
      expect(netnsNow()).toBe(ns0);
      expect(linksNow()).toBe(links0);
      expect(existsSync(join(home, 'labs'))).toBe(false);
    });
  }

  it('a YAML syntax error names the line', async () => {
    const path = writeSpec(home, 'syntax.yaml', 'name: x\nhosts:\n\t- bad\n');
    const r = await cli(home, ['up', path]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('YAML syntax error at');
    expect(r.stderr).toMatch(/syntax\.yaml:3:\d+/);
  });

  it('a missing spec file is a clear error, exit 1', async () => {
    const r = await cli(home, ['up', join(home, 'nope.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: cannot read the lab spec');
    expect(r.stderr).toContain('fix: give the path of a YAML file');
  });

  it('--json gives the issues as data', async () => {
    const path = writeSpec(home, 'json.yaml', 'name: bad9\nsubnet: 10.213.70.0/24\nvip: 10.213.71.10\n');
    const r = await cli(home, ['up', path, '--json']);
    expect(r.code).toBe(2);
    const out = JSON.parse(r.stdout);
    expect(out.error.code).toBe('SPEC_INVALID');
    expect(out.issues).toContainEqual(
      expect.objectContaining({
        severity: 'error',
        path: 'vip',
        message: 'VIP 10.213.71.10 is outside subnet 10.213.70.0/24',
      }),
    );
  });
});
