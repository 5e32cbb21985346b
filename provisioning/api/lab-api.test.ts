// The method list must be LabApi itself: read the interface from its source (the TypeScript
// parser) and compare names and parameter counts, so a method added to LabApi but not to
// LAB_API_METHODS fails here even where nothing type-checks.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { LAB_API_METHODS } from './lab-api.ts';

function interfaceMethods(file: string, name: string): Record<string, number> {
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: Record<string, number> = {};
  src.forEachChild((node) => {
    if (!ts.isInterfaceDeclaration(node) || node.name.text !== name) return;
    for (const m of node.members) {
      if (ts.isMethodSignature(m) && ts.isIdentifier(m.name)) out[m.name.text] = m.parameters.length;
    }
  });
  return out;
}

describe('LAB_API_METHODS', () => {
  it('lists every request method of LabApi with its parameter count (onEvent is the event channel)', () => {
    const declared = interfaceMethods(join(import.meta.dirname, 'lab-api.ts'), 'LabApi');
    expect(Object.keys(declared).length).toBeGreaterThan(10); // the parser found the interface
    const { onEvent, ...requests } = declared;
    expect(onEvent).toBe(1);
    expect({ ...LAB_API_METHODS }).toEqual(requests);
  });
});
