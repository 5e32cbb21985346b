// What a failure to read a host means to the user, as one sentence for a status line, a map card
// or a drill check: never the shell command that was sent, never a stack trace.
import { CommandError, HalabError, toErrorInfo } from '../errors.ts';

/** "5 s", "0.5 s". */
function secs(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/** The last meaningful line of a tool's output (etcd's JSON log lines skipped), at most 160 characters. */
function lastLine(text: string): string {
  const line =
    text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('{"level"'))
      .pop() ?? '';
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

/**
 * One sentence for an error met while reading `host` (its services, keepalived, HAProxy, etcd...).
 *  - a connect or a connection that failed (SSH_TIMEOUT, SSH_CONNECT, SSH_CONNECTION_LOST, host
 *    key, powered off): the engine's own message, which names the host ("m1: not answering for 5 s");
 *  - a command that got no answer within `timeoutMs`: "<host>: not answering for N s";
 *  - a command that failed: "<what> failed on <host>: <the last line it printed>".
 * `what` names what was asked in the user's words ("its service states"), never the command.
 */
export function hostProblem(host: string, err: unknown, o: { timeoutMs?: number; what?: string } = {}): string {
  if (err instanceof CommandError) {
    if (err.code === 'CANCELLED') return `reading ${host} was cancelled`;
    if (err.code === 'COMMAND_TIMEOUT')
      return o.timeoutMs ? `${host}: not answering for ${secs(o.timeoutMs)}` : `${host}: not answering`;
    const why =
      lastLine(`${err.stderr}\n${err.stdout}`) || (err.exitCode === null ? 'killed' : `exit code ${err.exitCode}`);
    return `${o.what ?? 'reading the host'} failed on ${host}: ${why}`;
  }
  if (err instanceof HalabError) return err.message;
  return `${host}: ${toErrorInfo(err).message}`;
}

/**
 * One sentence for an error of a command run on this machine (kubectl through the VIP, say):
 * "<what>: no answer within N s", "<what> failed: <the last line it printed>", or the engine's
 * own message; never the command line.
 */
export function localProblem(err: unknown, o: { what: string; timeoutMs?: number }): string {
  if (err instanceof CommandError) {
    if (err.host) return hostProblem(err.host, err, o);
    if (err.code === 'COMMAND_TIMEOUT')
      return o.timeoutMs ? `${o.what}: no answer within ${secs(o.timeoutMs)}` : `${o.what}: no answer in time`;
    if (err.code === 'CANCELLED') return `${o.what}: cancelled`;
    return `${o.what} failed: ${lastLine(`${err.stderr}\n${err.stdout}`) || `exit code ${err.exitCode}`}`;
  }
  return toErrorInfo(err).message;
}
