// `halab quickstart [SPEC] [--port N] [--json]`: what `npm start` runs once the set-up is in place.
// Creates the lab (the built-in reference lab without SPEC) on its default bootstrap and provider,
// or reuses it when it is already ready; adds its kubectl context; serves the UI (and opens the
// Electron window where the Electron binary and a display are available); prints the context and
// the UI's URL; serves until Ctrl-C. The lab keeps running afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabSpec } from '../api/types.ts';
import { LabHandle } from '../engine/lab.ts';
import { HalabError } from '../errors.ts';
import type { MergeResult } from '../k8s/kubeconfig.ts';
import { kubectl } from '../k8s/kubectl.ts';
import { formatIssues } from '../spec/format.ts';
import { readState } from '../state/store.ts';
import type { CommandInput } from './extra.ts';
import { addContext, upCommand } from './lab-commands.ts';
import { loadSpec } from './spec-input.ts';
import { interrupted, parsePort, serveUi } from './ui.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Whether lab `name` can be used as it is: recorded as ready, every host powered on, and the API
 * answering /readyz through the VIP. Anything else (no lab, a failed or half-built one, a host
 * off, the API down) means `up` has work to do.
 */
export async function labIsReady(name: string): Promise<boolean> {
  const state = await readState(name);
  if (!state || state.phase !== 'ready') return false;
  const lab = await LabHandle.open(name);
  try {
    for (const h of state.spec.hosts) if (!(await lab.provider.isPoweredOn(lab, h.name))) return false;
    const r = await kubectl(lab, ['get', '--raw', '/readyz'], { allowFail: true });
    return r.exitCode === 0 && r.stdout.trim() === 'ok';
  } finally {
    await lab.close();
  }
}

/** The Electron binary of node_modules/electron, when it was downloaded (the set-up skips it). */
export function electronBinary(): string | undefined {
  const pkg = join(ROOT, 'node_modules', 'electron');
  try {
    const bin = join(pkg, 'dist', readFileSync(join(pkg, 'path.txt'), 'utf8').trim());
    return existsSync(bin) ? bin : undefined;
  } catch {
    return undefined;
  }
}

/** Open the desktop app's window (its own engine service) when Electron, its build and a display are there. */
function openWindow(): ChildProcess | undefined {
  const bin = electronBinary();
  if (!bin || !(process.env.DISPLAY || process.env.WAYLAND_DISPLAY)) return undefined;
  if (!existsSync(join(ROOT, 'dist-electron', 'main.mjs'))) return undefined;
  const args = process.getuid?.() === 0 ? ['--no-sandbox', ROOT] : [ROOT];
  const child = spawn(bin, args, { stdio: 'ignore', detached: false });
  child.on('error', () => undefined);
  return child;
}

/** `halab quickstart`: see the file's comment. Exit codes: 0 after Ctrl-C, 1 when a step fails, 130 when `up` is interrupted. */
export async function quickstartCommand(input: CommandInput): Promise<number> {
  const port = parsePort(input.values.port);
  const say = (s: string) => {
    if (!input.json) process.stderr.write(`${s}\n`);
  };
  const { spec, issues } = await loadSpec(input.pos[0]);
  const warnings = issues.filter((i) => i.severity === 'warning');
  if (warnings.length && !input.json) process.stderr.write(`${formatIssues(warnings)}\n`);

  const reused = await labIsReady(spec.name).catch(() => false);
  let context: MergeResult | undefined;
  if (reused) {
    say(
      `== lab ${spec.name}: already ready, reusing it (\`halab up\` repairs a broken lab, \`halab down\` removes it)`,
    );
    context = await addContext(spec.name, { quiet: true });
  } else {
    say(
      `== lab ${spec.name}: ${(await readState(spec.name)) ? 'finishing it' : 'creating it'} (${spec.bootstrap} bootstrap, ${spec.provider} provider, ${spec.subnet})`,
    );
    const res = await upCommand(spec, { json: false, specArg: input.pos[0] });
    if (res.code !== 0) {
      if (res.code === 130) return 130;
      const at = res.failedStep ? ` at step "${res.failedStep}"` : '';
      throw new HalabError(
        res.error?.code ?? 'UP_FAILED',
        `creating lab ${spec.name} failed${at}: ${res.error?.message ?? ''}`,
        {
          details: res.error?.details,
          fix:
            res.error?.fix ??
            `see ${join('<state>', 'labs', spec.name, 'logs', 'halab.log')}, then run \`npm start\` again`,
        },
      );
    }
    context = res.context;
  }

  say('== UI');
  const ui = await serveUi(port, (l) => say(l));
  const window = openWindow();
  printSummary(spec, ui.url, context, reused, !!window, input.json);
  await interrupted();
  say('stopping the UI (the lab keeps running: `bin/halab down` removes it)');
  window?.kill();
  await ui.stop();
  return 0;
}

/** " (N s after npm start)" when scripts/start.sh recorded its start (HALAB_START_T0, ns since the epoch). */
function sinceStart(): string {
  const t0 = Number(process.env.HALAB_START_T0);
  return t0 > 0 ? ` (${((Date.now() - t0 / 1e6) / 1000).toFixed(1)} s after npm start)` : '';
}

function printSummary(
  spec: LabSpec,
  url: string,
  context: MergeResult | undefined,
  reused: boolean,
  window: boolean,
  json: boolean,
): void {
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ lab: spec.name, reused, context: context?.context, kubeconfig: context?.path, current: context?.current, url, window })}\n`,
    );
    return;
  }
  const kc = context
    ? `context ${context.context}${context.current ? ' (current)' : ''} in ${context.path}: kubectl get nodes`
    : `not added (see above): halab kubeconfig ${spec.name} -o FILE`;
  process.stdout.write(
    [
      '',
      `HA Lab is ready${sinceStart()}`,
      `  lab       ${spec.name} (${spec.subnet}), API https://${spec.vip}:6443 through the VIP`,
      `  kubectl   ${kc}`,
      `  UI        ${url}${window ? '  (and the desktop window)' : ''}`,
      '',
      'Ctrl-C stops the UI; the lab keeps running (`bin/halab status`, `bin/halab down`).',
      '',
    ].join('\n'),
  );
}
