// Bundles the `halab` CLI (provisioning/cli/main.ts and the engine behind it) into dist/cli/ with
// esbuild, so `bin/halab` starts without compiling TypeScript (tsx takes ~2 s per command).
// Split at every `await import(...)`: `halab --help` loads the small entry chunk only, each
// command the chunks it uses. npm packages are bundled too, but ssh2 (a native part) and the
// optional addons, resolved from node_modules at run time. bin/halab runs the bundle only while
// it is newer than every file and directory under provisioning/ and than package-lock.json (else
// the sources through tsx): the bundle's mtime is set to the moment this build started, so a
// source saved during the build also makes it stale.
//   npx tsx build/build-cli.ts        (npm run build:cli; part of npm run build and of the set-up)
import { build } from 'esbuild';
import { mkdir, rename, rm, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The directory bin/halab looks in; its entry is halab.mjs. */
export const CLI_OUT = join(ROOT, 'dist', 'cli');
export const CLI_ENTRY = join(CLI_OUT, 'halab.mjs');

/**
 * Build dist/cli/ (or `out`, a directory two levels below a tree with node_modules/). The build
 * goes to a temp directory first and is then swapped in, so a `halab` starting meanwhile sees the
 * old bundle, the new one or none (then bin/halab runs the sources), never half of one.
 * Returns the entry's path (`out`/halab.mjs).
 * Errors: esbuild's (a type-free syntax or resolution error in the sources).
 */
export async function buildCli(out: string = CLI_OUT): Promise<string> {
  const started = new Date();
  const entry = join(out, 'halab.mjs');
  const tmp = `${out}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    await build({
      absWorkingDir: ROOT,
      entryPoints: { halab: 'provisioning/cli/main.ts' },
      outdir: tmp,
      outExtension: { '.js': '.mjs' },
      chunkNames: '[name]-[hash]', // next to the entry: import.meta.url-relative paths (../../renderer) hold
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // npm packages inside the bundle too (fewer files to find and read at start: `status` uses
      // 0.35 CPU-s less), but for the native addons and the optional ones ws tries
      external: ['ssh2', 'cpu-features', 'bufferutil', 'utf-8-validate'],
      // the CommonJS packages inside call require(): give the ES module chunks one
      banner: {
        js: "import { createRequire as __halabRequire } from 'node:module'; const require = __halabRequire(import.meta.url);",
      },
      sourcemap: 'linked',
      legalComments: 'none',
      logLevel: 'warning',
    });
    const old = `${out}.old-${process.pid}`;
    await rename(out, old).catch(() => undefined);
    await rename(tmp, out);
    await rm(old, { recursive: true, force: true });
    // newer than every source as they were when the build began, older than any saved since
    await utimes(entry, started, started);
    return entry;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const entry = await buildCli();
  process.stdout.write(
    `built ${entry.slice(ROOT.length + 1)} (bin/halab runs it while it is newer than provisioning/)\n`,
  );
}
