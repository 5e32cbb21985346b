// `halab ui [--port N]`: the desktop app's UI in a browser. Serves the built renderer and LabApi
// (over a WebSocket guarded by a per-start token) on 127.0.0.1 only; from another machine, use an
// SSH tunnel: ssh -L 8080:127.0.0.1:PORT this-box, then open the printed URL with port 8080.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HalabError } from '../errors.ts';
import { createLabService } from '../service/service.ts';
import { startBridge } from '../service/bridge.ts';
import type { CommandInput } from './extra.ts';

// the same from the sources (provisioning/cli/) and from the bundle (dist/cli/)
export const RENDERER_DIST = resolve(dirname(fileURLToPath(import.meta.url)), '../../renderer/dist');

/** A running UI server: its URL (with the token), port and token, and how to stop it. */
export interface UiServer {
  url: string;
  port: number;
  token: string;
  /** Cancel the service's runs, close its terminals, stop listening. */
  stop(): Promise<void>;
}

/** The --port value: 0 (any free port) when absent. Errors: USAGE. */
export function parsePort(value: unknown): number {
  const port = value === undefined ? 0 : Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new HalabError('USAGE', `--port ${String(value)} is not a port number`, {
      fix: 'e.g. --port 8080 (0 or no --port: any free port)',
    });
  }
  return port;
}

/**
 * Serve the built renderer and LabApi on 127.0.0.1:`port` (0: any free port).
 * Errors: UI_NOT_BUILT (no renderer/dist/index.html), PORT_IN_USE.
 */
export async function serveUi(port: number, log: (line: string) => void = () => {}): Promise<UiServer> {
  const staticDir = process.env.HALAB_UI_DIST ?? RENDERER_DIST;
  if (!existsSync(join(staticDir, 'index.html'))) {
    throw new HalabError('UI_NOT_BUILT', `the UI is not built (${staticDir} has no index.html)`, {
      fix: 'run `npm run build`',
    });
  }
  const service = createLabService();
  const bridge = await startBridge({ service, staticDir, port, log }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EADDRINUSE')
      throw new HalabError('PORT_IN_USE', `port ${port} is in use on 127.0.0.1`, {
        fix: 'choose another with --port, or leave it out',
      });
    throw err;
  });
  return {
    url: bridge.url,
    port: bridge.port,
    token: bridge.token,
    async stop() {
      await service.dispose();
      await bridge.close();
    },
  };
}

/** Resolves at the first SIGINT or SIGTERM. */
export function interrupted(): Promise<void> {
  return new Promise<void>((res) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      res();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/** `halab ui [--port N] [--json]`: serve until Ctrl-C. */
export async function uiCommand(input: CommandInput): Promise<number> {
  const ui = await serveUi(parsePort(input.values.port), (l) => process.stderr.write(`${l}\n`));
  if (input.json) process.stdout.write(`${JSON.stringify({ url: ui.url, port: ui.port, token: ui.token })}\n`);
  else {
    process.stdout.write(`HA Lab UI: ${ui.url}\n`);
    process.stderr.write(
      "open that URL in a browser (the token in it is this run's key; Ctrl-C stops the UI, labs keep running)\n",
    );
  }
  await interrupted();
  process.stderr.write('stopping the UI: cancelling its runs, closing its terminals\n');
  await ui.stop();
  return 0;
}
