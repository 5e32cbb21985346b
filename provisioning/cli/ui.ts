// `halab ui [--port N]`: the desktop app's UI in a browser. Serves the built renderer and LabApi
// (over a WebSocket guarded by a per-start token) on 127.0.0.1 only; from another machine, use an
// SSH tunnel: ssh -L 8080:127.0.0.1:PORT this-box, then open the printed URL with port 8080.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HalabError } from '../errors.ts';
import { createLabService } from '../service/service.ts';
import { startBridge } from '../service/bridge.ts';
import type { ExtraCommand } from './extra.ts';

export const RENDERER_DIST = resolve(dirname(fileURLToPath(import.meta.url)), '../../renderer/dist');

export const uiCommand: ExtraCommand = {
  name: 'ui',
  usage: 'ui [--port N]',
  summary: 'the app in a browser: serves the UI on 127.0.0.1 with a per-start token in the URL',
  async run(input) {
    const port = input.values.port === undefined ? 0 : Number(input.values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new HalabError('USAGE', `--port ${String(input.values.port)} is not a port number`, { fix: 'e.g. halab ui --port 8080 (0 or no --port: any free port)' });
    }
    const staticDir = process.env.HALAB_UI_DIST ?? RENDERER_DIST;
    if (!existsSync(join(staticDir, 'index.html'))) {
      throw new HalabError('UI_NOT_BUILT', `the UI is not built (${staticDir} has no index.html)`, { fix: 'run `npm run build`' });
    }
    const service = createLabService();
    const bridge = await startBridge({ service, staticDir, port, log: (l) => process.stderr.write(`${l}\n`) }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') throw new HalabError('PORT_IN_USE', `port ${port} is in use on 127.0.0.1`, { fix: 'choose another with --port, or leave it out' });
      throw err;
    });
    if (input.json) process.stdout.write(`${JSON.stringify({ url: bridge.url, port: bridge.port, token: bridge.token })}\n`);
    else {
      process.stdout.write(`HA Lab UI: ${bridge.url}\n`);
      process.stderr.write('open that URL in a browser (the token in it is this run\'s key; Ctrl-C stops the UI, labs keep running)\n');
    }
    await new Promise<void>((res) => {
      const stop = () => res();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    process.stderr.write('stopping the UI: cancelling its runs, closing its terminals\n');
    await service.dispose();
    await bridge.close();
    return 0;
  },
};
