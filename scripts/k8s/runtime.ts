// Build what the kubeadm bootstrap runs besides the Kubernetes binaries (needs them first) into the
// user's cache: containerd, the CNI plugins, crictl, crane, CoreDNS, agnhost from the Go module
// proxy; the images kubeadm lists (plus agnhost); the runtime disk with those images. Each is
// skipped when cached. Used by the set-up script:  npx tsx scripts/k8s/runtime.ts [--verbose]
// Prints progress; on failure prints the error and its fix (exit 1).
import { ensureImages } from '../../provisioning/artifacts/images.ts';
import { ensureRuntimeArtifact, RUNTIME_ARTIFACT_NAMES } from '../../provisioning/artifacts/runtime.ts';
import { ensureRuntimeSeed } from '../../provisioning/artifacts/runtime-disk.ts';
import { toErrorInfo } from '../../provisioning/errors.ts';

const verbose = process.argv.includes('--verbose') || process.argv.includes('-v');
const t0 = Date.now();
const stamp = () => `[${((Date.now() - t0) / 1000).toFixed(1)}s]`;
let packages = 0;
const onLog = (l: string) => {
  // go names one package per line while it compiles: counted, not printed
  if (/^[A-Za-z0-9_.~+-]+(\/[A-Za-z0-9_.~+-]+)*$/.test(l)) {
    if (++packages % 100 === 0) process.stdout.write(`  ${stamp()} ${packages} packages compiled\n`);
    if (!verbose) return;
  }
  process.stdout.write(`${stamp()} ${l}\n`);
};

try {
  for (const a of RUNTIME_ARTIFACT_NAMES) {
    packages = 0;
    const r = await ensureRuntimeArtifact(a, { onLog });
    process.stdout.write(
      `${stamp()} ${a}: ${r.cached ? 'cached' : `built in ${r.seconds.toFixed(1)} s`} (${r.binDir})\n`,
    );
  }
  const im = await ensureImages({ onLog });
  process.stdout.write(
    `${stamp()} images: ${im.cached ? 'cached' : `built in ${im.seconds.toFixed(1)} s`} (${im.binDir})\n`,
  );
  const seed = await ensureRuntimeSeed({ onLog });
  process.stdout.write(
    `${stamp()} runtime disk: ${seed.cached ? 'cached' : `built in ${seed.seconds.toFixed(1)} s`} (${seed.binDir})\n`,
  );
} catch (err) {
  const e = toErrorInfo(err);
  process.stderr.write(`error: ${e.message}\n${e.details ? `${e.details}\n` : ''}${e.fix ? `fix: ${e.fix}\n` : ''}`);
  process.exit(1);
}
