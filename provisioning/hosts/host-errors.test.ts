// Every SSH and command error path of the status readers ends as one sentence without the command.
import { describe, expect, it } from 'vitest';
import { CommandError, HalabError } from '../errors.ts';
import { notAnswering } from '../exec/ssh-connect.ts';
import { hostProblem, localProblem } from './host-errors.ts';
import { statusScript } from './supervisor.ts';

const cmd = (o: Partial<ConstructorParameters<typeof CommandError>[0]>) =>
  new CommandError({ command: statusScript(), exitCode: 1, stdout: '', stderr: '', ...o });

describe('hostProblem / localProblem', () => {
  it('a frozen host: the connect timeout keeps its message; a read that timed out says how long', () => {
    expect(hostProblem('m1', notAnswering('m1', 5000))).toBe('m1: not answering for 5 s');
    expect(hostProblem('lb1', cmd({ host: 'lb1', exitCode: null, reason: 'timeout' }), { timeoutMs: 10_000 })).toBe(
      'lb1: not answering for 10 s',
    );
  });

  it('a failed command: what was asked and the last line it printed, never the script', () => {
    const e = cmd({ host: 'm2', stderr: '{"level":"warn"}\ns6-svstat: fatal: unable to read status\n' });
    const t = hostProblem('m2', e, { what: 'reading its services' });
    expect(t).toBe('reading its services failed on m2: s6-svstat: fatal: unable to read status');
    expect(t).not.toContain('for d in');
  });

  it('the engine own errors pass through; kubectl on this machine is named by what it was for', () => {
    expect(hostProblem('m1', new HalabError('SSH_CONNECT', 'cannot reach m1 over SSH at 10.0.0.21: no route'))).toBe(
      'cannot reach m1 over SSH at 10.0.0.21: no route',
    );
    const kubectl = new CommandError({
      command: '/root/.cache/halab/kubernetes/v1.34.4/bin/kubectl --kubeconfig x get --raw /readyz',
      exitCode: null,
      stdout: '',
      stderr: '',
      reason: 'timeout',
    });
    expect(localProblem(kubectl, { what: 'the API through the VIP', timeoutMs: 10_000 })).toBe(
      'the API through the VIP: no answer within 10 s',
    );
    const refused = new CommandError({
      command: 'kubectl get nodes',
      exitCode: 1,
      stdout: '',
      stderr:
        'E1130 ... memcache.go\nUnable to connect to the server: dial tcp 10.213.0.10:6443: connect: no route to host\n',
    });
    expect(localProblem(refused, { what: 'listing the nodes through the VIP' })).toBe(
      'listing the nodes through the VIP failed: Unable to connect to the server: dial tcp 10.213.0.10:6443: connect: no route to host',
    );
  });
});
