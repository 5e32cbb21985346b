// Provider existing (issue 13, item 6): seven machines reachable only over SSH are handed over to
// a lab by address and key; the reference lab is built on them with the same steps as everywhere,
// lb-failover passes with the emulated power cut, and `halab down` gives the machines back as
// they were handed over (no service, file, key, packet filter or sysctl of the lab left).
//
//   sudo npx vitest run --project integration tests/integration/existing.test.ts
//
// The machines: `halab up --hosts-only` of a netns lab under another name (each host a namespace
// with its own sshd, /etc, /var/lib, disks on the masters). The existing lab gets their addresses
// and the hosts-only lab's private key, and logs in as root with it; it runs the fast bootstrap.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabState, LabStatus } from '../../provisioning/api/types.ts';
import { SshRemote } from '../../provisioning/exec/ssh.ts';
import { cli, freshHome, leaks, removeHome, saveLabLog, skipUnlessRoot, writeSpec } from './helpers.ts';

const skip = skipUnlessRoot();
const HOSTS_LAB = 'exith';
const LAB = 'exitl';
const NET = '10.213.251';
const NAMES = ['lb1', 'lb2', 'm1', 'm2', 'm3', 'w1', 'w2'];

/** Lines of a machine's state that the lab must give back: paths, /etc contents, processes, network, sysctl. */
const SNAPSHOT = [
  'find /etc /var/lib /var/lib/etcd /var/lib/etcd-snapshots /var/log /root /run /mnt /opt /tmp -xdev \\( -path /run/halab/service/sshd -o -path /var/log/halab/sshd \\) -prune -o -print 2>/dev/null | sort -u | sed "s/^/path /"',
  'find /etc -xdev -type f -exec sha256sum {} + 2>/dev/null | sort | sed "s/^/etc /"',
  'ps -e -o args= | sed "s/^/proc /"',
  'iptables -S | sed "s/^/iptables /"',
  'ip -4 -o addr show | awk \'{print "addr", $2, $4}\'',
  'ip -o link show | awk \'{print "link", $2, $3}\'',
  'echo "sysctl $(sysctl -n net.ipv4.ip_nonlocal_bind)"',
].join('\n');

/** The snapshot minus the snapshot's own session (its sshd, shell and tools). */
function stable(text: string): string[] {
  return text
    .split('\n')
    .filter(
      (l) => l && !/^proc (sshd: root@notty|bash -c|sh -c|ps -e|sort|find |sed |awk |sha256sum|iptables|ip -)/.test(l),
    )
    .sort();
}

describe.skipIf(!!skip)('provider existing: the reference lab on seven machines handed over by address and key', () => {
  let home = '';
  let hostsSpec = '';
  let labSpec = '';
  const remotes = new Map<string, SshRemote>();
  const before = new Map<string, string[]>();

  /** The hosts-only lab's own SSH connection to a machine (its key, its pinned host key): the "owner". */
  function owner(host: string): SshRemote {
    let r = remotes.get(host);
    if (!r) {
      const st = JSON.parse(readFileSync(join(home, 'labs', HOSTS_LAB, 'state.json'), 'utf8')) as LabState;
      r = new SshRemote({
        host,
        address: st.hosts[host]!.address,
        privateKey: readFileSync(join(home, 'labs', HOSTS_LAB, 'keys', 'id_ed25519')),
        pinnedHostKey: st.hosts[host]!.hostKey!,
        connectTimeoutMs: 15_000,
      });
      remotes.set(host, r);
    }
    return r;
  }

  async function snapshot(host: string): Promise<string[]> {
    return stable((await owner(host).exec(SNAPSHOT, { timeoutMs: 60_000 })).stdout);
  }

  beforeAll(async () => {
    home = freshHome('existing');
    hostsSpec = writeSpec(home, 'machines.yaml', `name: ${HOSTS_LAB}\nsubnet: ${NET}.0/24\nbootstrap: fast\n`);
    const r = await cli(home, ['up', hostsSpec, '--hosts-only', '--no-switch-context']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const key = join(home, 'labs', HOSTS_LAB, 'keys', 'id_ed25519');
    labSpec = writeSpec(
      home,
      'existing.yaml',
      [
        `name: ${LAB}`,
        'provider: existing',
        'bootstrap: fast',
        `subnet: ${NET}.0/24`,
        'existing:',
        '  user: root',
        `  privateKey: ${key}`,
        'hosts:',
        ...NAMES.map((n, i) => {
          const role = n.startsWith('lb') ? 'lb' : n.startsWith('m') ? 'master' : 'worker';
          const addr = `${NET}.${[11, 12, 21, 22, 23, 31, 32][i]}`;
          return `  - { name: ${n}, role: ${role}, address: ${addr} }`;
        }),
        '',
      ].join('\n'),
    );
    for (const h of NAMES) before.set(h, await snapshot(h));
  });

  afterAll(async () => {
    // always clean up, whatever failed: the existing lab first (it gives the machines back), then the machines
    await Promise.all([...remotes.values()].map((r) => r.close()));
    for (const l of [LAB, HOSTS_LAB]) {
      const d = await cli(home, ['down', l]);
      if (d.code !== 0 && !/there is no lab named/.test(d.stderr)) {
        console.warn(`halab down ${l} failed (${d.code}): ${d.stderr}${d.stdout.slice(-2000)}`);
      }
    }
    const left = [...leaks(home, HOSTS_LAB), ...leaks(home, LAB)];
    removeHome(home);
    expect(left).toEqual([]);
  });

  it('builds the reference lab on them: the VIP on lb1, etcd healthy, the API through the VIP with kubectl', async () => {
    const t0 = Date.now();
    const r = await cli(home, ['up', labSpec, '--no-switch-context']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    // where the time went (this machine is loaded): the slowest steps of that run
    const events = readFileSync(join(home, 'labs', LAB, 'logs', 'halab.log'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"step:end"'))
      .map((l) => JSON.parse(l) as { stepId: string; durationMs?: number })
      .sort((a, b) => (b.durationMs ?? 0) - (a.durationMs ?? 0))
      .slice(0, 6)
      .map((e) => `${e.stepId} ${((e.durationMs ?? 0) / 1000).toFixed(1)} s`);
    console.log(
      `existing: halab up took ${((Date.now() - t0) / 1000).toFixed(1)} s; slowest steps: ${events.join(', ')}`,
    );
    // the host keys were learned on first contact and pinned
    const st = JSON.parse(readFileSync(join(home, 'labs', LAB, 'state.json'), 'utf8')) as LabState;
    for (const h of NAMES) {
      const theirs = JSON.parse(readFileSync(join(home, 'labs', HOSTS_LAB, 'state.json'), 'utf8')) as LabState;
      expect(st.hosts[h]!.hostKey?.split(' ')[1]).toBe(theirs.hosts[h]!.hostKey?.split(' ')[1]);
    }

    const s = await cli(home, ['status', LAB, '--json']);
    expect(s.code, s.stderr).toBe(0);
    const status = JSON.parse(s.stdout) as LabStatus;
    expect(status.provider).toBe('existing');
    expect(status.controlPlane?.vipHolder).toBe('lb1');
    expect(status.controlPlane?.vipHolders).toEqual(['lb1']);
    expect(status.controlPlane?.etcd.map((m) => [m.name, m.healthy])).toEqual([
      ['m1', true],
      ['m2', true],
      ['m3', true],
    ]);
    expect(status.controlPlane?.etcdLeader).toMatch(/^m[123]$/);

    // this machine's kubectl, the lab's context (KUBECONFIG is the test's own), the VIP as server
    const kubectl = (args: string[]) =>
      execFileSync('kubectl', ['--context', `halab-${LAB}`, '--request-timeout=20s', ...args], { encoding: 'utf8' });
    const server = kubectl(['config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}']);
    expect(server).toBe(`https://${NET}.10:6443`);
    expect(kubectl(['get', '--raw', '/readyz']).trim()).toBe('ok');
    const nodes = kubectl(['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}{"\\n"}{end}']);
    expect(nodes.trim().split('\n').sort()).toEqual(['w1', 'w2']);
  });

  it('lb-failover passes: the power cut of lb1 (services killed, cable out) moves the VIP to lb2', async () => {
    const drill = () => cli(home, ['drill', 'run', 'lb-failover', '--yes', '--lab', LAB]);
    let r = await drill();
    // what the provider does is checked on every run: the VIP moved and the API answered through it
    expect(r.stdout).toMatch(/✓ The VIP moved to lb2: on lb2/);
    expect(r.stdout).toMatch(/✓ The API answers through the VIP: ok/);
    if (r.code !== 0) {
      // the outage-vs-prediction checks have a 1 s margin; at a load of 20+ a probe request alone
      // takes up to 2.6 s here: one more run, and that one must pass whole
      const failed = r.stdout.split('\n').filter((l) => l.includes('✗'));
      console.warn(
        `lb-failover failed once (load ${loadavg()[0]!.toFixed(1)}), running it again:\n${failed.join('\n')}`,
      );
      r = await drill();
    }
    expect(r.code, r.stderr + r.stdout.slice(-4000)).toBe(0);
    expect(r.stdout).toMatch(/✓ The VIP moved to lb2: on lb2/);
    expect(r.stdout).toMatch(/PASSED: (\d+)\/\1 checks passed/);
  });

  it('a drill that needs a true power cut says it is unavailable on this provider', async () => {
    const r = await cli(home, ['drill', 'run', 'control-plane-down', '--yes', '--lab', LAB]);
    expect(r.code).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(/unavailable on provider existing: needs a true power cut/);
  });

  it('`halab down` gives the machines back as they were handed over', async () => {
    saveLabLog(home, LAB);
    const r = await cli(home, ['down', LAB]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const diffs = [];
    for (const h of NAMES) {
      const now = await snapshot(h);
      const added = now.filter((l) => !before.get(h)!.includes(l));
      const removed = before.get(h)!.filter((l) => !now.includes(l));
      diffs.push({ host: h, added, removed });
    }
    expect(diffs).toEqual(NAMES.map((host) => ({ host, added: [], removed: [] })));
    expect(leaks(home, LAB)).toEqual([]);
  });
});
