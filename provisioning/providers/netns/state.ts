// What the netns provider records about a lab: per host, its namespaces (by inode, so a
// recycled name is never mistaken for ours), its PID 1 and its loop disks. Lives in
// `state.provider` and is checked with this schema whenever it is read.
import { z } from 'zod';
import type { LabState } from '../../api/types.ts';
import { HalabError } from '../../errors.ts';

export const NetnsDiskSchema = z.object({
  name: z.string(),
  /** The image file on this machine. */
  image: z.string(),
  /** /dev/loopN attached to the image (absent until attached). */
  loopDevice: z.string().optional(),
  mountpoint: z.string(),
  size: z.string(),
});
export type NetnsDisk = z.infer<typeof NetnsDiskSchema>;

export const NetnsHostSchema = z.object({
  /** `ip netns` name and its inode ("net:[4026532...]"). */
  netns: z.string().optional(),
  netnsInode: z.string().optional(),
  /** The machine's end of the host's cable. */
  veth: z.string().optional(),
  /** The host's mount and UTS namespaces are made and populated. */
  fs: z.literal('ready').optional(),
  /** The `unshare` that started PID 1, PID 1 itself (s6-svscan) and its PID namespace inode. */
  launcherPid: z.number().int().optional(),
  initPid: z.number().int().optional(),
  pidnsInode: z.string().optional(),
  disks: z.array(NetnsDiskSchema).default([]),
});
export type NetnsHost = z.infer<typeof NetnsHostSchema>;

export const NetnsStateSchema = z.object({
  kind: z.literal('netns'),
  hosts: z.record(z.string(), NetnsHostSchema).default({}),
});
export type NetnsState = z.infer<typeof NetnsStateSchema>;

const checked = new WeakSet<object>();

/** The netns record of a lab state, created empty if absent; mutate it, then save the lab. */
export function netnsState(state: LabState): NetnsState {
  const raw = state.provider ?? migrateV1(state) ?? { kind: 'netns', hosts: {} };
  if (checked.has(raw)) return raw as NetnsState;
  const r = NetnsStateSchema.safeParse(raw);
  if (!r.success) {
    throw new HalabError('STATE_INVALID', `the recorded netns state of lab ${state.name} is not valid`, {
      details: z.prettifyError(r.error),
      fix: `remove the lab with \`halab down ${state.name}\` and create it again`,
    });
  }
  state.provider = r.data;
  checked.add(r.data);
  return r.data;
}

/** One host's record (created empty). */
export function netnsHost(state: LabState, host: string): NetnsHost {
  const s = netnsState(state);
  return (s.hosts[host] ??= { disks: [] });
}

/** A lab created by an earlier HA Lab kept these fields on each host: carry them over. */
function migrateV1(state: LabState): NetnsState | undefined {
  const old = state.hosts as Record<string, { provider?: Record<string, unknown>; disks?: unknown[] }>;
  if (!Object.values(old).some((h) => h.provider)) return undefined;
  const hosts: NetnsState['hosts'] = {};
  for (const [name, h] of Object.entries(old)) {
    hosts[name] = { ...(h.provider ?? {}), disks: (h.disks ?? []) as NetnsDisk[] } as NetnsHost;
    delete h.provider;
    delete h.disks;
  }
  return { kind: 'netns', hosts };
}
