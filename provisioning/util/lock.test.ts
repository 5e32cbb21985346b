import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseLockOwner, processAlive, tryLock, waitForLock } from './lock.ts';

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'halab-lock-'));
  path = join(dir, 'lock');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A pid no process has (above the kernel's pid_max limit of 2^22). */
const DEAD = 2 ** 22 + 12345;

describe('processAlive', () => {
  it('knows this process, pid 1, and a pid nobody has', () => {
    expect(processAlive(process.pid)).toBe(true);
    expect(processAlive(1)).toBe(true);
    expect(processAlive(DEAD)).toBe(false);
  });
});

describe('parseLockOwner', () => {
  it('reads JSON owners and bare pids, and nothing else', () => {
    expect(parseLockOwner('{"pid":42,"at":"t","action":"up","token":"x"}')).toEqual({
      pid: 42,
      at: 't',
      token: 'x',
      info: { action: 'up' },
    });
    expect(parseLockOwner('4242\n')).toEqual({ pid: 4242, info: {} });
    for (const bad of ['', '{', '{"pid":"1"}', '{"pid":0}', '0', 'x12']) expect(parseLockOwner(bad)).toBeUndefined();
  });
});

describe('tryLock', () => {
  it('takes a free lock, records the owner, and releases only its own file', async () => {
    const r = await tryLock(path, { info: { action: 'up' } });
    expect(r.lock).toBeDefined();
    expect(parseLockOwner(readFileSync(path, 'utf8'))).toMatchObject({ pid: process.pid, info: { action: 'up' } });
    expect(readdirSync(dir)).toEqual(['lock']); // no temp file left
    // someone else's lock at the same path is not removed by our release
    writeFileSync(path, JSON.stringify({ pid: 1, token: 'theirs' }));
    await r.lock!.release();
    expect(parseLockOwner(readFileSync(path, 'utf8'))?.pid).toBe(1);
  });

  it('reports a live owner with what it recorded', async () => {
    writeFileSync(path, JSON.stringify({ pid: 1, action: 'down', at: '2026-01-01T00:00:00Z' }));
    const r = await tryLock(path);
    expect(r.owner).toEqual({ pid: 1, at: '2026-01-01T00:00:00Z', info: { action: 'down' } });
    expect(readFileSync(path, 'utf8')).toContain('"pid":1');
  });

  it('takes over the lock of a process that is gone, and an unreadable one', async () => {
    writeFileSync(path, JSON.stringify({ pid: DEAD }));
    expect((await tryLock(path)).lock).toBeDefined();
    writeFileSync(path, 'garbage');
    const r = await tryLock(path);
    expect(r.lock).toBeDefined();
    await r.lock!.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it("this process's own lock is busy, unless sameProcess is take-over", async () => {
    const first = await tryLock(path);
    expect((await tryLock(path)).owner?.pid).toBe(process.pid);
    const again = await tryLock(path, { sameProcess: 'take-over' });
    expect(again.lock).toBeDefined();
    await first.lock!.release(); // not its file any more: stays
    expect(readdirSync(dir)).toEqual(['lock']);
    await again.lock!.release();
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('waitForLock', () => {
  it('waits while a live process holds it, then takes it', async () => {
    writeFileSync(path, JSON.stringify({ pid: 1 }));
    const waited: number[] = [];
    setTimeout(() => rmSync(path), 120);
    const t0 = Date.now();
    const r = await waitForLock(path, { what: 'the test lock', intervalMs: 20, onWait: (o) => waited.push(o.pid) });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
    expect(waited).toEqual([1]);
    expect(r).not.toBe('done');
    if (r !== 'done') await r.release();
  });

  it("ends with 'done' when the owner's work is done, holding nothing", async () => {
    writeFileSync(path, JSON.stringify({ pid: 1 }));
    let done = false;
    setTimeout(() => (done = true), 60);
    expect(await waitForLock(path, { what: 'x', intervalMs: 20, done: () => done })).toBe('done');
    // the owner finished and released, but the work is done: the lock is not taken
    rmSync(path);
    expect(await waitForLock(path, { what: 'x', done: () => true })).toBe('done');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('is cancelled by its signal, times out, and passes filesystem errors on', async () => {
    writeFileSync(path, JSON.stringify({ pid: 1 }));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await expect(waitForLock(path, { what: 'x', intervalMs: 10, signal: ac.signal })).rejects.toMatchObject({
      code: 'CANCELLED',
    });
    await expect(waitForLock(path, { what: 'the lock', intervalMs: 10, timeoutMs: 50 })).rejects.toMatchObject({
      code: 'TIMEOUT',
    });
    await expect(waitForLock(join(dir, 'no/such/dir/lock'), { what: 'x', timeoutMs: 1000 })).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });
});
