import { readFile } from 'node:fs/promises';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { LabSpec, SpecIssue } from '../api/types.ts';
import { HalabError } from '../errors.ts';
import { machineNetworks } from '../machine.ts';
import { bridgeName } from '../providers/netns/netns.ts';
import { labTag, readState } from '../state/store.ts';
import { validateSpec } from '../spec/validate.ts';

/** A spec with errors: nothing was created. Carries every issue. */
export class SpecRejected extends Error {
  constructor(readonly issues: SpecIssue[], source: string) {
    const n = issues.filter((i) => i.severity === 'error').length;
    super(`${source}: ${n} error${n === 1 ? '' : 's'} in the lab spec; nothing was created`);
  }
}

/** Read a YAML spec (or none: the reference lab), validate it against this machine, throw SpecRejected on errors. */
export async function loadSpec(path?: string): Promise<{ spec: LabSpec; issues: SpecIssue[] }> {
  let input: unknown = {};
  const source = path ?? 'built-in reference lab';
  if (path) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new HalabError('SPEC_UNREADABLE', `cannot read the lab spec ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
        fix: 'give the path of a YAML file, e.g. examples/reference-lab.yaml',
      });
    }
    try {
      input = parseYaml(text) ?? {};
    } catch (err) {
      const e = err as YAMLParseError;
      const where = e.linePos?.[0] ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '';
      throw new SpecRejected([{ severity: 'error', path: where, message: `not valid YAML: ${e.message.split('\n')[0]}`, fix: 'fix the YAML syntax at that line' }], source);
    }
  }
  // a lab that already exists has its own bridge on the machine: that is not an overlap
  const name = typeof (input as { name?: unknown }).name === 'string' ? (input as { name: string }).name : 'halab';
  const own = /^[a-z0-9-]{1,20}$/.test(name) && (await readState(name).catch(() => undefined)) ? [bridgeName(labTag(name))] : [];
  const res = validateSpec(input, await machineNetworks(own));
  if (!res.spec) throw new SpecRejected(res.issues, source);
  return { spec: res.spec, issues: res.issues };
}
