// The runtime disk every kubeadm node starts from (what kind's node image is to kind): an ext4
// image whose containerd root already holds every image of the lab, made once per Kubernetes
// version and cached. A node's runtime disk is a sparse copy of it, grown to the spec's size,
// instead of a fresh filesystem and seven `ctr images import` (8 to 14 s per node measured here,
// against 0.3 s for the copy). containerd runs only to import, in a private mount namespace
// where the disk is at /var/lib/containerd, the path the nodes use.
import { mkdtemp, rm, truncate } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { HalabError } from '../errors.ts';
import { run } from '../exec/local.ts';
import { shq } from '../exec/types.ts';
import { ensureCached, versionDir, type CacheOptions, type Env, type EnsureResult } from './cache.ts';
import { IMAGE_INDEX, imagesDir, type ImageRef } from './images.ts';
import { checkBinaries, type BinaryCheck } from './manifest.ts';
import { runtimeBinDir } from './runtime.ts';
import { KUBERNETES_VERSION } from './version.ts';
import { readFileSync } from 'node:fs';

/** The seed's size: the smallest runtime disk a spec may ask for (a copy is grown, never shrunk). */
export const RUNTIME_SEED_SIZE = '2Gi';
const SEED_BYTES = 2 * 1024 ** 3;
const FILE = 'runtime-disk.img';
const seedSpec = (version: string) => ({
  name: 'runtime-disk',
  version,
  binaries: [FILE],
  title: `the runtime disk for Kubernetes ${version}`,
});

/** Path of the cached seed image of `version` (whether or not it is there). */
export function runtimeSeedPath(version = KUBERNETES_VERSION, env: Env = process.env): string {
  return join(versionDir(seedSpec(version), env), 'bin', FILE);
}

export function checkRuntimeSeed(version = KUBERNETES_VERSION, env: Env = process.env): BinaryCheck<string>[] {
  return checkBinaries(versionDir(seedSpec(version), env), version, [FILE]);
}

/**
 * Build (or find in the cache) the seed disk of `version` from the cached images and containerd.
 * Needs root (losetup, mount). Errors: RUNTIME_DISK_FAILED with the failing command's output.
 */
export async function ensureRuntimeSeed(o: CacheOptions & { version?: string } = {}): Promise<EnsureResult> {
  const version = o.version ?? KUBERNETES_VERSION;
  const env = o.env ?? process.env;
  const log = o.onLog ?? (() => {});
  return ensureCached(
    seedSpec(version),
    async (outDir) => {
      const t0 = performance.now();
      const img = join(outDir, FILE);
      await truncate(img, SEED_BYTES).catch(async () => {
        await run('truncate', ['-s', String(SEED_BYTES), img]);
      });
      // no lazy init: nothing zeroes inodes or the journal later on the nodes' copies
      await run('mkfs.ext4', [
        '-q',
        '-F',
        '-L',
        'halab-runtime',
        '-i',
        '65536',
        '-J',
        'size=16',
        '-E',
        'lazy_itable_init=0,lazy_journal_init=0',
        img,
      ]);
      const dev = (await run('losetup', ['--find', '--show', img])).stdout.trim();
      const work = await mkdtemp(join(dirname(outDir), 'seed-'));
      const bin = runtimeBinDir('containerd', version, env);
      const refs = JSON.parse(readFileSync(join(imagesDir(version, env), IMAGE_INDEX), 'utf8')) as ImageRef[];
      const imports = refs
        .map(
          (r) =>
            `${bin}/ctr -n k8s.io images import --platform linux/amd64 --label io.cri-containerd.image=managed ${shq(join(imagesDir(version, env), r.file))} >/dev/null`,
        )
        .join('\n');
      const script = [
        'set -e',
        // private views of /var/lib and /run: nothing of this shows on the machine
        'mount -t tmpfs halab-seed /var/lib && mkdir -p /var/lib/containerd',
        `mount -o noatime ${dev} /var/lib/containerd`,
        'mount -t tmpfs halab-seed /run && mkdir -p /run/containerd',
        `cat > /run/containerd/config.toml <<'EOF'`,
        'version = 3',
        "root = '/var/lib/containerd'",
        "state = '/run/containerd'",
        "disabled_plugins = ['io.containerd.cri.v1.runtime', 'io.containerd.grpc.v1.cri', 'io.containerd.nri.v1.nri', 'io.containerd.snapshotter.v1.btrfs', 'io.containerd.snapshotter.v1.zfs', 'io.containerd.snapshotter.v1.devmapper', 'io.containerd.snapshotter.v1.blockfile', 'io.containerd.snapshotter.v1.erofs']",
        '[grpc]',
        "  address = '/run/containerd/containerd.sock'",
        'EOF',
        `${bin}/containerd --config /run/containerd/config.toml >${shq(join(work, 'containerd.log'))} 2>&1 &`,
        'pid=$!',
        `i=0; until ${bin}/ctr version >/dev/null 2>&1; do i=$((i+1)); [ $i -gt 200 ] && { echo "containerd did not start" >&2; exit 1; }; sleep 0.05; done`,
        imports,
        'kill $pid; wait $pid || true',
        'umount /var/lib/containerd',
      ].join('\n');
      try {
        const r = await run('unshare', ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', script], {
          allowFail: true,
          timeoutMs: 600_000,
        });
        if (r.exitCode !== 0) {
          throw new HalabError('RUNTIME_DISK_FAILED', 'importing the images into the runtime disk failed', {
            details: `${r.stderr}\n${r.stdout}`.trim().split('\n').slice(-10).join('\n'),
            fix: 'run the set-up again; the images are rebuilt if they are broken',
          });
        }
      } finally {
        await run('losetup', ['-d', dev], { allowFail: true });
        await rm(work, { recursive: true, force: true });
      }
      await run('e2fsck', ['-fy', img], { allowFail: true });
      log(`${refs.length} images in the runtime disk in ${Math.round(performance.now() - t0) / 1000} s`);
      return { source: 'built', goVersion: null, compileSeconds: Math.round(performance.now() - t0) / 1000 };
    },
    o,
  );
}
