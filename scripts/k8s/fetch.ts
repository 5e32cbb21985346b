// Obtain the pinned Kubernetes binaries into the user's cache (download, else build from the Go
// module proxy). Used by the set-up script:
//   npx tsx scripts/k8s/fetch.ts [--version vX.Y.Z] [--from auto|download|build]
//                                [--toolchain upstream|local] [--verbose]
// Prints progress and the final location; on failure prints the error and its fix (exit 1).

import { statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { toErrorInfo, isCancelled } from '../../provisioning/errors.ts';
import {
  ensureArtifacts,
  K8S_COMPONENTS,
  KUBERNETES_VERSION,
  parseVersion,
} from '../../provisioning/artifacts/kubernetes.ts';

const USAGE = `usage: npx tsx scripts/k8s/fetch.ts [--version vX.Y.Z] [--from auto|download|build]
                                  [--toolchain upstream|local] [--verbose]

Puts kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubeadm, kubelet and
kubemark ${KUBERNETES_VERSION} (or --version) in \${XDG_CACHE_HOME:-~/.cache}/halab/kubernetes/<version>/bin
(HALAB_CACHE_DIR overrides the cache root). Builds use the Go release upstream builds that
Kubernetes version with (fetched through the Go module proxy) unless --toolchain local.
--verbose prints every line go writes.`;

/** `go build -v` / `go list` name one package per line: counted, not printed. */
const PACKAGE_LINE = /^[A-Za-z0-9_.~+-]+(\/[A-Za-z0-9_.~+-]+)*$/;

function fmtTime(s: number): string {
  const m = Math.floor(s / 60);
  return m ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(1)}s`;
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        version: { type: 'string' },
        from: { type: 'string', default: 'auto' },
        toolchain: { type: 'string', default: 'upstream' },
        verbose: { type: 'boolean', short: 'v', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }).values;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const from = args.from;
  if (from !== 'auto' && from !== 'download' && from !== 'build') {
    process.stderr.write(`--from must be auto, download or build\n${USAGE}\n`);
    return 2;
  }
  const toolchain = args.toolchain;
  if (toolchain !== 'upstream' && toolchain !== 'local') {
    process.stderr.write(`--toolchain must be upstream or local\n${USAGE}\n`);
    return 2;
  }
  const version = args.version ?? KUBERNETES_VERSION;

  const ac = new AbortController();
  let interrupts = 0;
  process.on('SIGINT', () => {
    if (++interrupts > 1) process.exit(130);
    process.stderr.write('\ninterrupted: stopping (Ctrl-C again to quit at once)\n');
    ac.abort();
  });
  process.on('SIGTERM', () => ac.abort());

  const t0 = performance.now();
  const elapsed = () => fmtTime((performance.now() - t0) / 1000);
  let compiled = 0;
  let downloads = 0;
  const onLog = (line: string) => {
    if (args.verbose) {
      process.stdout.write(`${line}\n`);
      return;
    }
    if (line.startsWith('go: downloading ')) {
      if (++downloads % 50 === 0) process.stdout.write(`  [${elapsed()}] ${downloads} modules downloaded\n`);
      return;
    }
    if (PACKAGE_LINE.test(line)) {
      if (++compiled % 250 === 0) process.stdout.write(`  [${elapsed()}] ${compiled} packages compiled\n`);
      return;
    }
    process.stdout.write(`[${elapsed()}] ${line}\n`);
  };

  try {
    parseVersion(version);
    process.stdout.write(`Kubernetes ${version}: ${K8S_COMPONENTS.join(', ')}\n`);
    const r = await ensureArtifacts({ version, from, toolchain, onLog, signal: ac.signal });
    for (const c of K8S_COMPONENTS) {
      const size = statSync(join(r.binDir, c)).size;
      process.stdout.write(`  ${c.padEnd(24)} ${(size / 1e6).toFixed(1).padStart(6)} MB\n`);
    }
    process.stdout.write(
      r.cached
        ? `Kubernetes ${version} already in ${r.binDir} (${r.source}; checked in ${Math.round(r.seconds * 1000)} ms)\n`
        : `Kubernetes ${version} ready in ${r.binDir} (${r.source} in ${fmtTime(r.seconds)})\n`,
    );
    return 0;
  } catch (err) {
    const info = toErrorInfo(err);
    process.stderr.write(`error: ${info.message} [${info.code}]\n`);
    if (info.details)
      process.stderr.write(
        `${info.details
          .split('\n')
          .map((l) => `  | ${l}`)
          .join('\n')}\n`,
      );
    if (info.fix) process.stderr.write(`fix: ${info.fix}\n`);
    return isCancelled(err) ? 130 : 1;
  }
}

process.exitCode = await main();
