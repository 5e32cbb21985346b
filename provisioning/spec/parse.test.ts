import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePath, parseSpecFile, parseSpecText, validateSpecFile, validateSpecText } from './parse.ts';
import { defaultSpec } from './schema.ts';

const NONE = { cidrs: [] };
const dir = mkdtempSync(join(tmpdir(), 'halab-spec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('parseSpecText', () => {
  it('parses YAML into plain data', () => {
    const r = parseSpecText('name: lab2\ntimers:\n  vrrpAdvertInt: 0.5\n', 'lab.yaml');
    expect(r.issues).toEqual([]);
    expect(r.data).toEqual({ name: 'lab2', timers: { vrrpAdvertInt: 0.5 } });
  });

  it('an empty file is null, which validates as the reference lab', () => {
    const r = parseSpecText('# nothing here\n', 'empty.yaml');
    expect(r.issues).toEqual([]);
    expect(r.data).toBeNull();
    expect(validateSpecText('', 'empty.yaml', NONE).spec).toEqual(defaultSpec());
  });

  it('turns a syntax error into one issue with line:col', () => {
    const r = parseSpecText('name: lab\nhosts:\n  - name: m1\n\trole: master\n', 'lab.yaml');
    expect(r.data).toBeUndefined();
    expect(r.issues).toEqual([
      {
        severity: 'error',
        path: '',
        message: 'YAML syntax error at lab.yaml:4:1: Tabs are not allowed as indentation',
        fix: 'correct the YAML at line 4, column 1: check the indentation, colons and quotes',
      },
    ]);
  });

  it('reports duplicate keys, unclosed quotes and several documents the same way', () => {
    expect(parseSpecText('name: a\nname: b\n', 'x.yaml').issues[0]?.message).toBe(
      'YAML syntax error at x.yaml:2:1: Map keys must be unique',
    );
    expect(parseSpecText('name: "abc\n', 'x.yaml').issues[0]?.message).toBe(
      'YAML syntax error at x.yaml:2:1: Missing closing "quote',
    );
    expect(parseSpecText('name: a\n---\nname: b\n', 'x.yaml').issues).toEqual([
      {
        severity: 'error',
        path: '',
        message: 'YAML syntax error at x.yaml:2:1: the file holds more than one YAML document; a lab spec is one',
        fix: 'correct the YAML at line 2, column 1: check the indentation, colons and quotes',
      },
    ]);
    expect(parseSpecText('name: a: b\n', 'x.yaml').issues).toHaveLength(1);
  });

  it('locates spec paths in the source', () => {
    const text = [
      'name: x',
      'hosts:',
      '  - name: m1',
      '    role: master',
      '    address: 1.2.3.4',
      '  - {name: m2, role: x}',
      'timers:',
      '  foo: 1',
      'disks:',
      '',
    ].join('\n');
    const r = parseSpecText(text, 'lab.yaml');
    expect(r.locate('name')).toEqual({ line: 1, col: 1 });
    expect(r.locate('hosts[0].address')).toEqual({ line: 5, col: 5 });
    expect(r.locate('hosts[1].role')).toEqual({ line: 6, col: 16 });
    // missing: its nearest written parent
    expect(r.locate('hosts[1].address')).toEqual({ line: 6, col: 5 });
    expect(r.locate('timers.foo')).toEqual({ line: 8, col: 3 });
    expect(r.locate('disks')).toEqual({ line: 9, col: 1 });
    expect(r.locate('vip')).toBeUndefined();
    expect(r.locate('')).toBeUndefined();
  });

  it('parsePath', () => {
    expect(parsePath('hosts[3].address')).toEqual(['hosts', 3, 'address']);
    expect(parsePath('timers.vrrpAdvertInt')).toEqual(['timers', 'vrrpAdvertInt']);
    expect(parsePath('')).toEqual([]);
  });
});

describe('files', () => {
  it('a missing file is an issue, not an exception', async () => {
    const path = join(dir, 'nope.yaml');
    const r = await parseSpecFile(path);
    expect(r.issues).toEqual([
      {
        severity: 'error',
        path: '',
        message: `cannot read ${path}: no such file`,
        fix: 'give the path of a YAML lab spec, e.g. examples/reference-lab.yaml',
      },
    ]);
    expect((await validateSpecFile(path, NONE)).spec).toBeUndefined();
  });

  it('a directory is an issue too', async () => {
    expect((await parseSpecFile(dir)).issues[0]?.message).toBe(`cannot read ${dir}: it is a directory`);
  });

  it('validateSpecFile parses, validates and locates', async () => {
    const path = join(dir, 'lab.yaml');
    writeFileSync(path, 'name: lab3\nprovider: vbox\n');
    const r = await validateSpecFile(path, NONE);
    expect(r.spec).toBeUndefined();
    expect(r.issues.map((i) => i.path)).toEqual(['provider']);
    expect(r.locate('provider')).toEqual({ line: 2, col: 1 });
  });

  it('a syntax error stops before validation', () => {
    const r = validateSpecText('name: [', 'bad.yaml', NONE);
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]?.message.startsWith('YAML syntax error at bad.yaml:')).toBe(true);
  });
});

describe('examples', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  it('reference-lab.yaml is the full reference lab, with no issue', async () => {
    const r = await validateSpecFile(join(root, 'examples/reference-lab.yaml'), NONE);
    expect(r.issues).toEqual([]);
    expect(r.spec).toEqual(defaultSpec());
    // every field is written out, not defaulted
    const data = parseSpecText(readFileSync(join(root, 'examples/reference-lab.yaml'), 'utf8'), 'x').data;
    expect(data).toEqual(defaultSpec());
  });

  it('minimal.yaml is just a name and gives the same lab', async () => {
    const text = readFileSync(join(root, 'examples/minimal.yaml'), 'utf8');
    expect(parseSpecText(text, 'x').data).toEqual({ name: 'halab' });
    expect((await validateSpecFile(join(root, 'examples/minimal.yaml'), NONE)).spec).toEqual(defaultSpec());
  });
});
