import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SCHEMA_PATH, renderJsonSchema } from './export-schema.ts';

describe('schema/labspec.schema.json', () => {
  it('is what export-schema.ts generates (run `npx tsx provisioning/spec/export-schema.ts` after changing the schema)', () => {
    expect(readFileSync(SCHEMA_PATH, 'utf8')).toBe(renderJsonSchema());
  });

  it('describes the input side: defaults are optional, host fields required, unknown keys refused', () => {
    const schema = JSON.parse(renderJsonSchema()) as {
      $schema: string;
      required?: string[];
      additionalProperties: boolean;
      properties: Record<
        string,
        {
          default?: unknown;
          items?: { required: string[]; additionalProperties: boolean };
          properties?: Record<string, { type: string; minimum?: number; default?: unknown }>;
        }
      >;
    };
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(schema.required ?? []).toEqual([]);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.name?.default).toBe('halab');
    expect(schema.properties.hosts?.items?.required).toEqual(['name', 'role', 'address']);
    expect(schema.properties.hosts?.items?.additionalProperties).toBe(false);
    expect(schema.properties.timers?.properties?.haproxyCheckFall).toMatchObject({
      type: 'integer',
      minimum: 1,
      default: 2,
    });
    expect(schema.properties.timers?.properties?.vrrpAdvertInt).toMatchObject({
      type: 'number',
      minimum: 0.01,
      default: 0.2,
    });
  });
});
