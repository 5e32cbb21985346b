// Commands added by later parts of the engine (snapshots, drills, kubeconfig, ui) register here,
// so main.ts stays a short dispatcher.
import type { HalabError } from '../errors.ts';

export interface CommandInput {
  pos: string[];
  values: Record<string, unknown>;
  rest: string[];
  json: boolean;
  resolveLab(name: string | undefined): Promise<string>;
}

export interface ExtraCommand {
  name: string;
  usage: string;
  summary: string;
  run(input: CommandInput): Promise<number>;
}

import { clusterCommands } from './cluster.ts';

export const extraCommands: ExtraCommand[] = [...clusterCommands, (await import('./ui.ts')).uiCommand];
export type { HalabError };
extraCommands.push((await import('./drill.ts')).drillCommand);
