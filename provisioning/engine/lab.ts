// The lab operations, in one import: open a lab, up, down, status, the plan.
export type { EngineEvent } from '../api/types.ts';
export type { LabContext } from './context.ts';
export { LabHandle, ownInterfaces, sshKeyPaths, type LabParts } from './handle.ts';
export { labPlan, labPlanThrough, labKeyStep, type PlanOptions } from './plan.ts';
export { up, type UpOptions } from './up.ts';
export { down, removeLab } from './down.ts';
export { status } from './status.ts';
export { stop, start, isRunning, listLabsRunning } from './lifecycle.ts';
