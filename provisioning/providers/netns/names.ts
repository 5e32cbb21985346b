// Names of the kernel objects and files of a netns lab (pure). Nothing is ever looked up by a
// broad pattern: cleanup works from the recorded state and checks each object's name or file.
import { join } from 'node:path';

/** Network namespace of a host: `halab-<lab>-<host>` (listed by `ip netns`). */
export const nsName = (lab: string, host: string) => `halab-${lab}-${host}`;
/** The lab's bridge on this machine: `<tag>br` (tag = "hl" + 6 hex of sha256(lab name)). */
export const bridgeName = (tag: string) => `${tag}br`;
/** The machine's end of host number `index` (1-based, spec order); `eth0` inside the host. */
export const vethName = (tag: string, index: number) => `${tag}v${index}`;
/** The interface inside every host. */
export const HOST_IFACE = 'eth0';

/** Inside every host, the machine's HA Lab cache (Kubernetes binaries) appears read-only here. */
export const HOST_CACHE = '/mnt/halab/cache';

export interface NetnsPaths {
  dir: string;
  /** Bind-mounted directory (private propagation) holding the persistent namespace files. */
  ns: string;
  /** A host's own files: overlay upper/work dirs, /root, /var/log, console.log. */
  host(h: string): string;
  /** The file a host's mount namespace is bound to. */
  mnt(h: string): string;
  /** The file a host's UTS namespace is bound to. */
  uts(h: string): string;
  /** A disk image of a host. */
  disk(h: string, d: string): string;
}

/** Where a netns lab keeps its files inside the lab's state directory `dir`. */
export function netnsPaths(dir: string): NetnsPaths {
  return {
    dir,
    ns: join(dir, 'ns'),
    host: (h) => join(dir, 'hosts', h),
    mnt: (h) => join(dir, 'ns', `${h}.mnt`),
    uts: (h) => join(dir, 'ns', `${h}.uts`),
    disk: (h, d) => join(dir, 'disks', `${h}-${d}.img`),
  };
}
