import { readFile } from 'node:fs/promises';
import type { LabSpec, SpecIssue } from '../api/types.ts';
import { HalabError } from '../errors.ts';
import { machineNetworks } from '../machine.ts';
import { ownInterfaces } from '../engine/handle.ts';
import { parseSpecText } from '../spec/parse.ts';
import { sortIssues, validateSpec } from '../spec/validate.ts';
import { planChecks } from '../engine/plan-checks.ts';
import type { BinariesAvailability } from '../artifacts/availability.ts';
import { formatIssues } from '../spec/format.ts';

/** A spec with errors: nothing was created. Carries every issue, and a draft for the plan view. */
export class SpecRejected extends Error {
  constructor(
    readonly issues: SpecIssue[],
    readonly source: string,
    readonly draft?: LabSpec,
    readonly locate?: (p: string) => { line: number; col: number } | undefined,
    /** What the plan found about the version's binaries (when the spec got that far). */
    readonly binaries?: BinariesAvailability,
  ) {
    const n = issues.filter((i) => i.severity === 'error').length;
    super(`${source}: ${n} error${n === 1 ? '' : 's'} in the lab spec; nothing was created`);
  }
  format(): string {
    return `${this.message}\n${formatIssues(this.issues, { locate: this.locate, source: this.source })}`;
  }
}

/**
 * Read a YAML spec (or none: the reference lab), validate it against this machine and check that
 * the provider and bootstrap honour every field and that its Kubernetes version can be had
 * (engine/plan-checks.ts); throw SpecRejected on errors.
 */
export async function loadSpec(
  path?: string,
): Promise<{ spec: LabSpec; issues: SpecIssue[]; binaries: BinariesAvailability }> {
  let input: unknown = {};
  const source = path ?? 'built-in reference lab';
  let locate: SpecRejected['locate'];
  if (path) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new HalabError(
        'SPEC_UNREADABLE',
        `cannot read the lab spec ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        {
          fix: 'give the path of a YAML file, e.g. examples/reference-lab.yaml',
        },
      );
    }
    const parsed = parseSpecText(text, path);
    locate = parsed.locate;
    if (parsed.issues.some((i) => i.severity === 'error'))
      throw new SpecRejected(parsed.issues, source, undefined, locate);
    input = parsed.data ?? {};
  }
  // a lab that already exists has its own bridge on the machine: that is not an overlap
  const name = typeof (input as { name?: unknown })?.name === 'string' ? (input as { name: string }).name : 'halab';
  const own = await ownInterfaces(name);
  const res = validateSpec(input, await machineNetworks(own));
  if (!res.spec) throw new SpecRejected(res.issues, source, res.draft, locate);
  const checks = await planChecks(res.spec);
  const issues = sortIssues([...res.issues, ...checks.issues]);
  if (issues.some((i) => i.severity === 'error'))
    throw new SpecRejected(issues, source, res.spec, locate, checks.binaries);
  return { spec: res.spec, issues, binaries: checks.binaries };
}
