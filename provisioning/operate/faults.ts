// Faults by hand: what the drills do to a host or a service, one action at a time, for a person
// who wants to break the lab themselves (`halab fault`, `halab service`, `halab heal`, the app's
// host panel). Every action first looks at the host: one that is already in the asked state is
// said so and left alone. Every change is recorded (actions.ts), so `halab watch` and the app's
// live chart mark it on their timeline.
import { COMPONENTS, type Component, type ComponentAction } from '../bootstraps/types.ts';
import type { LabContext } from '../engine/context.ts';
import { HalabError } from '../errors.ts';
import { hostProblem } from '../hosts/host-errors.ts';
import { STATUS_TIMEOUT_MS } from '../hosts/supervisor.ts';
import type { PowerAction } from '../providers/types.ts';
import { recordAction } from './actions.ts';

export const FAULT_ACTIONS = ['power-off', 'power-on', 'freeze', 'thaw', 'unplug', 'plug'] as const;
export type FaultAction = (typeof FAULT_ACTIONS)[number];
export const SERVICE_ACTIONS = ['stop', 'start', 'kill'] as const satisfies readonly ComponentAction[];

/** The provider's power action of each fault, and whether it breaks (fault) or puts back (recovery). */
const FAULTS: Record<FaultAction, { power: PowerAction; kind: 'fault' | 'recovery'; what: string }> = {
  'power-off': { power: 'off', kind: 'fault', what: 'every process of the host dies at once (a pulled power cord)' },
  'power-on': { power: 'on', kind: 'recovery', what: 'the host boots: its services start, its cable is plugged in' },
  freeze: { power: 'freeze', kind: 'fault', what: 'every process of the host stops (SIGSTOP): alive, but silent' },
  thaw: { power: 'thaw', kind: 'recovery', what: 'every process of the host continues (SIGCONT)' },
  unplug: { power: 'link-down', kind: 'fault', what: "the host's network cable is pulled: it runs, alone" },
  plug: { power: 'link-up', kind: 'recovery', what: "the host's network cable is plugged in again" },
};

/** What an action did: changed nothing (already so) or changed it, in one sentence. */
export interface ActionOutcome {
  changed: boolean;
  message: string;
}

function hostOf(lab: LabContext, host: string) {
  const h = lab.state.spec.hosts.find((x) => x.name === host);
  if (!h)
    throw new HalabError('NO_HOST', `lab ${lab.state.name} has no host ${host}`, {
      fix: `hosts: ${lab.state.spec.hosts.map((x) => x.name).join(', ')}`,
    });
  return h;
}

/** Why `action` would change nothing on a host in state `st` (undefined: it would change something). Pure. */
export function alreadyThere(
  action: FaultAction,
  host: string,
  st: { on: boolean; frozen: boolean; plugged: boolean },
): string | undefined {
  switch (action) {
    case 'power-off':
      return st.on ? undefined : `${host} is already powered off`;
    case 'power-on':
      return st.on ? `${host} is already powered on${st.frozen ? ' (frozen: `thaw` it)' : ''}` : undefined;
    case 'freeze':
      if (!st.on) return `${host} is powered off: there is nothing to freeze`;
      return st.frozen ? `${host} is already frozen` : undefined;
    case 'thaw':
      if (!st.on) return `${host} is powered off: there is nothing to thaw`;
      return st.frozen ? undefined : `${host} is not frozen`;
    case 'unplug':
      return st.plugged ? undefined : `${host}'s cable is already unplugged`;
    case 'plug':
      return st.plugged ? `${host}'s cable is already plugged in` : undefined;
  }
}

/** One power, freeze or cable fault on one host (see the file's header). Errors: NO_HOST, BAD_ACTION. */
export async function fault(lab: LabContext, host: string, action: string): Promise<ActionOutcome> {
  hostOf(lab, host);
  if (!(FAULT_ACTIONS as readonly string[]).includes(action))
    throw new HalabError('BAD_ACTION', `"${action}" is not a fault`, { fix: `faults: ${FAULT_ACTIONS.join(', ')}` });
  const a = action as FaultAction;
  const st = await lab.provider.hostState(lab, host);
  const already = alreadyThere(a, host, st);
  if (already) return { changed: false, message: `${already}: nothing changed` };
  const f = FAULTS[a];
  const t = Date.now();
  await lab.provider.power(lab, host, f.power);
  await recordAction(lab.dir, { t, kind: f.kind, label: `${host}: ${a}`, host, command: `halab fault ${host} ${a}` });
  return { changed: true, message: `${host}: ${a} (${f.what})` };
}

/** The components a host of this lab runs, in the bootstrap's names. */
export function hostComponents(lab: LabContext, host: string): Component[] {
  return lab.bootstrap.components.components(hostOf(lab, host).role);
}

/**
 * Stop, start or kill one component on one host the way the lab's bootstrap runs it (an s6
 * service, or a static pod by its manifest on kubeadm). Errors: NO_HOST, NO_COMPONENT,
 * BAD_ACTION, HOST_DOWN.
 */
export async function serviceAction(
  lab: LabContext,
  host: string,
  name: string,
  action: string,
): Promise<ActionOutcome & { command: string }> {
  const mine = hostComponents(lab, host);
  if (!(COMPONENTS as readonly string[]).includes(name) || !mine.includes(name as Component))
    throw new HalabError('NO_COMPONENT', `${host} runs no ${name}`, { fix: `${host} runs: ${mine.join(', ')}` });
  if (!(SERVICE_ACTIONS as readonly string[]).includes(action))
    throw new HalabError('BAD_ACTION', `"${action}" is not a service action`, {
      fix: `actions: ${SERVICE_ACTIONS.join(', ')}`,
    });
  const c = name as Component;
  const act = action as ComponentAction;
  const st = await lab.provider.hostState(lab, host);
  if (!st.on || st.frozen)
    throw new HalabError('HOST_DOWN', `${host} is ${st.on ? 'frozen' : 'powered off'}: its services cannot be asked`, {
      fix: `halab fault ${host} ${st.on ? 'thaw' : 'power-on'}`,
    });
  const comps = lab.bootstrap.components;
  const command = comps.command(lab, host, c, act);
  let now: { up: boolean };
  try {
    now = await comps.status(lab, host, c);
  } catch (err) {
    throw new HalabError('HOST_DOWN', hostProblem(host, err, { timeoutMs: STATUS_TIMEOUT_MS, what: `reading ${c}` }));
  }
  if (act === 'start' && now.up) return { changed: false, message: `${c} on ${host} is already running`, command };
  if (act !== 'start' && !now.up)
    return {
      changed: false,
      message: `${c} on ${host} is already down${act === 'kill' ? ': there is nothing to kill' : ''}`,
      command,
    };
  const t = Date.now();
  await comps.control(lab, host, c, act);
  await recordAction(lab.dir, {
    t,
    kind: act === 'start' ? 'recovery' : 'fault',
    label: `${host}: ${c} ${act}`,
    host,
    command: `halab service ${host} ${c} ${act}`,
  });
  const what =
    act === 'kill'
      ? 'killed (SIGKILL) and kept down, like a crash nobody restarts'
      : act === 'stop'
        ? 'stopped'
        : 'started';
  return { changed: true, message: `${c} on ${host}: ${what}`, command };
}

/**
 * Put back every fault there is: power on every host that is off, thaw the frozen ones, plug
 * every cable in, then start every component that is down (and any other service of a host's
 * service manager). Returns what it did, one line each (empty: nothing was broken). It does not
 * repair lost data: that is what diagnose.ts names.
 */
export async function heal(lab: LabContext, log: (m: string, host?: string) => void = () => {}): Promise<string[]> {
  const did: string[] = [];
  const note = (m: string, host: string) => {
    did.push(`${host}: ${m}`);
    log(m, host);
  };
  for (const h of lab.state.spec.hosts) {
    const st = await lab.provider.hostState(lab, h.name);
    if (!st.on) {
      await lab.provider.power(lab, h.name, 'on');
      note('powered on', h.name);
      continue;
    }
    if (st.frozen) {
      await lab.provider.power(lab, h.name, 'thaw');
      note('thawed', h.name);
    }
    if (!st.plugged) {
      await lab.provider.power(lab, h.name, 'link-up');
      note('cable plugged in', h.name);
    }
  }
  const comps = lab.bootstrap.components;
  await Promise.all(
    lab.state.spec.hosts.map(async (h) => {
      try {
        const services = lab.services(h.name);
        for (const s of await services.status()) {
          if (s.up || (COMPONENTS as readonly string[]).includes(s.name)) continue;
          await services.start(s.name);
          note(`${s.name} started`, h.name);
        }
        for (const c of comps.components(h.role)) {
          if (c === 'etcd-snapshot' && lab.state.spec.snapshots.intervalS === 0) continue;
          try {
            if ((await comps.status(lab, h.name, c)).up) continue;
            await comps.control(lab, h.name, c, 'start');
            note(`${c} started`, h.name);
          } catch (err) {
            log(
              `cannot start ${c}: ${hostProblem(h.name, err, { timeoutMs: STATUS_TIMEOUT_MS, what: `starting ${c}` })}`,
              h.name,
            );
          }
        }
      } catch (err) {
        log(`cannot put its services back: ${hostProblem(h.name, err, { timeoutMs: STATUS_TIMEOUT_MS })}`, h.name);
      }
    }),
  );
  await recordAction(lab.dir, {
    kind: 'recovery',
    label: did.length ? `heal: ${did.join('; ')}` : 'heal: nothing to put back',
    command: 'halab heal',
  });
  return did;
}
