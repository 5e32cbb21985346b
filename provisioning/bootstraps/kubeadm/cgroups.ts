// The cgroups a kubeadm lab's hosts make on this machine's kernel (/halab/<lab>/<host>/... in
// every hierarchy: containerd, the kubelet's pods) outlive the hosts' processes: `down` removes
// them, deepest first, once every process of the lab is dead.
import { readdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { LabContext } from '../../engine/context.ts';
import { sleep } from '../../util/poll.ts';

const CGROUP_FS = '/sys/fs/cgroup';

/** The lab's cgroup directory in every hierarchy that has one. */
export function labCgroups(lab: string, root = CGROUP_FS): string[] {
  const out: string[] = [];
  for (const h of readdirSync(root, { withFileTypes: true })) {
    const d = join(root, h.name, 'halab', lab);
    if (statSync(d, { throwIfNoEntry: false })?.isDirectory()) out.push(d);
  }
  return out;
}

/** Every directory under `dir`, deepest first, `dir` last. */
function depthFirst(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...depthFirst(join(dir, e.name)));
  }
  out.push(dir);
  return out;
}

/** Remove the lab's cgroups (retrying one whose last process the kernel is still reaping), then /halab when empty. */
export async function releaseCgroups(lab: LabContext, t: { log: (m: string) => void }): Promise<void> {
  for (let i = 0; i < 50; i++) {
    for (const d of labCgroups(lab.state.name)) {
      for (const c of depthFirst(d)) {
        try {
          rmdirSync(c);
        } catch {
          /* busy or gone: tried again */
        }
      }
    }
    if (labCgroups(lab.state.name).length === 0) break;
    await sleep(100);
  }
  for (const h of readdirSync(CGROUP_FS, { withFileTypes: true })) {
    try {
      rmdirSync(join(CGROUP_FS, h.name, 'halab')); // only when no other lab uses it
    } catch {
      /* in use or absent */
    }
  }
  t.log('cgroups removed');
}

export async function cgroupLeftovers(lab: LabContext): Promise<string[]> {
  return labCgroups(lab.state.name).map((d) => `cgroup ${d}`);
}
