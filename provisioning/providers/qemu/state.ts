// What the qemu provider records about a lab (`state.provider`, checked with this schema whenever
// it is read): the accelerator and base image it was made with, the lab segment, and per VM its
// SSH port forward, its QEMU process and its cable.
import { z } from 'zod';
import type { LabState } from '../../api/types.ts';
import { HalabError } from '../../errors.ts';

export const QemuHostSchema = z.object({
  /** 1-based position in the spec when the VM was made (its MAC). */
  index: z.number().int(),
  /** 127.0.0.1:sshPort on this machine reaches the VM's sshd (QEMU user-mode hostfwd). */
  sshPort: z.number().int().optional(),
  /** The QEMU process while it runs, and the time it started (ms since the epoch). */
  pid: z.number().int().optional(),
  startedAt: z.number().optional(),
  /** The lab cable: false after link-down (QMP set_link off); a new QEMU starts plugged. */
  plugged: z.boolean().default(true),
  /** The overlay, host key and disks exist. */
  files: z.literal('ready').optional(),
});
export type QemuHost = z.infer<typeof QemuHostSchema>;

export const QemuStateSchema = z.object({
  kind: z.literal('qemu'),
  /** The accelerator the VMs run under (kvm, hvf, tcg), chosen when the lab was made or started. */
  accel: z.enum(['kvm', 'hvf', 'tcg']).optional(),
  /** The base image version the overlays are made on (kept: overlays need their backing file). */
  image: z.string().optional(),
  hosts: z.record(z.string(), QemuHostSchema).default({}),
  /** This machine on the lab segment: the socat that joins its tap to the segment (segment.ts). */
  segment: z.object({ pid: z.number().int() }).optional(),
});
export type QemuState = z.infer<typeof QemuStateSchema>;

const checked = new WeakSet<object>();

/** The qemu record of a lab state, created empty if absent; mutate it, then save the lab. */
export function qemuState(state: LabState): QemuState {
  const raw = state.provider ?? { kind: 'qemu', hosts: {} };
  if (checked.has(raw)) return raw as QemuState;
  const r = QemuStateSchema.safeParse(raw);
  if (!r.success) {
    throw new HalabError('STATE_INVALID', `the recorded qemu state of lab ${state.name} is not valid`, {
      details: z.prettifyError(r.error),
      fix: `remove the lab with \`halab down ${state.name}\` and create it again`,
    });
  }
  state.provider = r.data;
  checked.add(r.data);
  return r.data;
}

/** One VM's record (created with the next free index). */
export function qemuHost(state: LabState, host: string): QemuHost {
  const s = qemuState(state);
  if (!s.hosts[host]) {
    const used = new Set(Object.values(s.hosts).map((h) => h.index));
    let index = state.spec.hosts.findIndex((h) => h.name === host) + 1 || 1;
    while (used.has(index)) index++;
    s.hosts[host] = { index, plugged: true };
  }
  return s.hosts[host];
}
