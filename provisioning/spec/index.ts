// The lab spec module: parse, validate, defaults, quorum math and the plan preview.

export * from './schema.ts';
export * from './validate.ts';
export * from './parse.ts';
export * from './quorum.ts';
export * from './plan.ts';
export * from './format.ts';
export * from './net.ts';
