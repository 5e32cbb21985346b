// Names and places of a qemu lab's VMs (pure): files under the lab's state directory, the lab
// segment's multicast group and port, MAC addresses, PCI slots. Derived from the lab's tag and the
// host's index, so a lab made again gets the same values, and two labs never share a segment.
import { join } from 'node:path';

/** Where a VM's files are: its overlay, data disks, keys, sockets and console log. */
export interface VmPaths {
  dir: string;
  /** The copy-on-write overlay on the cached base image. */
  root: string;
  /** A data disk of the plan (qcow2). */
  disk(name: string): string;
  /** The VM's own SSH host key (private, 0600; the public key is pinned in the lab state). */
  hostKey: string;
  /** QEMU's QMP socket. */
  qmp: string;
  console: string;
  /** QEMU's own messages (stderr). */
  log: string;
  pidfile: string;
}

/** The folder of every VM of a lab. */
export const vmsDir = (labDir: string) => join(labDir, 'vms');

/** The files of VM `host` of the lab whose state directory is `labDir`. */
export function vmPaths(labDir: string, host: string): VmPaths {
  const dir = join(vmsDir(labDir), host);
  return {
    dir,
    root: join(dir, 'root.qcow2'),
    disk: (name) => join(dir, `disk-${name}.qcow2`),
    hostKey: join(dir, 'ssh_host_ed25519_key'),
    qmp: join(dir, 'qmp.sock'),
    console: join(dir, 'console.log'),
    log: join(dir, 'qemu.log'),
    pidfile: join(dir, 'qemu.pid'),
  };
}

/** Unix sockets hold at most 107 bytes of path (Linux; 103 on macOS). */
export const MAX_SOCKET_PATH = 103;

/** The tag's 3 bytes ("hl" + 6 hex digits of sha256(lab name)). */
function tagBytes(tag: string): [number, number, number] {
  const hex = /^hl([0-9a-f]{6})$/.exec(tag)?.[1] ?? '000000';
  return [parseInt(hex.slice(0, 2), 16), parseInt(hex.slice(2, 4), 16), parseInt(hex.slice(4, 6), 16)];
}

/**
 * The lab segment: a multicast group on this machine's loopback that every VM of the lab joins
 * (QEMU's socket netdev; a hub for Ethernet frames, no root, nothing leaves 127.0.0.1).
 * Group 239.255.x.y (administratively scoped) and UDP port 20000-59999, both from the tag.
 */
export function labSegment(tag: string): { group: string; port: number } {
  const [a, b, c] = tagBytes(tag);
  return { group: `239.255.${a}.${b}`, port: 20000 + ((a * 65536 + b * 256 + c) % 40000) };
}

/** The MAC of host number `index` (1-based) on the lab segment: 52:54 + tag + index (locally administered). */
export function labMac(tag: string, index: number): string {
  const [a, b, c] = tagBytes(tag);
  return ['52', '54', a, b, c, index & 0xff]
    .map((x) => (typeof x === 'string' ? x : x.toString(16).padStart(2, '0')))
    .join(':');
}

/** PCI slots (they give stable names in the guest: eth0, eth1, vda, vdb...). */
export const PCI = { labNic: 3, mgmtNic: 4, root: 5, firstDisk: 6, cache: 10, rng: 11 } as const;
