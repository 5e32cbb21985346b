// The qemu provider's base image, built on this machine from Debian packages and cached per
// version under the artifact cache (<cache>/vm-image/<version>/bin/{root.qcow2,vmlinuz,initrd.img}).
// debootstrap (minbase + a kernel + systemd + every package of hosts/contents.ts), the files of
// image-files.ts, then `mkfs.ext4 -d` (no loop device, no mount) and `qemu-img convert` to qcow2.
// Each VM boots the kernel directly (no bootloader) on a copy-on-write overlay of root.qcow2.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ensureCached, versionDir, type CacheOptions, type EnsureResult, type Env } from '../../artifacts/cache.ts';
import { checkBinaries, type BinaryCheck } from '../../artifacts/manifest.ts';
import { HalabError } from '../../errors.ts';
import { run, type LocalRunner } from '../../exec/local.ts';
import { hostPackageNames } from '../../hosts/contents.ts';
import { imageCommands, imageFiles } from './image-files.ts';

export const IMAGE_SUITE = 'bookworm';
/** The image files in the cache's bin/ (names as the manifest records them). */
export const IMAGE_FILES = ['root.qcow2', 'vmlinuz', 'initrd.img'] as const;
/** The root filesystem's size as the guest sees it (the overlay grows only with what is written). */
export const ROOT_SIZE = '3G';
/** Packages beyond hosts/contents.ts: a kernel and an init. */
export const BASE_PACKAGES = ['linux-image-amd64', 'systemd-sysv', 'udev', 'dbus'];

/** Every package the image is built with (hosts/contents.ts plus the kernel and init). */
export function imagePackages(): string[] {
  return [...BASE_PACKAGES, ...hostPackageNames()];
}

/**
 * The image's version: the suite and a digest of what goes into it (packages, files, commands),
 * e.g. "bookworm-3f2a9c01d4e5": a change to any of them is a new version, built once.
 */
export function imageVersion(): string {
  const h = createHash('sha256')
    .update(
      JSON.stringify({ suite: IMAGE_SUITE, packages: imagePackages(), files: imageFiles(), cmds: imageCommands() }),
    )
    .digest('hex');
  return `${IMAGE_SUITE}-${h.slice(0, 12)}`;
}

const imageArtifact = (version: string) => ({
  name: 'vm-image',
  version,
  binaries: IMAGE_FILES,
  title: `the VM base image (Debian ${IMAGE_SUITE}, ${version})`,
});

/** Where the cached image of `version` is (whether or not it is there): the three files' paths. */
export function imagePaths(version = imageVersion(), env: Env = process.env) {
  const bin = join(versionDir(imageArtifact(version), env), 'bin');
  return { dir: bin, root: join(bin, 'root.qcow2'), kernel: join(bin, 'vmlinuz'), initrd: join(bin, 'initrd.img') };
}

/** Is the image of `version` cached and intact (sizes and times as its manifest records)? */
export function checkImage(version = imageVersion(), env: Env = process.env): BinaryCheck<string>[] {
  return checkBinaries(versionDir(imageArtifact(version), env), version, IMAGE_FILES);
}

/** The Debian mirror this machine's apt uses (deb822 or one-line sources), else deb.debian.org. */
export function debianMirror(read: (p: string) => string = (p) => readFileSync(p, 'utf8')): string {
  const tryRead = (p: string) => {
    try {
      return read(p);
    } catch {
      return '';
    }
  };
  const deb822 = tryRead('/etc/apt/sources.list.d/debian.sources');
  const m822 = /^URIs:\s*(\S+)/m.exec(deb822.split(/\n\s*\n/).find((b) => /Suites:.*\bbookworm\b/.test(b)) ?? '');
  if (m822) return m822[1]!;
  const line = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/m.exec(tryRead('/etc/apt/sources.list'));
  return line?.[1] ?? 'http://deb.debian.org/debian';
}

export interface BuildImageOptions extends CacheOptions {
  /** The runner for local commands (tests hand in a fake). */
  runner?: LocalRunner;
  mirror?: string;
  version?: string;
}

/**
 * The base image, built once per version (about 2 minutes: debootstrap downloads ~250 MB of
 * packages) and then taken from the cache. Needs root (debootstrap, chroot). Errors: IMAGE_BUILD
 * with the failing command's output and the fix; TOOL_MISSING for debootstrap, mkfs.ext4 or
 * qemu-img.
 */
export async function ensureImage(o: BuildImageOptions = {}): Promise<EnsureResult> {
  const version = o.version ?? imageVersion();
  const sh = o.runner ?? run;
  const log = o.onLog ?? (() => {});
  return ensureCached(
    imageArtifact(version),
    async (outDir) => {
      const t0 = performance.now();
      const work = await mkdtemp(join(dirname(dirname(outDir)), '.build-'));
      const rootfs = join(work, 'rootfs');
      const step = async (what: string, file: string, args: string[], timeoutMs = 1_200_000) => {
        const t = performance.now();
        try {
          await sh(file, args, { timeoutMs, signal: o.signal });
        } catch (err) {
          if (err instanceof HalabError && err.code === 'TOOL_MISSING') throw err;
          const e = err as { message?: string; stderr?: string; stdout?: string };
          throw new HalabError('IMAGE_BUILD', `building the VM image failed at: ${what}`, {
            details: `${e.message ?? ''}\n${(e.stderr || e.stdout || '').split('\n').slice(-15).join('\n')}`.trim(),
            fix:
              what === 'debootstrap'
                ? 'check that the Debian mirror is reachable (apt-get update), then run `npm run setup` again'
                : 'see the output above; `npm run setup` builds the image again from the start',
          });
        }
        log(`${what}: ${((performance.now() - t) / 1000).toFixed(1)} s`);
      };
      try {
        const mirror = o.mirror ?? debianMirror();
        log(`debootstrap ${IMAGE_SUITE} from ${mirror} (${imagePackages().length} packages and their dependencies)`);
        await step('debootstrap', 'debootstrap', [
          '--variant=minbase',
          `--include=${imagePackages().join(',')}`,
          IMAGE_SUITE,
          rootfs,
          mirror,
        ]);
        for (const f of imageFiles()) {
          const p = join(rootfs, f.path);
          await mkdir(dirname(p), { recursive: true });
          await rm(p, { force: true });
          await writeFile(p, f.content);
          await chmod(p, f.mode);
        }
        await step('configure', 'chroot', [rootfs, '/bin/sh', '-ec', imageCommands().join('\n')]);
        await copyFile(await realpath(join(rootfs, 'vmlinuz')), join(outDir, 'vmlinuz'));
        await copyFile(await realpath(join(rootfs, 'initrd.img')), join(outDir, 'initrd.img'));
        const raw = join(work, 'root.raw');
        await step('mkfs.ext4 -d', 'mkfs.ext4', [
          '-q',
          '-F',
          '-L',
          'halab-root',
          '-E',
          'root_owner=0:0',
          '-d',
          rootfs,
          raw,
          ROOT_SIZE,
        ]);
        await step('qemu-img convert', 'qemu-img', [
          'convert',
          '-f',
          'raw',
          '-O',
          'qcow2',
          raw,
          join(outDir, 'root.qcow2'),
        ]);
        log(`VM image ${version} built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        return { source: 'built', goVersion: null, compileSeconds: Math.round((performance.now() - t0) / 1000) };
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    },
    o,
  );
}
