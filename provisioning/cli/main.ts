#!/usr/bin/env node
// `halab`: a thin layer from arguments to the engine, and from engine events to the terminal.
// Each command imports what it needs when it runs (`await import`), so `halab --help` and the
// light commands do not load the engine, ssh2 and the rest (the bundle in dist/cli keeps that:
// build/build-cli.ts splits it at these imports).
import { parseArgs } from 'node:util';
import type { ErrorInfo } from '../api/types.ts';
import { HalabError, toErrorInfo } from '../errors.ts';
import { listLabs, halabHome } from '../state/store.ts';
import { formatError, secs } from './render.ts';
import { extraCommands } from './extra.ts';

const HELP = `halab — a real HA Kubernetes lab on this machine, and drills that break it

usage:
  halab doctor [--json]                 check every prerequisite, with the command that fixes it
  halab plan [SPEC] [--json]            validate a lab spec and show hosts, addresses, disks, ports, quorum
  halab up [SPEC] [--json] [--keep]     create the lab (or finish creating it: re-running resumes)
           [--hosts-only]               only the hosts (namespaces, disks, sshd), no Kubernetes
           [--no-switch-context]        add the kubectl context halab-LAB but keep the current one
  halab status [LAB] [--json]           hosts, services, restarts
  halab ssh HOST [--lab LAB] [-- CMD]   a shell (or one command) on a lab host, over SSH
  halab down [LAB] [--json]             remove the lab and everything it created (and its kubectl context)
  halab list [--json]                   labs on this machine
${extraCommands.map((c) => `  halab ${c.usage.padEnd(32)}${c.summary}`).join('\n')}

SPEC is a YAML lab spec (see examples/reference-lab.yaml); without one, the built-in reference
lab "halab" is used (2 load balancers, 3 masters, 2 workers in 10.213.0.0/24).
LAB defaults to the only lab on the machine, or "halab".
\`up\` adds the context halab-LAB to the default kubeconfig ($KUBECONFIG, else ~/.kube/config)
and makes it current; \`down\` removes it.
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
    throw new HalabError(
      'WHICH_LAB',
      `there are ${labs.length} labs (${labs.map((l) => l.name).join(', ')}): say which one`,
      {
        fix: `e.g. halab status ${labs[0]!.name}`,
      },
    );
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
      json: { type: 'boolean' },
      keep: { type: 'boolean' },
      'hosts-only': { type: 'boolean' },
      'no-switch-context': { type: 'boolean' },
      lab: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      yes: { type: 'boolean', short: 'y' },
      step: { type: 'boolean' },
      out: { type: 'string', short: 'o' },
      port: { type: 'string' },
      host: { type: 'string' },
      master: { type: 'string' },
      snapshot: { type: 'string' },
      from: { type: 'string' },
      duration: { type: 'string' },
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
      const { runDoctor, formatDoctor } = await import('./doctor.ts');
      const checks = await runDoctor();
      if (json) process.stdout.write(`${JSON.stringify(checks, null, 2)}\n`);
      else process.stdout.write(formatDoctor(checks));
      return checks.some((c) => c.required && !c.ok) ? 1 : 0;
    }
    case 'plan': {
      const [{ loadSpec, SpecRejected }, { formatPlan, planPreview }] = await Promise.all([
        import('./spec-input.ts'),
        import('../spec/plan.ts'),
      ]);
      try {
        const { spec, issues, binaries } = await loadSpec(pos[0]);
        const preview = planPreview(spec, issues, { binaries });
        const { labPlan } = await import('../engine/plan.ts');
        const steps = labPlan(spec).map((s) => ({ id: s.id, title: s.title }));
        if (json) process.stdout.write(`${JSON.stringify({ ...preview, steps }, null, 2)}\n`);
        else {
          process.stdout.write(`${formatPlan(preview)}\n`);
          process.stdout.write(
            `\nWhat \`halab up\` does (bootstrap ${spec.bootstrap}), in order:\n${steps.map((s, i) => `  ${String(i + 1).padStart(2)}. ${s.title}`).join('\n')}\n`,
          );
        }
        return 0;
      } catch (err) {
        // a spec with errors still gets its plan drawn (when its shape allows), errors beside the hosts
        if (!(err instanceof SpecRejected) || !err.draft || json) throw err;
        process.stdout.write(`${formatPlan(planPreview(err.draft, err.issues, { binaries: err.binaries }))}\n`);
        process.stderr.write(`${err.message}\n`);
        return 2;
      }
    }
    case 'up': {
      const [{ loadSpec }, { formatIssues }, { upCommand }] = await Promise.all([
        import('./spec-input.ts'),
        import('../spec/format.ts'),
        import('./lab-commands.ts'),
      ]);
      const { spec, issues } = await loadSpec(pos[0]);
      const warnings = issues.filter((i) => i.severity === 'warning');
      if (warnings.length && !json) process.stderr.write(`${formatIssues(warnings)}\n`);
      const res = await upCommand(spec, {
        json,
        keep: values.keep === true,
        hostsOnly: values['hosts-only'] === true,
        switchContext: values['no-switch-context'] !== true,
        specArg: pos[0],
      });
      if (res.error && res.code !== 130) fail(res.error, json);
      return res.code;
    }
    case 'down': {
      const name = await resolveLab(pos[0] ?? (values.lab as string | undefined));
      const { downCommand } = await import('./lab-commands.ts');
      const res = await downCommand(name, { json });
      if (res.error) fail(res.error, json);
      return res.code;
    }
    case 'status': {
      const name = await resolveLab(pos[0] ?? (values.lab as string | undefined));
      const { status } = await import('../engine/status.ts');
      const st = await status(name);
      if (json) {
        process.stdout.write(`${JSON.stringify(st, null, 2)}\n`);
        return 0;
      }
      const { formatStatus } = await import('./status.ts');
      process.stdout.write(formatStatus(st));
      return 0;
    }
    case 'list': {
      // running / stopped is looked at, not recorded: a reboot of this machine stops a "ready" lab
      const { listLabsRunning } = await import('../engine/lifecycle.ts');
      const labs = await listLabsRunning();
      if (json) process.stdout.write(`${JSON.stringify(labs, null, 2)}\n`);
      else if (!labs.length) process.stdout.write('no labs (create one with `halab up`)\n');
      else {
        process.stdout.write(
          `${'NAME'.padEnd(22)}${'STATE'.padEnd(10)}${'PHASE'.padEnd(13)}${'PROVIDER'.padEnd(10)}${'SUBNET'.padEnd(18)}HOSTS\n`,
        );
        for (const l of labs)
          process.stdout.write(
            `${l.name.padEnd(22)}${(l.running ? 'running' : 'stopped').padEnd(10)}${l.phase.padEnd(13)}${l.provider.padEnd(10)}${l.subnet.padEnd(18)}${l.hosts}\n`,
          );
      }
      return 0;
    }
    case 'ssh': {
      const host = pos[0];
      if (!host) fail({ code: 'USAGE', message: 'which host?', fix: 'halab ssh m1 [-- command]' }, json, 2);
      const name = await resolveLab(values.lab as string | undefined);
      const { sshCommand } = await import('./ssh.ts');
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
  async (err) => {
    const json = process.argv.includes('--json');
    const { SpecRejected } = await import('./spec-input.ts');
    if (err instanceof SpecRejected) {
      if (json)
        process.stdout.write(
          `${JSON.stringify({ type: 'error', error: { code: 'SPEC_INVALID', message: err.message }, issues: err.issues })}\n`,
        );
      else process.stderr.write(`${err.format()}\n`);
      process.exit(2);
    }
    if (process.env.HALAB_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    fail(toErrorInfo(err), json);
  },
);

export { secs };
