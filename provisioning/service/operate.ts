// Operating a lab by hand (provisioning/operate, the watch, the restore) as the service uses it.
// Loaded lazily, like the drills, so the service starts without them.
import type { DrillEvent, DrillMark, DrillResult, ProbeSample } from '../api/drills.ts';
import type { LabHandle } from '../engine/lab.ts';
import type { Emit, RunResult } from '../engine/runner.ts';

export interface OperateModule {
  fault(lab: LabHandle, host: string, action: string): Promise<{ changed: boolean; message: string }>;
  serviceAction(
    lab: LabHandle,
    host: string,
    name: string,
    action: string,
  ): Promise<{ changed: boolean; message: string; command: string }>;
  heal(lab: LabHandle, log?: (m: string, host?: string) => void): Promise<string[]>;
  startWatch(
    lab: LabHandle,
    o: { onSamples?: (s: ProbeSample[]) => void; onMark?: (m: DrillMark) => void },
  ): Promise<{ runId: string; startedAt: number; stop(): Promise<{ result: DrillResult; reportDir?: string }> }>;
  restoreSnapshot(
    lab: LabHandle,
    src: { snapshot?: string },
    o: {
      emit: (e: DrillEvent) => void;
      stepwise?: boolean;
      waitForContinue?: () => Promise<void>;
      signal?: AbortSignal;
    },
  ): Promise<{ result: DrillResult }>;
  stop(name: string, o: { emit: Emit }): Promise<RunResult>;
}

let cached: Promise<OperateModule> | undefined;

export function loadOperate(): Promise<OperateModule> {
  cached ??= Promise.all([
    import('../operate/faults.ts'),
    import('../drills/watch.ts'),
    import('../snapshots/restore.ts'),
    import('../engine/lifecycle.ts'),
  ]).then(
    ([f, w, r, l]): OperateModule => ({
      fault: f.fault,
      serviceAction: f.serviceAction,
      heal: f.heal,
      startWatch: w.startWatch,
      restoreSnapshot: r.restoreSnapshot,
      stop: l.stop,
    }),
    (err: unknown) => {
      cached = undefined;
      throw err;
    },
  );
  return cached;
}
