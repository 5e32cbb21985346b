// What a person did to a lab by hand (a fault, a service stopped, a heal, a restore...), one JSON
// line each in <lab>/logs/actions.ndjson, whichever process did it (the CLI, the app). `halab
// watch` and the app's live chart read it back as the marks of their timeline, so a fault done
// in another terminal shows where it happened.
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { DrillMark } from '../api/drills.ts';

export interface ManualAction {
  /** When it was done (ms since the epoch). */
  t: number;
  /** fault: something broken on purpose; recovery: something put back; info: anything else. */
  kind: DrillMark['kind'];
  /** One line: "lb1: power-off". */
  label: string;
  host?: string;
  /** The command line it corresponds to (`halab fault lb1 power-off`). */
  command?: string;
}

export function actionsFile(labDir: string): string {
  return join(labDir, 'logs', 'actions.ndjson');
}

/** Append one action (one write of one line: concurrent writers never mix their lines). */
export async function recordAction(labDir: string, a: Omit<ManualAction, 't'> & { t?: number }): Promise<ManualAction> {
  const full: ManualAction = { t: a.t ?? Date.now(), kind: a.kind, label: a.label };
  if (a.host) full.host = a.host;
  if (a.command) full.command = a.command;
  await fs.mkdir(join(labDir, 'logs'), { recursive: true, mode: 0o700 });
  await fs.appendFile(actionsFile(labDir), `${JSON.stringify(full)}\n`, { mode: 0o600 });
  return full;
}

/** Parse the file's text (pure): every well-formed line at or after `since`. */
export function parseActions(text: string, since = 0): ManualAction[] {
  const out: ManualAction[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const a = JSON.parse(line) as ManualAction;
      if (typeof a.t === 'number' && typeof a.label === 'string' && a.t >= since)
        out.push({ ...a, kind: a.kind === 'fault' || a.kind === 'recovery' ? a.kind : 'info' });
    } catch {
      /* a torn or foreign line */
    }
  }
  return out;
}

/** Every action recorded at or after `since`. */
export async function readActions(labDir: string, since = 0): Promise<ManualAction[]> {
  const text = await fs.readFile(actionsFile(labDir), 'utf8').catch(() => '');
  return parseActions(text, since);
}

/** An action as a mark of a timeline. */
export function actionMark(a: ManualAction): DrillMark {
  return { t: a.t, kind: a.kind, label: a.label };
}
