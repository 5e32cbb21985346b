// Running a command "on" a netns host before SSH exists (and for provider actions): nsenter into
// its network, mount and UTS namespaces, and its PID namespace once it has booted.
import type { LabState } from '../../api/types.ts';
import { run } from '../../exec/local.ts';
import { shq } from '../../exec/types.ts';
import { netnsPaths, nsName } from './names.ts';
import { nsInode, procAlive } from './proc.ts';
import { netnsHost } from './state.ts';

/** argv prefix that runs a command on host `h`. */
export function enterArgv(state: LabState, dir: string, h: string): string[] {
  const hs = netnsHost(state, h);
  if (procAlive(hs.initPid) && nsInode(hs.initPid!, 'net') === hs.netnsInode) {
    return ['nsenter', '-t', String(hs.initPid), '--pid', '--net', '--mount', '--uts', '--'];
  }
  const p = netnsPaths(dir);
  return ['nsenter', `--net=/run/netns/${nsName(state.name, h)}`, `--mount=${p.mnt(h)}`, `--uts=${p.uts(h)}`, '--'];
}

/** Run a shell script on host `h` (sh -e), with optional stdin; throws CommandError on failure. */
export async function hostSh(state: LabState, dir: string, h: string, script: string, input?: string) {
  const [file, ...args] = [...enterArgv(state, dir, h), '/bin/sh', '-ec', script];
  return run(file as string, args, { input, timeoutMs: 60_000 });
}

/** Write a file on host `h` atomically (temp + rename) with `mode`, creating its directory. */
export async function hostWrite(
  state: LabState,
  dir: string,
  h: string,
  path: string,
  content: string | Buffer,
  mode: number,
) {
  const tmp = `${path}.halab-tmp`;
  await hostSh(
    state,
    dir,
    h,
    `mkdir -p "$(dirname ${shq(path)})" && cat > ${shq(tmp)} && chmod ${mode.toString(8)} ${shq(tmp)} && mv ${shq(tmp)} ${shq(path)}`,
    String(content),
  );
}
