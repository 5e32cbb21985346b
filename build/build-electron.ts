// Bundles the Electron main process (ESM, with the engine and the service inside; npm
// dependencies stay external and ship in node_modules) and the preload (CommonJS: a sandboxed
// preload cannot be an ES module) into dist-electron/.
//   npx tsx build/build-electron.ts
import { build, type BuildOptions } from 'esbuild';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const OUT = join(ROOT, 'dist-electron');

const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
  legalComments: 'none',
  absWorkingDir: ROOT,
};

export async function buildElectron(): Promise<string[]> {
  await rm(OUT, { recursive: true, force: true });
  await mkdir(OUT, { recursive: true });
  await build({
    ...common,
    entryPoints: ['electron/main.ts'],
    outfile: join(OUT, 'main.mjs'),
    format: 'esm',
    packages: 'external',
    external: ['electron'],
  });
  await build({
    ...common,
    entryPoints: ['electron/preload.ts'],
    outfile: join(OUT, 'preload.cjs'),
    format: 'cjs',
    external: ['electron'],
  });
  return [join(OUT, 'main.mjs'), join(OUT, 'preload.cjs')];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const files = await buildElectron();
  process.stdout.write(`built ${files.map((f) => f.slice(ROOT.length + 1)).join(', ')}\n`);
}
