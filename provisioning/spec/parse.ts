// Reading a spec file: YAML text -> plain data, with positions for the issues. A YAML syntax error
// becomes one issue (with line:col), never an exception.

import { readFile } from 'node:fs/promises';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import type { SpecIssue } from '../api/types.ts';
import type { SourcePosition } from './format.ts';
import { validateSpec, type MachineNetworks, type SpecValidation } from './validate.ts';

export interface ParsedSpec {
  /** The parsed YAML (null for an empty file); absent when the text is not valid YAML. */
  data?: unknown;
  /** At most one issue: why the text is not valid YAML, or why the file could not be read. */
  issues: SpecIssue[];
  /** Where the value at a spec path ("hosts[3].address") is written; its nearest written parent if it is missing. */
  locate: (path: string) => SourcePosition | undefined;
}

const nowhere = (): undefined => undefined;

/** "hosts[3].address" -> ['hosts', 3, 'address']. */
export function parsePath(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g))
    out.push(m[2] !== undefined ? Number(m[2]) : (m[1] as string));
  return out;
}

function locator(doc: Document, lines: LineCounter): (path: string) => SourcePosition | undefined {
  return (path) => {
    const segs = parsePath(path);
    for (let k = segs.length; k > 0; k--) {
      const parent = k === 1 ? doc.contents : doc.getIn(segs.slice(0, k - 1), true);
      const last = segs[k - 1];
      let offset: number | undefined;
      if (isMap(parent)) {
        const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(last));
        if (pair && isScalar(pair.key)) offset = pair.key.range?.[0];
      } else if (isSeq(parent) && typeof last === 'number') {
        const item = parent.items[last] as { range?: [number, number, number] } | undefined;
        offset = item?.range?.[0];
      }
      if (offset !== undefined) return lines.linePos(offset);
    }
    return undefined;
  };
}

/** Parses YAML text. `sourceName` (a file name) appears in the syntax-error message. */
export function parseSpecText(text: string, sourceName: string): ParsedSpec {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const error = doc.errors[0];
  if (error) {
    const pos = error.linePos?.[0] ?? lines.linePos(error.pos[0]);
    const reason =
      error.code === 'MULTIPLE_DOCS'
        ? 'the file holds more than one YAML document; a lab spec is one'
        : (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    return {
      issues: [
        {
          severity: 'error',
          path: '',
          message: `YAML syntax error at ${sourceName}:${pos.line}:${pos.col}: ${reason}`,
          fix: `correct the YAML at line ${pos.line}, column ${pos.col}: check the indentation, colons and quotes`,
        },
      ],
      locate: nowhere,
    };
  }
  try {
    return { data: doc.toJS({ maxAliasCount: 100 }) as unknown, issues: [], locate: locator(doc, lines) };
  } catch (err) {
    return {
      issues: [
        {
          severity: 'error',
          path: '',
          message: `${sourceName} cannot be read as YAML: ${(err as Error).message}`,
          fix: 'write the spec without YAML aliases that expand into huge documents',
        },
      ],
      locate: nowhere,
    };
  }
}

/** Reads and parses a YAML spec file; a missing or unreadable file is an issue, not an exception. */
export async function parseSpecFile(path: string): Promise<ParsedSpec> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a directory'
            : (err as Error).message;
    return {
      issues: [
        {
          severity: 'error',
          path: '',
          message: `cannot read ${path}: ${why}`,
          fix: 'give the path of a YAML lab spec, e.g. examples/reference-lab.yaml',
        },
      ],
      locate: nowhere,
    };
  }
  return parseSpecText(text, path);
}

export type TextValidation = SpecValidation & Pick<ParsedSpec, 'locate'>;

/** parseSpecText + validateSpec. */
export function validateSpecText(text: string, sourceName: string, machine: MachineNetworks): TextValidation {
  const parsed = parseSpecText(text, sourceName);
  if (parsed.issues.length > 0) return { issues: parsed.issues, locate: parsed.locate };
  return { ...validateSpec(parsed.data, machine), locate: parsed.locate };
}

/** parseSpecFile + validateSpec. */
export async function validateSpecFile(path: string, machine: MachineNetworks): Promise<TextValidation> {
  const parsed = await parseSpecFile(path);
  if (parsed.issues.length > 0) return { issues: parsed.issues, locate: parsed.locate };
  return { ...validateSpec(parsed.data, machine), locate: parsed.locate };
}
