// `halab drill list | run NAME | report [RUN]`: the drills from the terminal.
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { DrillName, type DrillEvent, type DrillResult, type Prediction } from '../api/drills.ts';
import { LabHandle } from '../engine/lab.ts';
import { HalabError } from '../errors.ts';
import { findDrill, listDrills, listReports, readReport, runDrill } from '../drills/index.ts';
import { fmtValue, REPORT_FILES } from '../drills/report.ts';
import type { CommandInput } from './extra.ts';

const tty = !!process.stdout.isTTY && !process.env.NO_COLOR;
const k = {
  green: (s: string) => (tty ? `\x1b[32m${s}\x1b[0m` : s),
  red: (s: string) => (tty ? `\x1b[31m${s}\x1b[0m` : s),
  yellow: (s: string) => (tty ? `\x1b[33m${s}\x1b[0m` : s),
  dim: (s: string) => (tty ? `\x1b[2m${s}\x1b[0m` : s),
  bold: (s: string) => (tty ? `\x1b[1m${s}\x1b[0m` : s),
};

const out = (s = '') => process.stdout.write(`${s}\n`);

function wrap(text: string, width = 96, indent = '  '): string {
  const words = text.split(/\s+/);
  const lines: string[] = [];
  let cur = '';
  for (const w of words) {
    if (cur && cur.length + 1 + w.length > width) {
      lines.push(cur);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) lines.push(cur);
  return lines.map((l) => indent + l).join('\n');
}

function predictionLine(p: Prediction): string {
  const v =
    p.min !== undefined ? `${fmtValue(p.min, p.unit)} – ${fmtValue(p.value, p.unit)}` : fmtValue(p.value, p.unit);
  return `  ${p.label}: ${k.bold(v)} ${k.dim(`(+${fmtValue(p.margin, p.unit)} margin)`)}\n${k.dim(wrap(p.formula, 92, '      '))}`;
}

/** Human rendering of the events (stdout). */
export function humanRenderer(startAt: number) {
  const rel = (t: number) => k.dim(`${((t - startAt) / 1000).toFixed(1).padStart(6)} s`);
  let reads = 0;
  let writes = 0;
  let badR = 0;
  let badW = 0;
  let unknown = 0;
  return (e: DrillEvent) => {
    switch (e.type) {
      case 'drill:step':
        if (e.status === 'start') {
          out(`\n${rel(e.at)} ${k.bold(`▶ [${e.phase}] ${e.title}`)}`);
          if (e.text) out(k.dim(wrap(e.text, 92, '           ')));
        } else if (e.status === 'failed') out(`${rel(e.at)} ${k.red(`✗ ${e.title}: ${e.text ?? ''}`)}`);
        else if (e.status === 'waiting') {
          out(`\n${k.bold(`Next: [${e.phase}] ${e.title}`)}`);
          if (e.text) out(wrap(e.text));
        }
        break;
      case 'drill:log':
        out(`${rel(e.at)}   ${e.host ? `${e.host}: ` : ''}${e.message}`);
        break;
      case 'drill:mark':
        out(
          `${rel(e.mark.t)}   ${e.mark.kind === 'fault' ? k.red('⚡') : e.mark.kind === 'recovery' ? k.green('↺') : '•'} ${e.mark.label}${reads ? k.dim(`  (probe so far: ${reads} reads, ${badR} failed; ${writes} writes, ${badW} failed, ${unknown} unknown)`) : ''}`,
        );
        break;
      case 'drill:command':
        out(`${k.dim('           $')} ${k.dim(`[${e.host}]`)} ${e.command.split('\n').join(`\n${' '.repeat(13)}`)}`);
        break;
      case 'drill:check':
        out(
          `           ${e.check.ok ? k.green('✓') : k.red('✗')} ${e.check.title}: ${e.check.observed}${e.check.ok ? '' : k.dim(` (expected ${e.check.expected})`)}`,
        );
        break;
      case 'drill:samples':
        for (const s of e.samples) {
          if (s.kind === 'read') {
            reads++;
            if (s.ok === false) badR++;
          } else {
            writes++;
            if (s.ok === false) badW++;
            if (s.ok === null) unknown++;
          }
        }
        break;
      default:
        break;
    }
  };
}

export function summary(r: DrillResult): string {
  const lines: string[] = ['', k.bold('Prediction vs measured')];
  for (const p of r.predictions) {
    const ms = r.measurements.filter((m) => m.predictionId === p.id);
    const measured = ms.length
      ? ms
          .map(
            (m) =>
              `${fmtValue(m.value, m.unit)} ${m.verdict === 'worse than predicted' ? k.red(`(${m.verdict})`) : k.green(`(${m.verdict})`)}`,
          )
          .join(', ')
      : k.dim('not measured');
    const pv =
      p.min !== undefined ? `${fmtValue(p.min, p.unit)}–${fmtValue(p.value, p.unit)}` : fmtValue(p.value, p.unit);
    lines.push(`  ${p.label.padEnd(58)} predicted ${pv.padEnd(16)} measured ${measured}`);
  }
  for (const s of r.probe) {
    lines.push(
      `  probe ${s.kind}s: ${s.requests} requests, ${s.failures} failed, ${s.unknowns} unknown, longest outage ${fmtValue(s.longestOutageMs, 'ms')}, p50/p99 ${s.p50LatencyMs}/${s.p99LatencyMs} ms`,
    );
  }
  const passed = r.checks.filter((c) => c.ok).length;
  lines.push(
    '',
    `${r.ok ? k.green('PASSED') : k.red('FAILED')}: ${passed}/${r.checks.length} checks passed${r.error ? ` — ${r.error}` : ''}`,
  );
  return lines.join('\n');
}

export async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const a = await new Promise<string>((res) => rl.question(question, res));
    return /^y(es)?$/i.test(a.trim());
  } finally {
    rl.close();
  }
}

export function enterWaiter(): { wait: () => Promise<void>; close: () => void } {
  const rl = createInterface({ input: process.stdin });
  const waiters: (() => void)[] = [];
  let buffered = 0;
  let closed = false;
  rl.on('line', () => {
    const w = waiters.shift();
    if (w) w();
    else buffered++;
  });
  // no more input (a pipe that ended): go on without waiting, like --yes
  rl.on('close', () => {
    closed = true;
    for (const w of waiters.splice(0)) w();
  });
  return {
    wait: () =>
      new Promise<void>((res) => {
        if (buffered > 0) {
          buffered--;
          res();
          return;
        }
        if (closed) {
          res();
          return;
        }
        process.stderr.write(k.dim('  press Enter to run this step (Ctrl-C stops the drill and cleans up) '));
        waiters.push(res);
      }),
    close: () => rl.close(),
  };
}

async function labDirOf(input: CommandInput): Promise<{ name: string; dir: string }> {
  const name = await input.resolveLab(input.values.lab as string | undefined);
  const lab = await LabHandle.open(name);
  await lab.close();
  return { name, dir: lab.dir };
}

async function run(input: CommandInput): Promise<number> {
  const name = input.pos[1];
  if (!name)
    throw new HalabError('USAGE', 'which drill?', {
      fix: `halab drill run NAME (${listDrills()
        .map((d) => d.name)
        .join(', ')})`,
    });
  if (!DrillName.safeParse(name).success)
    throw new HalabError(
      'BAD_DRILL_NAME',
      `"${name}" is not a drill name: drill names are kebab-case, like master-down`,
      {
        fix: `halab drill run NAME (${listDrills()
          .map((d) => d.name)
          .join(', ')})`,
      },
    );
  const drill = findDrill(name);
  const info = listDrills().find((d) => d.name === name)!;
  const labName = await input.resolveLab(input.values.lab as string | undefined);
  const lab = await LabHandle.open(labName);
  const json = input.json;
  const stepwise = input.values.step === true;
  try {
    if (!json) {
      out(k.bold(`Drill ${info.name}: ${info.title}`) + k.dim(`  (article ${info.article}; lab ${labName})`));
      out(wrap(info.concept));
      out(`\n${k.bold("Predicted from this lab's configuration")}`);
      for (const p of drill.predict(lab.state.spec)) out(predictionLine(p));
      out(`\n${k.bold('Steps')}`);
      info.steps.forEach((s, i) => out(`  ${String(i + 1).padStart(2)}. [${s.phase}] ${s.title}`));
      out();
    }
    if (input.values.yes !== true) {
      if (!process.stdin.isTTY) {
        throw new HalabError('CONFIRM', `drill ${name} breaks lab ${labName} on purpose: confirm with --yes`, {
          fix: `halab drill run ${name} --lab ${labName} --yes`,
        });
      }
      if (!(await confirm(`Break lab ${labName} on purpose (it is cleaned up afterwards)? [y/N] `))) {
        process.stderr.write('not run\n');
        return 1;
      }
    }
    const ac = new AbortController();
    let interrupts = 0;
    const onSig = () => {
      interrupts++;
      if (interrupts === 1) {
        process.stderr.write('\nstopping the drill: cleaning up the lab first (Ctrl-C again to leave it as it is)\n');
        ac.abort();
      } else process.exit(130);
    };
    process.on('SIGINT', onSig);
    const waiter = stepwise ? enterWaiter() : undefined;
    const render = json ? (e: DrillEvent) => process.stdout.write(`${JSON.stringify(e)}\n`) : humanRenderer(Date.now());
    let reportDir: string | undefined;
    try {
      const result = await runDrill(lab, name, {
        emit: (e) => {
          if (e.type === 'drill:end') reportDir = e.reportDir;
          render(e);
        },
        stepwise,
        waitForContinue: waiter?.wait,
        signal: ac.signal,
      });
      if (!json) {
        out(summary(result));
        if (reportDir)
          out(
            k.dim(
              `report: ${join(reportDir, REPORT_FILES.md)}  (timeline: ${join(reportDir, REPORT_FILES.svg)}; \`halab drill report ${result.runId}\`)`,
            ),
          );
      }
      return result.ok ? 0 : 1;
    } finally {
      waiter?.close();
      process.off('SIGINT', onSig);
    }
  } finally {
    await lab.close();
  }
}

async function report(input: CommandInput): Promise<number> {
  const { name, dir } = await labDirOf(input);
  const all = await listReports(dir);
  const runId = input.pos[1] ?? all[0]?.runId;
  if (!runId)
    throw new HalabError('NO_REPORT', `lab ${name} has no drill reports yet`, {
      fix: `run one: halab drill run master-down --lab ${name}`,
    });
  const r = await readReport(dir, runId);
  const info = all.find((x) => x.runId === runId);
  const svg = join(info?.dir ?? join(dir, 'reports', runId), REPORT_FILES.svg);
  if (input.json) {
    out(JSON.stringify({ runId, result: r.result, markdown: r.markdown, svgPath: svg }));
    return 0;
  }
  out(r.markdown);
  out(`timeline: ${svg}`);
  if (!input.pos[1] && all.length > 1)
    out(
      k.dim(
        `(${all.length} reports: ${all
          .slice(0, 5)
          .map((x) => x.runId)
          .join(', ')}${all.length > 5 ? ', …' : ''})`,
      ),
    );
  return 0;
}

/** `halab drill list|run|report`. */
export async function drillCommand(input: CommandInput): Promise<number> {
  const sub = input.pos[0];
  if (sub === 'list' || sub === undefined) {
    const ds = listDrills();
    if (input.json) {
      out(JSON.stringify(ds, null, 2));
      return 0;
    }
    for (const d of ds) out(`${k.bold(d.name.padEnd(14))} ${d.title} ${k.dim(`(${d.article}; needs ${d.needs})`)}`);
    out(k.dim('\nhalab drill run NAME [--lab LAB] [--yes] [--step] [--json]'));
    return 0;
  }
  if (sub === 'run') return run(input);
  if (sub === 'report') return report(input);
  throw new HalabError('USAGE', `unknown drill command "${sub}"`, {
    fix: 'halab drill list | halab drill run NAME | halab drill report [RUN]',
  });
}
