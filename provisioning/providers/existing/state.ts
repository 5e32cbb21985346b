// What the existing provider records about a lab (`state.provider`, checked with this schema
// whenever it is read): per machine what the lab changed on it, so that `down` takes exactly
// that back, and the power state its emulated power actions left.
import { z } from 'zod';
import type { LabState } from '../../api/types.ts';
import { HalabError } from '../../errors.ts';

export const ExistingHostSchema = z.object({
  /** The interface that holds the host's lab address (keepalived's, and the one `off` / `link-down` cut). */
  iface: z.string().optional(),
  /** The preflight passed and the lab's key is authorised (set once: a resumed `up` does not re-check). */
  prepared: z.boolean().default(false),
  /** The file sshd reads root's authorised keys from, and whether the lab created it. */
  authorizedKeys: z
    .object({ path: z.string(), created: z.boolean(), dirCreated: z.boolean().default(false) })
    .optional(),
  /** The lab's files' baseline was taken (what was there before, kept on the machine and here). */
  baseline: z.boolean().default(false),
  /** s6-svscan on /run/halab/service: the machine's own (a netns host's PID 1), or one this lab started. */
  s6: z.enum(['theirs', 'ours']).optional(),
  /** net.ipv4.ip_nonlocal_bind before the lab set it (LBs: HAProxy binds the VIP on the BACKUP). */
  nonlocalBind: z.string().optional(),
  /** Emulated power: off = the lab's services killed + cable out; frozen = SIGSTOP; plugged = cable. */
  on: z.boolean().default(true),
  frozen: z.boolean().default(false),
  plugged: z.boolean().default(true),
  /** How the cable is pulled: the interface down, or (SSH runs over it) a packet filter that spares SSH. */
  cable: z.enum(['link', 'filter']).optional(),
  /** The lab's services that were up when the host was powered off or stopped (started again by on / up). */
  downed: z.array(z.string()).default([]),
});
export type ExistingHost = z.infer<typeof ExistingHostSchema>;

export const ExistingStateSchema = z.object({
  kind: z.literal('existing'),
  hosts: z.record(z.string(), ExistingHostSchema).default({}),
});
export type ExistingState = z.infer<typeof ExistingStateSchema>;

const checked = new WeakSet<object>();

/** The existing record of a lab state, created empty if absent; mutate it, then save the lab. */
export function existingState(state: LabState): ExistingState {
  const raw = state.provider ?? { kind: 'existing', hosts: {} };
  if (checked.has(raw)) return raw as ExistingState;
  const r = ExistingStateSchema.safeParse(raw);
  if (!r.success) {
    throw new HalabError('STATE_INVALID', `the recorded state of lab ${state.name} (provider existing) is not valid`, {
      details: z.prettifyError(r.error),
      fix: `remove the lab with \`halab down ${state.name}\` and create it again`,
    });
  }
  state.provider = r.data;
  checked.add(r.data);
  return r.data;
}

/** One machine's record (created empty). */
export function existingHost(state: LabState, host: string): ExistingHost {
  const s = existingState(state);
  s.hosts[host] ??= ExistingHostSchema.parse({});
  return s.hosts[host];
}
