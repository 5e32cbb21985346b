// The validation table of the LabApi boundary agrees with the one method list (api/lab-api.ts).
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { LAB_API_METHODS } from '../api/lab-api.ts';
import { ARGS, isMethod, METHODS, validateCall } from './schemas.ts';

/** The most arguments a schema of ARGS accepts: a tuple's length, or a union's longest tuple. */
function maxArgs(schema: z.ZodType): number {
  const def = schema.def as { type: string; items?: z.ZodType[]; options?: z.ZodType[] };
  if (def.type === 'tuple') return def.items!.length;
  if (def.type === 'union') return Math.max(...def.options!.map(maxArgs));
  throw new Error(`unexpected schema ${def.type}`);
}

describe('LabApi call validation', () => {
  it('has a schema for every method of the list, taking as many arguments as the list says', () => {
    expect(METHODS).toEqual(Object.keys(LAB_API_METHODS));
    expect(Object.keys(ARGS).sort()).toEqual(Object.keys(LAB_API_METHODS).sort());
    for (const [m, n] of Object.entries(LAB_API_METHODS))
      expect([m, maxArgs(ARGS[m as keyof typeof ARGS])]).toEqual([m, n]);
  });

  it('knows only the listed names (not inherited properties)', () => {
    expect(isMethod('status')).toBe(true);
    for (const bad of ['constructor', 'toString', 'onEvent', 'openSession', 42]) expect(isMethod(bad)).toBe(false);
    expect(() => validateCall('constructor', [])).toThrow(/unknown method/);
    expect(() => validateCall('status', ['lab1', 'extra'])).toThrow(/malformed call/);
  });
});

describe('drill names over IPC and the WebSocket', () => {
  it('runDrill takes a DrillName, not a host name', () => {
    expect(validateCall('runDrill', ['lab1', 'master-down', { stepwise: true }]).args[1]).toBe('master-down');
    // host names allow what drill names do not: a leading digit, 63 characters
    for (const bad of ['1-down', 'd'.repeat(50), 'Master-Down', 'master--down'])
      expect(() => validateCall('runDrill', ['lab1', bad]), bad).toThrow(/args\[1\]: not a drill name/);
  });
});
