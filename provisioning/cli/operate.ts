// Operating a lab by hand: `halab fault`, `halab service`, `halab heal`, `halab stop`, `halab start`.
import { join } from 'node:path';
import { LabHandle } from '../engine/lab.ts';
import { HalabError } from '../errors.ts';
import { FAULT_ACTIONS, SERVICE_ACTIONS, fault, heal, serviceAction } from '../operate/faults.ts';
import { labDir, readState } from '../state/store.ts';
import type { CommandInput } from './extra.ts';
import { fileLogger, formatError, ndjsonRenderer, tee, ttyRenderer } from './render.ts';

const out = (s = '') => process.stdout.write(`${s}\n`);

/** The lab a command means: --lab, else the only one, else "halab". */
async function labName(input: CommandInput): Promise<string> {
  return input.resolveLab(input.values.lab as string | undefined);
}

async function withLab<T>(input: CommandInput, fn: (lab: LabHandle) => Promise<T>): Promise<T> {
  const lab = await LabHandle.open(await labName(input));
  try {
    return await fn(lab);
  } finally {
    await lab.close();
  }
}

/** `halab fault HOST power-off|power-on|freeze|thaw|unplug|plug [--lab LAB]`. */
export async function faultCommand(input: CommandInput): Promise<number> {
  const [host, action] = input.pos;
  if (!host || !action)
    throw new HalabError('USAGE', 'which host, and which fault?', {
      fix: `halab fault HOST ${FAULT_ACTIONS.join('|')} [--lab LAB]`,
    });
  return withLab(input, async (lab) => {
    const r = await fault(lab, host, action);
    if (input.json) out(JSON.stringify(r));
    else out(r.message);
    return 0;
  });
}

/** `halab service HOST NAME stop|start|kill [--lab LAB]`. */
export async function serviceCommand(input: CommandInput): Promise<number> {
  const [host, name, action] = input.pos;
  if (!host || !name || !action)
    throw new HalabError('USAGE', 'which host, which service, and what to do?', {
      fix: `halab service HOST NAME ${SERVICE_ACTIONS.join('|')} [--lab LAB]  (e.g. halab service lb1 haproxy stop)`,
    });
  return withLab(input, async (lab) => {
    const r = await serviceAction(lab, host, name, action);
    if (input.json) out(JSON.stringify(r));
    else {
      out(r.message);
      if (r.changed) out(`  [${host}]$ ${r.command}`);
    }
    return 0;
  });
}

/** `halab heal [LAB] [--lab LAB]`: put every host and service back, then wait for a healthy lab. */
export async function healCommand(input: CommandInput): Promise<number> {
  const name = await input.resolveLab(input.pos[0] ?? (input.values.lab as string | undefined));
  const lab = await LabHandle.open(name);
  try {
    const did = await heal(lab, (m, h) => {
      if (!input.json) out(`${h ? `${h}: ` : ''}${m}`);
    });
    if (!did.length && !input.json) out('nothing was powered off, frozen, unplugged or stopped');
    const { waitHealthy } = await import('../drills/health.ts');
    const { withDataLoss } = await import('../operate/diagnose.ts');
    if (!input.json) out('waiting for a healthy lab (at most 3 min)…');
    const h = await waitHealthy(lab, { timeoutMs: 180_000, intervalMs: 2000 });
    const bad = h.checks.filter((c) => !c.ok);
    let problems = bad.map((c) => `${c.title}: ${c.observed}`);
    if (!h.ok) {
      // what heal cannot put back, with its fix (a member that lost its data)
      const { controlPlaneStatus } = await import('../engine/cp-status.ts');
      const cp = await withDataLoss(lab, await controlPlaneStatus(lab)).catch(() => undefined);
      if (cp?.problems.length) problems = cp.problems;
    }
    if (input.json) out(JSON.stringify({ did, healthy: h.ok, problems }));
    else if (h.ok) out(`lab ${name} is healthy (${(h.ms / 1000).toFixed(1)} s)`);
    else {
      out(`lab ${name} is not healthy after 3 min:`);
      for (const p of problems) out(`  - ${p}`);
    }
    return h.ok ? 0 : 1;
  } finally {
    await lab.close();
  }
}

/** `halab stop [LAB]`. */
export async function stopCommand(input: CommandInput): Promise<number> {
  const name = await input.resolveLab(input.pos[0] ?? (input.values.lab as string | undefined));
  if (!(await readState(name))) throw new HalabError('NO_LAB', `there is no lab named ${name}`, { fix: 'halab list' });
  const { stop } = await import('../engine/lifecycle.ts');
  const r = tee(input.json ? ndjsonRenderer() : ttyRenderer(), fileLogger(join(labDir(name), 'logs', 'halab.log')));
  const res = await stop(name, { emit: r.emit });
  r.close();
  if (!res.ok) {
    if (res.error) process.stderr.write(formatError(res.error));
    return 1;
  }
  if (!input.json)
    process.stderr.write(
      `lab ${name} stopped: no process of it runs; its state and disks are kept. \`halab start ${name}\` brings it back\n`,
    );
  return 0;
}

/** `halab start [LAB]`: `up` with the lab's recorded spec. */
export async function startCommand(input: CommandInput): Promise<number> {
  const name = await input.resolveLab(input.pos[0] ?? (input.values.lab as string | undefined));
  const state = await readState(name);
  if (!state) throw new HalabError('NO_LAB', `there is no lab named ${name}`, { fix: 'halab list' });
  const { upCommand } = await import('./lab-commands.ts');
  const res = await upCommand(state.spec, {
    json: input.json,
    switchContext: input.values['no-switch-context'] !== true,
    startOf: name,
  });
  if (res.error && res.code !== 130) {
    if (input.json) out(JSON.stringify({ type: 'error', error: res.error }));
    else process.stderr.write(formatError(res.error));
  }
  return res.code;
}
