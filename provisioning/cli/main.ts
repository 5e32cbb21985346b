#!/usr/bin/env node
// `halab`: a thin layer from arguments to the engine, and from engine events to the terminal.
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import type { ErrorInfo } from '../api/types.ts';
import { HalabError, toErrorInfo } from '../errors.ts';
import * as engine from '../engine/lab.ts';
import { listLabs, readState, labDir, halabHome } from '../state/store.ts';
import { fileLogger, formatError, ndjsonRenderer, tee, ttyRenderer, secs } from './render.ts';
import { loadSpec, SpecRejected } from './spec-input.ts';
import { formatPlan, planPreview } from '../spec/plan.ts';
import { formatIssues } from '../spec/format.ts';
import { runDoctor, formatDoctor } from './doctor.ts';
import { sshCommand } from './ssh.ts';
import { extraCommands } from './extra.ts';

const HELP = `halab — a real HA Kubernetes lab on this machine, and drills that break it

usage:
  halab doctor [--json]                 check every prerequisite, with the command that fixes it
  halab plan [SPEC] [--json]            validate a lab spec and show hosts, addresses, disks, ports, quorum
  halab up [SPEC] [--json] [--keep]     create the lab (or finish creating it: re-running resumes)
           [--hosts-only]               only the hosts (namespaces, disks, sshd), no Kubernetes
  halab status [LAB] [--json]           hosts, services, restarts
  halab ssh HOST [--lab LAB] [-- CMD]   a shell (or one command) on a lab host, over SSH
  halab down [LAB] [--json]             remove the lab and everything it created
  halab list [--json]                   labs on this machine
${extraCommands.map((c) => `  halab ${c.usage.padEnd(32)}${c.summary}`).join('\n')}

SPEC is a YAML lab spec (see examples/reference-lab.yaml); without one, the built-in reference
lab "halab" is used (2 load balancers, 3 masters, 2 workers in 10.213.0.0/24).
LAB defaults to the only lab on the machine, or "halab".
State lives in ${halabHome()} (set HALAB_HOME to move it).
`;

function fail(err: ErrorInfo, json: boolean, code = 1): never {
  if (json) process.stdout.write(`${JSON.stringify({ type: 'error', error: err })}\n`);
  else process.stderr.write(formatError(err));
  process.exit(code);
}

/** Which lab a command means: the one named, else the only one, else "halab". */
export async function resolveLab(name: string | undefined): Promise<string> {
  if (name) return name;
  const labs = await listLabs();
  if (labs.length === 1) return labs[0]!.name;
  if (labs.length > 1) {
    throw new HalabError('WHICH_LAB', `there are ${labs.length} labs (${labs.map((l) => l.name).join(', ')}): say which one`, {
      fix: `e.g. halab status ${labs[0]!.name}`,
    });
  }
  return 'halab';
}

async function main(argv: string[]): Promise<number> {
  const dashdash = argv.indexOf('--');
  const rest = dashdash >= 0 ? argv.slice(dashdash + 1) : [];
  const args = dashdash >= 0 ? argv.slice(0, dashdash) : argv;
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: false,
    options: {
      json: { type: 'boolean' }, keep: { type: 'boolean' }, 'hosts-only': { type: 'boolean' }, lab: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      yes: { type: 'boolean', short: 'y' }, step: { type: 'boolean' }, out: { type: 'string', short: 'o' },
      port: { type: 'string' }, host: { type: 'string' }, master: { type: 'string' },
    },
  });
  const json = values.json === true;
  const [cmd, ...pos] = positionals;
  if (!cmd || values.help || cmd === 'help') {
    process.stdout.write(HELP);
    return cmd ? 0 : values.help ? 0 : 2;
  }

  switch (cmd) {
    case 'doctor': {
      const checks = await runDoctor();
      if (json) process.stdout.write(`${JSON.stringify(checks, null, 2)}\n`);
      else process.stdout.write(formatDoctor(checks));
      return checks.some((c) => c.required && !c.ok) ? 1 : 0;
    }
    case 'plan': {
      try {
        const { spec, issues } = await loadSpec(pos[0]);
        const preview = planPreview(spec, issues);
        if (json) process.stdout.write(`${JSON.stringify(preview, null, 2)}\n`);
        else process.stdout.write(`${formatPlan(preview)}\n`);
        return 0;
      } catch (err) {
        // a spec with errors still gets its plan drawn (when its shape allows), errors beside the hosts
        if (!(err instanceof SpecRejected) || !err.draft || json) throw err;
        process.stdout.write(`${formatPlan(planPreview(err.draft, err.issues))}\n`);
        process.stderr.write(`${err.message}\n`);
        return 2;
      }
    }
    case 'up': {
      const { spec, issues } = await loadSpec(pos[0]);
      const warnings = issues.filter((i) => i.severity === 'warning');
      if (warnings.length && !json) process.stderr.write(`${formatIssues(warnings)}\n`);
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
      const r = tee(json ? ndjsonRenderer() : ttyRenderer(), fileLogger(join(labDir(spec.name), 'logs', 'halab.log')));
      const res = await engine.up(spec, { emit: r.emit, signal: ac.signal, keepOnFailure: values.keep === true, hostsOnly: values['hosts-only'] === true });
      r.close();
      if (res.ok) {
        if (!json) process.stderr.write(`lab ${spec.name} is ready: \`halab status\`, \`halab ssh m1\`, \`halab down\`\n`);
        return 0;
      }
      if (res.cancelled) {
        if (!json) process.stderr.write(`interrupted: run \`halab up${pos[0] ? ` ${pos[0]}` : ''}\` to resume, or \`halab down ${spec.name}\` to remove it\n`);
        return 130;
      }
      fail(res.error!, json);
    }
    case 'down': {
      const name = await resolveLab(pos[0] ?? (values.lab as string | undefined));
      if (!(await readState(name))) fail({ code: 'NO_LAB', message: `there is no lab named ${name}`, fix: 'see `halab list`' }, json);
      const r = json ? ndjsonRenderer() : ttyRenderer();
      const res = await engine.down(name, { emit: r.emit });
      r.close();
      if (!res.ok) fail(res.error!, json);
      if (!json) process.stderr.write(`lab ${name} removed: nothing of it is left on this machine\n`);
      return 0;
    }
    case 'status': {
      const name = await resolveLab(pos[0] ?? (values.lab as string | undefined));
      const st = await engine.status(name);
      if (json) {
        process.stdout.write(`${JSON.stringify(st, null, 2)}\n`);
        return 0;
      }
      const { formatStatus } = await import('./status.ts');
      process.stdout.write(formatStatus(st));
      return 0;
    }
    case 'list': {
      const labs = await listLabs();
      if (json) process.stdout.write(`${JSON.stringify(labs, null, 2)}\n`);
      else if (!labs.length) process.stdout.write('no labs (create one with `halab up`)\n');
      else {
        process.stdout.write(`${'NAME'.padEnd(22)}${'PHASE'.padEnd(13)}${'PROVIDER'.padEnd(10)}${'SUBNET'.padEnd(18)}HOSTS\n`);
        for (const l of labs) process.stdout.write(`${l.name.padEnd(22)}${l.phase.padEnd(13)}${l.provider.padEnd(10)}${l.subnet.padEnd(18)}${l.hosts}\n`);
      }
      return 0;
    }
    case 'ssh': {
      const host = pos[0];
      if (!host) fail({ code: 'USAGE', message: 'which host?', fix: 'halab ssh m1 [-- command]' }, json, 2);
      const name = await resolveLab(values.lab as string | undefined);
      return sshCommand(name, host, rest);
    }
    default: {
      const extra = extraCommands.find((c) => c.name === cmd);
      if (extra) return extra.run({ pos, values, rest, json, resolveLab });
      fail({ code: 'USAGE', message: `unknown command "${cmd}"`, fix: 'see `halab --help`' }, json, 2);
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    const json = process.argv.includes('--json');
    if (err instanceof SpecRejected) {
      if (json) process.stdout.write(`${JSON.stringify({ type: 'error', error: { code: 'SPEC_INVALID', message: err.message }, issues: err.issues })}\n`);
      else process.stderr.write(`${err.format()}\n`);
      process.exit(2);
    }
    if (process.env.HALAB_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    fail(toErrorInfo(err), json);
  },
);

export { secs };
