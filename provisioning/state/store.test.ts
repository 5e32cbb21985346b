import { mkdtempSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { LabState } from '../api/types.ts';
import { acquireLock, labDir, labTag, listLabs, readState, writeFileAtomic, writeState } from './store.ts';

beforeEach(() => {
  process.env.HALAB_HOME = mkdtempSync(join(tmpdir(), 'halab-unit-'));
});

const state = (name: string): LabState => ({
  name,
  phase: 'ready',
  tag: labTag(name),
  createdAt: '',
  updatedAt: '',
  completedSteps: [],
  hosts: {},
  spec: {
    name,
    provider: 'netns',
    subnet: '10.213.5.0/24',
    hosts: [{ name: 'm1', role: 'master', address: '10.213.5.21' }],
  } as LabState['spec'],
});

describe('state store', () => {
  it('labTag is stable, short enough for interface names, and differs between labs', () => {
    expect(labTag('halab')).toBe(labTag('halab'));
    expect(labTag('halab')).toMatch(/^hl[0-9a-f]{6}$/);
    expect(`${labTag('x')}v12`.length).toBeLessThanOrEqual(15);
    expect(labTag('lab1')).not.toBe(labTag('lab2'));
  });
  it('refuses lab names that are not short DNS labels', () => {
    expect(() => labDir('../etc')).toThrow(/not a lab name/);
    expect(() => labDir('a'.repeat(21))).toThrow();
  });
  it('writes state atomically and lists labs', async () => {
    await writeState(state('one'));
    await writeState(state('two'));
    expect((await readState('one'))?.name).toBe('one');
    expect(await readState('nope')).toBeUndefined();
    expect((await listLabs()).map((l) => l.name)).toEqual(['one', 'two']);
    expect(readdirSync(labDir('one')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
  it('writeFileAtomic leaves either the old or the new content', async () => {
    const p = join(process.env.HALAB_HOME!, 'f');
    writeFileSync(p, 'old');
    await writeFileAtomic(p, 'new');
    expect(readFileSync(p, 'utf8')).toBe('new');
  });
  it('a corrupt state file is a clear error', async () => {
    mkdirSync(labDir('bad'), { recursive: true });
    writeFileSync(join(labDir('bad'), 'state.json'), '{not json');
    await expect(readState('bad')).rejects.toMatchObject({ code: 'STATE_CORRUPT' });
  });
  it('one engine per lab: a live holder is refused, a dead one is taken over', async () => {
    const release = await acquireLock('l', 'up');
    // same process re-entering counts as stale; simulate another live process: pid 1 always exists
    writeFileSync(join(labDir('l'), 'lock'), JSON.stringify({ pid: 1, action: 'up' }));
    await expect(acquireLock('l', 'down')).rejects.toMatchObject({
      code: 'LAB_BUSY',
      message: 'lab l is busy: `halab up` (pid 1) is working on it',
    });
    // a holder that no longer exists (a kill -9'd halab) does not block
    writeFileSync(join(labDir('l'), 'lock'), JSON.stringify({ pid: 2 ** 22 + 12345, action: 'up' }));
    const r2 = await acquireLock('l', 'down');
    await r2();
    await release();
  });
});
