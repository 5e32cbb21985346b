// This machine on the lab segment: the engine reaches the VIP and the hosts' lab addresses from
// here (kubectl through the VIP, the status checks, the drills' API checks), as it does on the
// netns provider's bridge. The segment is a multicast group on 127.0.0.1 that every VM's QEMU
// joins; socat joins it too and hands its Ethernet frames to a tap interface of this machine
// (named after the lab's tag, holding the subnet's gateway address), and the tap's frames to the
// group. Started detached, recorded by pid (checked against its command line), ended by stop
// and destroy; the interface goes with the process.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { LabContext } from '../../engine/context.ts';
import { HalabError } from '../../errors.ts';
import { parseCidr } from '../../spec/net.ts';
import { gatewayOf } from '../../spec/plan.ts';
import { poll } from '../../util/poll.ts';
import { labSegment } from './names.ts';
import { qemuState } from './state.ts';

/** The tap interface of lab `tag` on this machine (≤ 15 characters: hl + 6 hex + "vm"). */
export const segmentInterface = (tag: string) => `${tag}vm`;

/** socat's argv joining `segment` with a tap `ifname` holding `address` (CIDR) (pure). */
export function segmentArgs(ifname: string, address: string, segment: { group: string; port: number }): string[] {
  const { group, port } = segment;
  // bound to the group itself: only datagrams sent to the group (on 127.0.0.1) reach the tap
  return [
    '-b',
    '65536',
    `TUN:${address},tun-type=tap,tun-name=${ifname},iff-no-pi,iff-up`,
    `UDP4-DATAGRAM:${group}:${port},bind=${group}:${port},reuseaddr,ip-add-membership=${group}:127.0.0.1,ip-multicast-if=127.0.0.1,ip-multicast-loop=1`,
  ];
}

/** Is `pid` the socat of tap `ifname`? */
function isSegmentProcess(pid: number | undefined, ifname: string): boolean {
  if (!pid) return false;
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.startsWith('socat') && cmd.includes(`tun-name=${ifname},`);
  } catch {
    return false;
  }
}

/** Every socat of tap `ifname`, recorded or not (an `up` killed before it recorded one). */
export function segmentPids(ifname: string): number[] {
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
  return pids.map(Number).filter((p) => isSegmentProcess(p, ifname));
}

const linkExists = (ifname: string) => existsSync(`/sys/class/net/${ifname}`);

/** Is this machine on the lab's segment (its socat running, its tap there)? */
export function segmentUp(lab: LabContext): boolean {
  const ifname = segmentInterface(lab.state.tag);
  return isSegmentProcess(qemuState(lab.state).segment?.pid, ifname) && linkExists(ifname);
}

/**
 * Put this machine on the lab segment (see the file comment): the tap gets the subnet's gateway
 * address. Linux only (a tap device, root). Errors: TOOL_MISSING (socat), SEGMENT with socat's
 * message.
 */
export async function startSegment(lab: LabContext): Promise<void> {
  if (segmentUp(lab)) return;
  await stopSegment(lab);
  const { state } = lab;
  const ifname = segmentInterface(state.tag);
  const prefix = parseCidr(state.spec.subnet)!.prefix;
  const args = segmentArgs(ifname, `${gatewayOf(state.spec.subnet)}/${prefix}`, labSegment(state.tag));
  const child = spawn('socat', args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const spawned = await new Promise<boolean>((resolve) => {
    child.once('spawn', () => resolve(true));
    child.once('error', () => resolve(false));
  });
  if (!spawned) {
    throw new HalabError('TOOL_MISSING', 'socat is not installed (it puts this machine on the VMs’ lab segment)', {
      fix: 'apt-get install -y socat',
    });
  }
  qemuState(state).segment = { pid: child.pid! };
  await lab.save();
  const ok = await poll({
    what: `this machine's interface ${ifname} on the lab segment`,
    check: () => (child.exitCode !== null ? 'exited' : linkExists(ifname) ? 'up' : undefined),
    timeoutMs: 10_000,
    intervalMs: 50,
  }).catch(() => 'timeout');
  if (ok !== 'up') {
    child.kill('SIGKILL');
    delete qemuState(state).segment;
    await lab.save();
    throw new HalabError('SEGMENT', `this machine could not join the lab segment: ${err.trim() || ok}`, {
      fix: 'it needs root and /dev/net/tun (modprobe tun)',
    });
  }
  child.stderr.destroy();
  child.unref();
  // no IPv6 chatter from this machine on the lab segment (the guests have none either)
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${ifname}/disable_ipv6`, '1');
  } catch {
    /* no IPv6 on this machine */
  }
}

/** Take this machine off the lab segment: end its socat (recorded or stray); the tap goes with it. */
export async function stopSegment(lab: LabContext): Promise<void> {
  const ifname = segmentInterface(lab.state.tag);
  const pids = segmentPids(ifname);
  for (const p of pids) {
    try {
      process.kill(p, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  await poll({
    what: `the interface ${ifname} to go`,
    check: () => segmentPids(ifname).length === 0 && !linkExists(ifname),
    timeoutMs: 5000,
    intervalMs: 50,
  }).catch(() => {
    for (const p of segmentPids(ifname)) process.kill(p, 'SIGKILL');
  });
  const qs = qemuState(lab.state);
  if (qs.segment) {
    delete qs.segment;
    await lab.save().catch(() => undefined);
  }
}

/** What of the segment is still on this machine. */
export function segmentLeftovers(lab: LabContext): string[] {
  const ifname = segmentInterface(lab.state.tag);
  return [
    ...segmentPids(ifname).map((p) => `socat process ${p} (this machine on the lab segment)`),
    ...(linkExists(ifname) ? [`interface ${ifname}`] : []),
  ];
}
