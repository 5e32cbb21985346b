// `halab add worker|master [NAME]`, `halab remove HOST`, `halab replace HOST`.
import { join } from 'node:path';
import type { ErrorInfo } from '../api/types.ts';
import type { RunResult } from '../engine/runner.ts';
import { HalabError } from '../errors.ts';
import { addHost, checkRemoval, removeHost, replaceHost } from '../operate/membership.ts';
import { labDir, readState } from '../state/store.ts';
import { confirm } from './drill.ts';
import type { CommandInput } from './extra.ts';
import { fileLogger, formatError, ndjsonRenderer, tee, ttyRenderer } from './render.ts';

const err = (s: string) => process.stderr.write(s);

function renderer(input: CommandInput, lab: string) {
  return tee(input.json ? ndjsonRenderer() : ttyRenderer(), fileLogger(join(labDir(lab), 'logs', 'halab.log')));
}

/** Ctrl-C cancels the run cleanly (a second one quits at once). */
function interruptible(): { signal: AbortSignal; done: () => void } {
  const ac = new AbortController();
  let n = 0;
  const onSig = () => {
    n++;
    if (n === 1) {
      err('\ninterrupting: finishing the current command (Ctrl-C again to quit at once)\n');
      ac.abort();
    } else process.exit(130);
  };
  process.on('SIGINT', onSig);
  return { signal: ac.signal, done: () => process.off('SIGINT', onSig) };
}

/** A failure; `changed`: the spec already says what the lab should be (`start` finishes it), else nothing changed. */
function failed(input: CommandInput, e: ErrorInfo | undefined, lab: string, changed: boolean, again: string): number {
  const error = e ?? { code: 'FAILED', message: 'failed' };
  if (input.json) process.stdout.write(`${JSON.stringify({ type: 'error', error })}\n`);
  else
    err(
      formatError({
        ...error,
        fix:
          error.fix ??
          (changed
            ? `\`halab start ${lab}\` finishes it (the lab's recorded spec already says what it should be)`
            : `run \`${again}\` again once that is fixed`),
      }),
    );
  return error.code === 'CANCELLED' ? 130 : 1;
}

async function sure(input: CommandInput, what: string, command: string): Promise<boolean> {
  if (input.values.yes === true) return true;
  if (!process.stdin.isTTY) throw new HalabError('CONFIRM', `${what}: confirm with --yes`, { fix: `${command} --yes` });
  return confirm(`${what}? [y/N] `);
}

/** `halab add worker|master [NAME] [--lab LAB]`. */
export async function addCommand(input: CommandInput): Promise<number> {
  const [role, name] = input.pos;
  if (role !== 'worker' && role !== 'master')
    throw new HalabError('USAGE', 'add a worker or a master', {
      fix: 'halab add worker [NAME] | halab add master [NAME]',
    });
  const lab = await input.resolveLab(input.values.lab as string | undefined);
  const r = renderer(input, lab);
  const c = interruptible();
  try {
    const res = await addHost(lab, role, name, { emit: r.emit, signal: c.signal });
    r.close();
    if (!res.ok) return failed(input, res.error, lab, true, '');
    if (!input.json)
      err(`${res.host.name} (${res.host.role}, ${res.host.address}) is part of lab ${lab}; its spec is updated\n`);
    return 0;
  } finally {
    c.done();
  }
}

function outcome(
  input: CommandInput,
  lab: string,
  r: { removal: RunResult; up?: RunResult },
  done: string,
  again: string,
): number {
  if (!r.removal.ok) return failed(input, r.removal.error, lab, false, again);
  if (!r.up?.ok) return failed(input, r.up?.error, lab, true, again);
  if (!input.json) err(`${done}\n`);
  return 0;
}

/** `halab remove HOST [--lab LAB] [--yes]`. */
export async function removeCommand(input: CommandInput): Promise<number> {
  const host = input.pos[0];
  if (!host) throw new HalabError('USAGE', 'which host?', { fix: 'halab remove HOST [--lab LAB] [--yes]' });
  const lab = await input.resolveLab(input.values.lab as string | undefined);
  // refused before anything is asked or changed (the quorum figures in the message)
  const check = await checkRemoval(lab, host);
  if (check.quorum && !input.json) err(`etcd: ${check.quorum}\n`);
  if (!(await sure(input, `Remove ${host} from lab ${lab}`, `halab remove ${host} --lab ${lab}`))) return 1;
  const r = renderer(input, lab);
  const c = interruptible();
  try {
    const res = await removeHost(lab, host, { emit: r.emit, signal: c.signal });
    r.close();
    return outcome(input, lab, res, `${host} is removed from lab ${lab}; its spec is updated`, `halab remove ${host}`);
  } finally {
    c.done();
  }
}

/** `halab replace HOST [--lab LAB] [--yes]`. */
export async function replaceCommand(input: CommandInput): Promise<number> {
  const host = input.pos[0];
  if (!host) throw new HalabError('USAGE', 'which host?', { fix: 'halab replace HOST [--lab LAB] [--yes]' });
  const lab = await input.resolveLab(input.values.lab as string | undefined);
  const state = await readState(lab);
  const h = state?.spec.hosts.find((x) => x.name === host);
  if (!state || !h)
    throw new HalabError('NO_HOST', `lab ${lab} has no host ${host}`, {
      fix: state ? `hosts: ${state.spec.hosts.map((x) => x.name).join(', ')}` : 'halab list',
    });
  const keeps = h.role === 'master' ? ', keeping its etcd data and snapshot disks' : '';
  if (!(await sure(input, `Replace ${host} of lab ${lab} by a new host${keeps}`, `halab replace ${host} --lab ${lab}`)))
    return 1;
  const r = renderer(input, lab);
  const c = interruptible();
  try {
    const res = await replaceHost(lab, host, { emit: r.emit, signal: c.signal });
    r.close();
    return outcome(
      input,
      lab,
      res,
      `${host} is a new host with the address ${h.address}${keeps ? ` and ${host}'s disks` : ''}`,
      `halab replace ${host}`,
    );
  } finally {
    c.done();
  }
}
