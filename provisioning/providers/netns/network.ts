// The lab's network on this machine: one bridge (the machine is its gateway), one network
// namespace per host with a veth pair (`<tag>v<i>` here, eth0 inside), static addresses.
import { readFileSync, statSync } from 'node:fs';
import type { LabState } from '../../api/types.ts';
import type { LabContext } from '../../engine/context.ts';
import type { StepTools } from '../../engine/runner.ts';
import { CommandError } from '../../errors.ts';
import { ok, out, run } from '../../exec/local.ts';
import { parseCidr } from '../../spec/net.ts';
import { gatewayOf } from '../../spec/plan.ts';
import { bridgeName, HOST_IFACE, nsName, vethName } from './names.ts';
import { netnsHost } from './state.ts';

const prefixOf = (subnet: string) => parseCidr(subnet)!.prefix;

export async function linkExists(name: string, netns?: string): Promise<boolean> {
  return ok('ip', netns ? ['-n', netns, 'link', 'show', name] : ['link', 'show', name]);
}

/**
 * `ip link del NAME`, idempotent: a link that is not there (any more) is fine; the kernel
 * removes a veth pair by itself, asynchronously, once the namespace holding its other end is gone.
 */
export async function delLink(name: string): Promise<void> {
  const r = await run('ip', ['link', 'del', name], { allowFail: true });
  if (r.exitCode !== 0 && (await linkExists(name))) {
    throw new CommandError({
      command: `ip link del ${name}`,
      exitCode: r.exitCode,
      stdout: r.stdout,
      stderr: r.stderr,
    });
  }
}

async function netnsNames(): Promise<string[]> {
  return (await out('ip', ['netns', 'list']).catch(() => '')).split('\n').map((l) => l.split(' ')[0] ?? '');
}

/** done(): the bridge has the gateway address and every host has its address and recorded inode. */
export async function networkReady(state: LabState): Promise<boolean> {
  const gw = gatewayOf(state.spec.subnet);
  const brAddr = await out('ip', ['-o', '-4', 'addr', 'show', 'dev', bridgeName(state.tag)]).catch(() => '');
  if (!brAddr.includes(` ${gw}/`)) return false;
  for (const h of state.spec.hosts) {
    const a = await out('ip', ['-n', nsName(state.name, h.name), '-o', '-4', 'addr', 'show', 'dev', HOST_IFACE]).catch(
      () => '',
    );
    if (!a.includes(` ${h.address}/`)) return false;
    if (!netnsHost(state, h.name).netnsInode) return false;
  }
  return true;
}

/** Create (or complete) the bridge and every host's namespace, cable and address. */
export async function createNetwork(lab: LabContext, t: StepTools): Promise<void> {
  const { state } = lab;
  const br = bridgeName(state.tag);
  const gw = gatewayOf(state.spec.subnet);
  const prefix = prefixOf(state.spec.subnet);
  if (!(await linkExists(br))) {
    t.log(`bridge ${br} ${gw}/${prefix}`);
    await run('ip', ['link', 'add', br, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
  }
  const brAddr = await out('ip', ['-o', '-4', 'addr', 'show', 'dev', br]);
  if (!brAddr.includes(` ${gw}/`)) await run('ip', ['addr', 'add', `${gw}/${prefix}`, 'dev', br]);
  await run('ip', ['link', 'set', br, 'up']);
  const existing = await netnsNames();
  const veths = allocateVeths(state);
  const fresh: string[] = [];
  let i = 0;
  for (const h of state.spec.hosts) {
    i++;
    const ns = nsName(state.name, h.name);
    const veth = veths.get(h.name)!;
    if (!existing.includes(ns)) await run('ip', ['netns', 'add', ns]);
    await run('ip', [
      'netns',
      'exec',
      ns,
      'sysctl',
      '-qw',
      'net.ipv6.conf.all.disable_ipv6=1',
      'net.ipv6.conf.default.disable_ipv6=1',
      'net.ipv4.ip_nonlocal_bind=1',
    ]);
    if (!(await linkExists(HOST_IFACE, ns))) {
      await delLink(veth); // half-made pair from an interrupted run
      await run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', HOST_IFACE, 'netns', ns]);
      fresh.push(h.address);
    }
    await run('ip', ['link', 'set', veth, 'master', br]);
    await run('ip', ['link', 'set', veth, 'up']);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    const a = await out('ip', ['-n', ns, '-o', '-4', 'addr', 'show', 'dev', HOST_IFACE]);
    if (!a.includes(` ${h.address}/`))
      await run('ip', ['-n', ns, 'addr', 'add', `${h.address}/${prefix}`, 'dev', HOST_IFACE]);
    await run('ip', ['-n', ns, 'link', 'set', HOST_IFACE, 'up']);
    await run('ip', ['-n', ns, 'route', 'replace', 'default', 'via', gw]);
    const hs = netnsHost(state, h.name);
    hs.netns = ns;
    hs.veth = veth;
    hs.netnsInode = `net:[${statSync(`/run/netns/${ns}`).ino}]`;
    t.progress(i, state.spec.hosts.length, `${h.name} ${h.address}`);
  }
  await forgetOldMacs(state, fresh);
  await lab.save();
}

/**
 * A new cable has a new MAC address: a host made again at the same address (`halab replace`)
 * would stay unreachable from the machine and from the other hosts until their ARP entries for
 * the old MAC age out (tens of seconds: etcd peers and HAProxy included). Those entries go now.
 */
async function forgetOldMacs(state: LabState, addresses: string[]): Promise<void> {
  if (!addresses.length) return;
  const br = bridgeName(state.tag);
  const others = (await netnsNames()).filter((n) => state.spec.hosts.some((h) => nsName(state.name, h.name) === n));
  for (const a of addresses) {
    await run('ip', ['neigh', 'flush', 'to', a, 'dev', br], { allowFail: true });
    for (const ns of others) await run('ip', ['-n', ns, 'neigh', 'flush', 'to', a], { allowFail: true });
  }
}

/**
 * The machine's end of every host's cable: the one recorded for it, else the lowest free number
 * (spec order at creation: lb1 is v1; a host added later or made again takes a free one, so a
 * removed host never shifts another host's cable).
 */
export function allocateVeths(state: LabState): Map<string, string> {
  const out = new Map<string, string>();
  const used = new Set<string>();
  for (const h of state.spec.hosts) {
    const v = netnsHost(state, h.name).veth;
    if (v && !used.has(v)) {
      out.set(h.name, v);
      used.add(v);
    }
  }
  let next = 1;
  for (const h of state.spec.hosts) {
    if (out.has(h.name)) continue;
    while (used.has(vethName(state.tag, next))) next++;
    const v = vethName(state.tag, next);
    out.set(h.name, v);
    used.add(v);
  }
  return out;
}

/** Is the host's cable plugged in (the machine's end of its veth administratively up)? */
export function cablePlugged(state: LabState, host: string): boolean {
  const veth = netnsHost(state, host).veth;
  if (!veth) return false;
  try {
    return (Number.parseInt(readFileSync(`/sys/class/net/${veth}/flags`, 'utf8').trim(), 16) & 1) === 1;
  } catch {
    return false;
  }
}

/** Delete one host's namespace (and so its cable); idempotent. */
export async function destroyHostNetwork(state: LabState, host: string): Promise<void> {
  const ns = nsName(state.name, host);
  if ((await netnsNames()).includes(ns)) await run('ip', ['netns', 'del', ns]);
  const veth = netnsHost(state, host).veth;
  if (veth) await delLink(veth);
}

/** The cable of a host: up or down (the machine's end of its veth). */
export async function setCable(state: LabState, host: string, up: boolean): Promise<void> {
  await run('ip', ['link', 'set', String(netnsHost(state, host).veth), up ? 'up' : 'down']);
}

/**
 * What a real power-off does to a host's addresses: only the static one survives (a VIP that a
 * daemon added is gone), with the default route back.
 */
export async function resetAddresses(state: LabState, host: string): Promise<void> {
  const ns = nsName(state.name, host);
  const address = state.spec.hosts.find((h) => h.name === host)!.address;
  await run('ip', ['-n', ns, 'addr', 'flush', 'dev', HOST_IFACE]);
  await run('ip', ['-n', ns, 'addr', 'add', `${address}/${prefixOf(state.spec.subnet)}`, 'dev', HOST_IFACE]);
  await run('ip', ['-n', ns, 'route', 'replace', 'default', 'via', gatewayOf(state.spec.subnet)]);
}

/** Delete the namespaces (and so the veth pairs) and the bridge of the lab; idempotent. */
export async function destroyNetwork(state: LabState): Promise<void> {
  const existing = await netnsNames();
  for (const h of state.spec.hosts) {
    const ns = nsName(state.name, h.name);
    if (existing.includes(ns)) await run('ip', ['netns', 'del', ns]);
  }
  const veths = new Set<string>();
  for (let i = 1; i <= state.spec.hosts.length; i++) veths.add(vethName(state.tag, i));
  for (const h of state.spec.hosts) {
    const v = netnsHost(state, h.name).veth;
    if (v) veths.add(v);
  }
  for (const v of veths) await delLink(v);
  await delLink(bridgeName(state.tag));
}

/** Network objects of the lab still on the machine (namespaces, links). */
export async function networkLeftovers(state: LabState): Promise<string[]> {
  const left: string[] = [];
  for (const n of await netnsNames()) if (n.startsWith(`halab-${state.name}-`)) left.push(`network namespace ${n}`);
  const links = (await out('ip', ['-o', 'link', 'show']).catch(() => ''))
    .split('\n')
    .map((l) => l.split(': ')[1]?.split('@')[0] ?? '');
  for (const l of links) if (l.startsWith(state.tag)) left.push(`link ${l}`);
  return left;
}
