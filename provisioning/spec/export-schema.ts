// Writes schema/labspec.schema.json, the JSON Schema editors use to check and complete lab specs
// (yaml-language-server: `# yaml-language-server: $schema=../schema/labspec.schema.json`).
// Generated from the zod schema's input side, so every field with a default is optional.
//
//   npx tsx provisioning/spec/export-schema.ts           write the file
//   npx tsx provisioning/spec/export-schema.ts --check   exit 1 if the committed file is stale

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { LabSpecSchema } from './schema.ts';

export const SCHEMA_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '../../schema/labspec.schema.json');

/** The JSON Schema text (draft-07: the draft editors support best), with a final newline. */
export function renderJsonSchema(): string {
  const schema = z.toJSONSchema(LabSpecSchema, { io: 'input', target: 'draft-07' });
  return `${JSON.stringify(schema, null, 2)}\n`;
}

function main(argv: string[]): number {
  const text = renderJsonSchema();
  if (argv.includes('--check')) {
    let committed = '';
    try {
      committed = readFileSync(SCHEMA_PATH, 'utf8');
    } catch {
      // missing counts as stale
    }
    if (committed !== text) {
      process.stderr.write(`${SCHEMA_PATH} is stale: run npx tsx provisioning/spec/export-schema.ts\n`);
      return 1;
    }
    return 0;
  }
  mkdirSync(dirname(SCHEMA_PATH), { recursive: true });
  writeFileSync(SCHEMA_PATH, text);
  process.stdout.write(`wrote ${SCHEMA_PATH}\n`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = main(process.argv.slice(2));
}
