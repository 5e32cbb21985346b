import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { childPids, withDescendants } from './proc.ts';
import { poll } from '../../util/poll.ts';

describe('withDescendants', () => {
  it('finds every process below the given ones (what a freeze of a host must stop, containers included)', async () => {
    // sh -> (sleep, sh -> sleep): grandchildren count too
    const sh = spawn('/bin/sh', ['-c', 'sleep 30 & /bin/sh -c "sleep 30 & wait" & wait'], { stdio: 'ignore' });
    try {
      const pid = sh.pid!;
      const all = await poll({
        what: 'the process tree',
        check: () => {
          const d = withDescendants([pid]);
          return d.length >= 4 ? d : undefined;
        },
        timeoutMs: 5000,
        intervalMs: 20,
      });
      expect(all).toContain(pid);
      for (const c of childPids(pid)) expect(all).toContain(c);
      expect(all.length).toBe(4);
      expect(withDescendants([])).toEqual([]);
    } finally {
      for (const p of withDescendants([sh.pid!]).reverse()) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
  });
});
