// The drill engine (provisioning/drills) as the service uses it. Loaded lazily so the service
// starts (and the rest of the app works) even where the drills are not available.
import type { DrillEvent, DrillInfo, DrillResult, ReportInfo } from '../api/drills.ts';
import type { LabHandle } from '../engine/lab.ts';
import { HalabError } from '../errors.ts';

export interface DrillsModule {
  listDrills(): DrillInfo[];
  runDrill(
    lab: LabHandle,
    name: string,
    o: {
      emit(e: DrillEvent): void;
      stepwise?: boolean;
      waitForContinue?: () => Promise<void>;
      signal?: AbortSignal;
    },
  ): Promise<DrillResult>;
  listReports(labDir: string): Promise<ReportInfo[]>;
  readReport(
    labDir: string,
    runId: string,
  ): Promise<{ result: DrillResult; markdown: string; svg: string; html: string }>;
}

let cached: Promise<DrillsModule> | undefined;

export function loadDrills(): Promise<DrillsModule> {
  cached ??= import('../drills/index.ts').then(
    (m): DrillsModule => m,
    (err: unknown) => {
      cached = undefined;
      throw new HalabError('DRILLS_UNAVAILABLE', `the drill engine cannot be loaded: ${(err as Error).message}`, {
        fix: 'update HA Lab: provisioning/drills is part of it',
      });
    },
  );
  return cached;
}
