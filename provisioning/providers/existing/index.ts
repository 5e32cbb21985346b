// The existing provider: the machines are the user's, named by address in the spec and reached
// over SSH with the user's key (optionally through a jump host). Nothing is created: the first
// steps learn and pin each machine's host key, check it (preflight.ts: OS, kernel, ports, tools,
// no Kubernetes), record a baseline of the places the lab writes to (footprint.ts), authorise the
// lab's key for root and make sure s6 runs on /run/halab/service; from then on every step is the
// same code as on the other providers. `down` takes back exactly what the lab put there.
//
//   state.ts      what is recorded in state.provider (zod)
//   login.ts      first contact: the user's key, host keys learned or checked, a jump host
//   preflight.ts  what a machine must be (pure checks over facts read in one command)
//   footprint.ts  the baseline and its restore, leftovers
//   power.ts      the emulated power actions
//   host-prep.ts  a session, the first preparation of a machine, copying a tree
//   teardown.ts   down and leftovers

import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { DoctorCheck, LabSpec } from '../../api/types.ts';
import { cacheRoot } from '../../artifacts/cache.ts';
import type { LabContext } from '../../engine/context.ts';
import { forEachLimit, type Step, type StepTools } from '../../engine/runner.ts';
import { HalabError } from '../../errors.ts';
import { shq } from '../../exec/types.ts';
import type { ServiceManager } from '../../hosts/services.ts';
import { Supervisor } from '../../hosts/supervisor.ts';
import type { HostPowerState, NodeProvider, PowerAction } from '../types.ts';
import { labServicesScript, storeDir } from './footprint.ts';
import { loginOf, openSession } from './login.ts';
import { factsScript, machineProblems, parseFacts, type MachineProblem } from './preflight.ts';
import { cableInScript, power } from './power.ts';
import { existingHost, existingState } from './state.ts';

import {
  copyTree,
  ensureS6,
  prepareHost,
  refusal,
  session,
  SCAN,
  UNAVAILABLE_DRILLS,
  type OpenSession,
} from './host-prep.ts';
import { destroyLab, labLeftovers } from './teardown.ts';

export { machineProblems, parseFacts, factsScript } from './preflight.ts';
export { UNAVAILABLE_DRILLS, type OpenSession } from './host-prep.ts';

export class ExistingProvider implements NodeProvider {
  readonly name = 'existing' as const;
  readonly title = 'Machines you already have, over SSH (no VMs, nothing created)';
  private readonly open: OpenSession;

  constructor(o: { open?: OpenSession } = {}) {
    this.open = o.open ?? openSession;
  }

  /** Nothing to check on this machine beyond SSH; the machines are checked by `up` (existing:preflight). */
  async preflight(): Promise<DoctorCheck[]> {
    const ssh = await fs.access('/usr/bin/ssh').then(
      () => true,
      () => false,
    );
    return [
      {
        id: 'existing:ssh',
        title:
          'provider existing: OpenSSH client (copies the Kubernetes binaries); each machine is checked over SSH by `halab up` (OS, kernel, free ports, tools, no Kubernetes); the etcd disks are directories there',
        ok: ssh,
        required: false,
        fix: 'apt-get install -y openssh-client',
      },
    ];
  }

  createSteps(_spec: LabSpec): Step<LabContext>[] {
    return [
      {
        id: 'existing:preflight',
        title:
          'Log in to every machine with your key (host key learned on first contact, then pinned), check it (OS, kernel, free ports, tools, no Kubernetes), record what is there, authorise the lab key',
        done: async (lab) => lab.state.spec.hosts.every((h) => existingHost(lab.state, h.name).prepared),
        run: async (lab, t) => {
          existingState(lab.state);
          // every machine is read before any is changed: a refusal leaves them all as they were
          const problems: MachineProblem[] = [];
          await forEachLimit(lab.state.spec.hosts, 7, async (h) => {
            if (existingHost(lab.state, h.name).prepared) return;
            const s = await session(lab, h.name, this.open);
            try {
              const facts = parseFacts((await s.sh(factsScript(h.address, h.role))).stdout);
              problems.push(...machineProblems(facts, h, lab.state.spec, loginOf(lab.state.spec, h.name).port));
            } finally {
              s.close();
            }
          });
          await lab.save();
          if (problems.length) throw refusal(lab, problems);
          await forEachLimit(lab.state.spec.hosts, 7, async (h) => prepareHost(lab, h.name, t, this.open));
        },
      },
      {
        id: 'existing:start',
        title:
          'Start s6 where the machine has none, bring back what `stop` or a power-off left down, plug every cable in',
        run: async (lab, t) => {
          await forEachLimit(lab.state.spec.hosts, 7, async (h) => {
            const rec = existingHost(lab.state, h.name);
            await ensureS6(lab, h.name);
            if (!rec.plugged || !rec.on || rec.frozen) {
              await lab.remote(h.name).exec(cableInScript(lab.state.tag, rec.iface ?? 'eth0'));
              if (rec.frozen) await power(lab, h.name, 'thaw');
            }
            if (rec.downed.length) {
              await lab.remote(h.name).exec(rec.downed.map((s) => `s6-svc -u ${SCAN}/${shq(s)}`).join('\n'));
              t.log(`started again: ${rec.downed.join(', ')}`, { host: h.name });
            }
            Object.assign(rec, { downed: [], on: true, plugged: true, frozen: false });
          });
          await lab.save();
        },
      },
      {
        id: 'existing:ssh',
        title: 'Connect to every machine over SSH as root with the lab key and its pinned host key',
        run: async (lab, t) => {
          let n = 0;
          await forEachLimit(lab.state.spec.hosts, 7, async (h) => {
            await lab.remote(h.name).exec('true', { timeoutMs: 15_000 });
            t.progress(++n, lab.state.spec.hosts.length, h.name);
          });
        },
      },
    ];
  }

  destroy(lab: LabContext, t: { log: (m: string, o?: { level?: 'info' | 'warn' }) => void }): Promise<void> {
    return destroyLab(lab, t, this.open);
  }

  leftovers(lab: LabContext): Promise<string[]> {
    return labLeftovers(lab, this.open);
  }

  power(lab: LabContext, host: string, action: PowerAction) {
    return power(lab, host, action);
  }

  async isPoweredOn(lab: LabContext, host: string): Promise<boolean> {
    return existingHost(lab.state, host).on;
  }

  async hostState(lab: LabContext, host: string): Promise<HostPowerState> {
    const r = existingHost(lab.state, host);
    return { on: r.on, frozen: r.on && r.frozen, plugged: r.plugged };
  }

  /** The lab's services stop (s6 keeps them defined, down); files stay; `up` / `start` bring them back. */
  async stop(lab: LabContext, t: Pick<StepTools, 'log'>): Promise<void> {
    if (!lab.state.provider) return;
    const st = existingState(lab.state);
    await forEachLimit(Object.keys(st.hosts), 7, async (host) => {
      const rec = st.hosts[host]!;
      if (!rec.prepared) return;
      try {
        const out = await lab
          .remote(host)
          .exec(
            [
              `up=""; for s in $(${labServicesScript(lab.state.name)}); do`,
              `  if [ "$(s6-svstat -o wantedup ${SCAN}/$s 2>/dev/null)" = true ]; then up="$up $s"; s6-svc -d ${SCAN}/$s; fi`,
              'done',
              'echo "up=$up"',
            ].join('\n'),
          );
        const up = (/^up=(.*)$/m.exec(out.stdout)?.[1] ?? '').split(/\s+/).filter(Boolean);
        rec.downed = [...new Set([...rec.downed, ...up])];
        t.log(`${host}: stopped ${up.join(', ') || 'nothing (already down)'}`);
      } catch (err) {
        t.log(`${host}: could not stop its services: ${(err as Error).message}`);
      }
    });
    await lab.save();
  }

  async removeHost(_lab: LabContext, host: string): Promise<void> {
    throw new HalabError('NOT_SUPPORTED', `provider existing cannot remove or replace ${host}: the machine is yours`, {
      fix: 'remove the whole lab with `halab down` (it takes back everything it put on the machines)',
    });
  }

  services(lab: LabContext, host: string): ServiceManager {
    return new Supervisor(lab.remote(host));
  }

  drillUnavailable(drill: string): string | undefined {
    return UNAVAILABLE_DRILLS[drill];
  }

  ownInterfaces(): string[] {
    return [];
  }

  /**
   * Copy a directory of the HA Lab cache to the machine (tar over OpenSSH: hundreds of MB) under
   * the lab's own directory there, once per content, and link `hostPath` to it.
   */
  async shareDirectory(lab: LabContext, host: string, localDir_: string, hostPath: string): Promise<void> {
    const cache = cacheRoot();
    if (!localDir_.startsWith(`${cache}/`)) {
      throw new HalabError('NOT_SHAREABLE', `${localDir_} is not in the HA Lab cache (${cache})`, {
        fix: 'put shared artifacts under the cache directory',
      });
    }
    const files = (await fs.readdir(localDir_)).sort();
    const sizes = await Promise.all(files.map(async (f) => `${f}:${(await fs.stat(join(localDir_, f))).size}`));
    const stamp = sizes.join(' ');
    const target = `${storeDir(lab.state.name)}/share/${localDir_.slice(cache.length + 1).replace(/\//g, '_')}`;
    const r = lab.remote(host);
    const have = await r.exec(`cat ${shq(`${target}/.halab-stamp`)} 2>/dev/null`, { allowFail: true });
    if (have.stdout.trim() !== stamp) {
      await copyTree(lab, host, localDir_, target);
      await r.upload(`${target}/.halab-stamp`, `${stamp}\n`, 0o644);
    }
    await r.exec(
      `mkdir -p ${shq(hostPath.replace(/\/[^/]+$/, '') || '/')} && ln -sfn ${shq(target)} ${shq(hostPath)} && test -d ${shq(`${hostPath}/`)}`,
    );
  }
}
