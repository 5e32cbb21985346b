// Drills: the service layer's entry points (the CLI, the Electron main process and the browser
// bridge call these). See engine.ts for how a drill runs and catalog/ for the drills.

import type { DrillEvent, DrillInfo, DrillResult, ReportInfo } from '../api/drills.ts';
import type { LabHandle } from '../engine/lab.ts';
import { HalabError, toErrorInfo } from '../errors.ts';
import { DRILLS } from './catalog/index.ts';
import { executeDrill, infoOf, type Drill } from './engine.ts';
import { listReports as listReportFiles, readReport as readReportFiles, writeReport } from './report.ts';

export function listDrills(): DrillInfo[] {
  return DRILLS.map(infoOf);
}

export function findDrill(name: string): Drill {
  const d = DRILLS.find((x) => x.info.name === name);
  if (!d) {
    throw new HalabError('NO_DRILL', `there is no drill named ${name}`, {
      fix: `drills: ${DRILLS.map((x) => x.info.name).join(', ')}`,
    });
  }
  return d;
}

/**
 * Run a drill on an open lab: events as it goes, the report written at the end (its directory in
 * drill:end). Resolves with the result whether the drill passed or not; throws only for an
 * unknown drill name.
 */
export async function runDrill(
  lab: LabHandle,
  name: string,
  o: {
    emit: (e: DrillEvent) => void;
    stepwise?: boolean;
    waitForContinue?: () => Promise<void>;
    signal?: AbortSignal;
  },
): Promise<DrillResult> {
  const drill = findDrill(name);
  const out = await executeDrill(lab, drill, o);
  let reportDir: string | undefined;
  try {
    reportDir = await writeReport(lab.dir, out);
  } catch (err) {
    o.emit({
      type: 'drill:log',
      runId: out.result.runId,
      message: `could not write the report: ${toErrorInfo(err).message}`,
      at: Date.now(),
    });
  }
  o.emit({
    type: 'drill:end',
    runId: out.result.runId,
    ok: out.result.ok,
    result: out.result,
    reportDir,
    at: Date.now(),
  });
  return out.result;
}

export async function listReports(labDir: string): Promise<ReportInfo[]> {
  return listReportFiles(labDir);
}

export async function readReport(
  labDir: string,
  runId: string,
): Promise<{ result: DrillResult; markdown: string; svg: string; html: string }> {
  const r = await readReportFiles(labDir, runId);
  return { result: r.result, markdown: r.markdown, svg: r.svg, html: r.html };
}

export type { Drill, DrillContext, DrillStep } from './engine.ts';
