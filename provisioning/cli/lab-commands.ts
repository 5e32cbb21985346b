// `halab up` and `halab down` with their terminal output, and the kubectl context they add and
// remove in the default kubeconfig. `halab quickstart` (npm start) runs the same `up`.
import { join } from 'node:path';
import type { ErrorInfo, LabSpec } from '../api/types.ts';
import * as engine from '../engine/lab.ts';
import { toErrorInfo } from '../errors.ts';
import { addLabContext, removeLabContext, type MergeResult } from '../k8s/kubeconfig.ts';
import { labDir, readState } from '../state/store.ts';
import { fileLogger, formatError, ndjsonRenderer, tee, ttyRenderer } from './render.ts';

export interface UpCommandOptions {
  json: boolean;
  keep?: boolean;
  hostsOnly?: boolean;
  /** Make the lab's context current in the default kubeconfig (default true). */
  switchContext?: boolean;
  /** The SPEC argument as the user gave it (for the resume hint). */
  specArg?: string;
  /** Run by `halab start LAB` (the resume hint says so). */
  startOf?: string;
}

/** What `up` ended with: the exit code, the error when it failed, the kubectl context when added. */
export interface UpOutcome {
  code: number;
  error?: ErrorInfo;
  /** The title of the step that failed, when one did. */
  failedStep?: string;
  context?: MergeResult;
}

/**
 * Add (or refresh) the context `halab-<lab>` in the default kubeconfig from the lab's admin
 * kubeconfig. A lab without one (hosts only) gets none. A kubeconfig that cannot be updated is a
 * warning on stderr, never a failure of the lab: the lab is fine, and `halab kubeconfig -o FILE`
 * still works.
 */
export async function addContext(
  lab: string,
  o: { switchContext?: boolean; quiet?: boolean } = {},
): Promise<MergeResult | undefined> {
  try {
    const r = await addLabContext(lab, labDir(lab), { switchContext: o.switchContext });
    if (!r) return undefined;
    if (!o.quiet)
      process.stderr.write(
        `kubectl context ${r.context}${r.current ? ' (current)' : ''} in ${r.path}: kubectl get nodes${r.current ? '' : ` --context ${r.context}`}\n`,
      );
    return r;
  } catch (err) {
    const e = toErrorInfo(err);
    process.stderr.write(
      formatError({
        ...e,
        message: `the lab is ready, but its kubectl context was not added: ${e.message}`,
        fix: `${e.fix ?? ''}${e.fix ? '; or ' : ''}use a separate file: halab kubeconfig ${lab} -o FILE`,
      }),
    );
    return undefined;
  }
}

/**
 * `halab up`: create or finish the lab of `spec`, rendering the engine's events (NDJSON with
 * `json`), with Ctrl-C as a clean cancel (a second one quits at once); on success, the kubectl
 * context. Never throws for a failed run: the outcome carries its error.
 */
export async function upCommand(spec: LabSpec, o: UpCommandOptions): Promise<UpOutcome> {
  const ac = new AbortController();
  let interrupts = 0;
  const onSig = () => {
    interrupts++;
    if (interrupts === 1) {
      process.stderr.write('\ninterrupting: finishing the current command (Ctrl-C again to quit at once)\n');
      ac.abort();
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  try {
    const r = tee(o.json ? ndjsonRenderer() : ttyRenderer(), fileLogger(join(labDir(spec.name), 'logs', 'halab.log')));
    const titles = new Map<string, string>();
    let failedStep: string | undefined;
    const res = await engine.up(spec, {
      emit: (e) => {
        if (e.type === 'step:start') titles.set(e.stepId, e.title);
        if (e.type === 'step:end' && e.status === 'failed') failedStep ??= titles.get(e.stepId) ?? e.stepId;
        r.emit(e);
      },
      signal: ac.signal,
      keepOnFailure: o.keep === true,
      hostsOnly: o.hostsOnly === true,
    });
    r.close();
    if (res.ok) {
      if (!o.json)
        process.stderr.write(`lab ${spec.name} is ready: \`halab status\`, \`halab ssh m1\`, \`halab down\`\n`);
      const context = await addContext(spec.name, { switchContext: o.switchContext });
      return { code: 0, context };
    }
    if (res.cancelled) {
      if (!o.json)
        process.stderr.write(
          `interrupted: run \`${o.startOf ? `halab start ${o.startOf}` : `halab up${o.specArg ? ` ${o.specArg}` : ''}`}\` to resume, or \`halab down ${spec.name}\` to remove it\n`,
        );
      return { code: 130, error: res.error };
    }
    return {
      code: 1,
      error: res.error ?? { code: 'UP_FAILED', message: `up of ${spec.name} failed` },
      failedStep,
    };
  } finally {
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
  }
}

/**
 * `halab down LAB`: remove the lab, then its kubectl context (and current-context when it was
 * that one). Returns the exit code, with the error when it failed.
 */
export async function downCommand(name: string, o: { json: boolean }): Promise<UpOutcome> {
  if (!(await readState(name)))
    return { code: 1, error: { code: 'NO_LAB', message: `there is no lab named ${name}`, fix: 'see `halab list`' } };
  const r = o.json ? ndjsonRenderer() : ttyRenderer();
  const res = await engine.down(name, { emit: r.emit });
  r.close();
  if (!res.ok) return { code: 1, error: res.error };
  if (!o.json) process.stderr.write(`lab ${name} removed: nothing of it is left on this machine\n`);
  try {
    const k = await removeLabContext(name);
    if (k.removed && !o.json)
      process.stderr.write(
        `kubectl context ${k.context} removed from ${k.path}${k.wasCurrent ? ' (it was current: pick another with `kubectl config use-context`)' : ''}\n`,
      );
  } catch (err) {
    process.stderr.write(
      formatError({ ...toErrorInfo(err), message: `kubectl context not removed: ${toErrorInfo(err).message}` }),
    );
  }
  return { code: 0 };
}
