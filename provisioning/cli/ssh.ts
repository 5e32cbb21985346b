import { LabHandle } from '../engine/lab.ts';
import { shjoin } from '../exec/types.ts';
import { openShell } from '../exec/shell.ts';

/**
 * `halab ssh HOST [-- CMD...]`: one command (output streamed, its exit code returned) or an
 * interactive shell with a terminal, over ssh2 with the pinned host key.
 */
export async function sshCommand(lab: string, host: string, cmd: string[]): Promise<number> {
  const h = await LabHandle.open(lab);
  try {
    const remote = h.remote(host);
    if (cmd.length) {
      const line = cmd.length === 1 ? cmd[0]! : shjoin(cmd);
      const r = await remote.exec(line, {
        allowFail: true,
        onLine: (l, stream) => (stream === 'stdout' ? process.stdout : process.stderr).write(`${l}\n`),
      });
      return r.exitCode;
    }
    const stdin = process.stdin;
    const shell = await openShell(h, host, {
      cols: process.stdout.columns || 80,
      rows: process.stdout.rows || 24,
      term: process.env.TERM || 'xterm-256color',
    });
    return await new Promise<number>((resolve) => {
      if (stdin.isTTY) stdin.setRawMode(true);
      stdin.resume();
      const onData = (d: Buffer) => shell.write(d);
      stdin.on('data', onData);
      const onResize = () => shell.resize(process.stdout.columns || 80, process.stdout.rows || 24);
      process.stdout.on('resize', onResize);
      shell.onData((d) => process.stdout.write(d));
      shell.onExit((code) => {
        stdin.off('data', onData);
        process.stdout.off('resize', onResize);
        if (stdin.isTTY) stdin.setRawMode(false);
        stdin.pause();
        resolve(code);
      });
    });
  } finally {
    await h.close();
  }
}
