import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { EngineEvent, ErrorInfo } from '../api/types.ts';

const SPIN = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const c = {
  green: (s: string) => `\x1b[32m${s}\x1b[0m`,
  red: (s: string) => `\x1b[31m${s}\x1b[0m`,
  yellow: (s: string) => `\x1b[33m${s}\x1b[0m`,
  dim: (s: string) => `\x1b[2m${s}\x1b[0m`,
  bold: (s: string) => `\x1b[1m${s}\x1b[0m`,
};
const plain = {
  green: (s: string) => s,
  red: (s: string) => s,
  yellow: (s: string) => s,
  dim: (s: string) => s,
  bold: (s: string) => s,
};

export function secs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export interface Renderer {
  emit(e: EngineEvent): void;
  close(): void;
}

/** Every event, one JSON object per line, on stdout (`--json`). */
export function ndjsonRenderer(out: NodeJS.WritableStream = process.stdout): Renderer {
  return { emit: (e) => out.write(`${JSON.stringify(e)}\n`), close: () => {} };
}

/** Appends every event to a log file (the quiet per-lab log). */
export function fileLogger(path: string): Renderer {
  let ok = true;
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch {
    ok = false;
  }
  return {
    emit: (e) => {
      if (!ok) return;
      try {
        appendFileSync(path, `${JSON.stringify(e)}\n`);
      } catch {
        ok = false;
      }
    },
    close: () => {},
  };
}

/**
 * Human progress: one line per step with a spinner while it runs, its duration when it ends;
 * warnings and errors printed; debug/info logs go only to the log file.
 */
export function ttyRenderer(out: NodeJS.WriteStream = process.stderr): Renderer {
  const tty = !!out.isTTY && !process.env.NO_COLOR;
  const k = tty ? c : plain;
  let current: { title: string; t0: number; detail?: string } | undefined;
  let frame = 0;
  const draw = () => {
    if (!tty || !current) return;
    const el = secs(Date.now() - current.t0);
    const line = `${SPIN[frame++ % SPIN.length]} ${current.title}${current.detail ? k.dim(` · ${current.detail}`) : ''} ${k.dim(el)}`;
    out.write(`\r\x1b[2K${line.slice(0, (out.columns || 120) + 20)}`);
  };
  const timer = tty ? setInterval(draw, 100) : undefined;
  timer?.unref();
  const clear = () => {
    if (tty) out.write('\r\x1b[2K');
  };
  return {
    emit(e) {
      switch (e.type) {
        case 'run:start':
          out.write(`${k.bold(`halab ${e.action}`)} ${e.lab} ${k.dim(`(${e.steps.length} steps)`)}\n`);
          break;
        case 'step:start':
          current = { title: e.title, t0: e.at };
          if (!tty) out.write(`… ${e.title}\n`);
          draw();
          break;
        case 'step:progress':
          if (current) current.detail = `${e.done}/${e.total}${e.detail ? ` ${e.detail}` : ''}`;
          draw();
          break;
        case 'step:log':
          if (e.level === 'warn' || e.level === 'error') {
            clear();
            out.write(
              `  ${e.level === 'warn' ? k.yellow('!') : k.red('✖')} ${e.host ? `${e.host}: ` : ''}${e.message}\n`,
            );
            draw();
          }
          break;
        case 'step:end': {
          clear();
          const title = current?.title ?? e.stepId;
          const mark =
            e.status === 'done'
              ? k.green('✔')
              : e.status === 'skipped'
                ? k.dim('↷')
                : e.status === 'cancelled'
                  ? k.yellow('■')
                  : k.red('✖');
          const note = e.status === 'skipped' ? k.dim(' already done') : '';
          out.write(`${mark} ${title}${note} ${k.dim(secs(e.durationMs))}\n`);
          current = undefined;
          break;
        }
        case 'run:end':
          clear();
          if (e.ok) out.write(`${k.green('done')} in ${secs(e.durationMs)}\n`);
          break;
        default:
          break;
      }
    },
    close() {
      if (timer) clearInterval(timer);
      clear();
    },
  };
}

export function tee(...rs: Renderer[]): Renderer {
  return { emit: (e) => rs.forEach((r) => r.emit(e)), close: () => rs.forEach((r) => r.close()) };
}

/** An error for humans: the cause, the fix, the details. Never a stack trace. */
export function formatError(err: ErrorInfo, color = !!process.stderr.isTTY): string {
  const k = color ? c : plain;
  const lines = [`${k.red('error:')} ${err.message}`];
  if (err.fix) lines.push(`  ${k.bold('fix:')} ${err.fix}`);
  if (err.details) lines.push(...err.details.split('\n').map((l) => `  ${k.dim('|')} ${l}`));
  return `${lines.join('\n')}\n`;
}
