// The container images a kubeadm lab runs, built on this machine: no registry is needed (none is
// reachable here). kubeadm says which images it wants (`kubeadm config images list`); each is
// made from binaries of the cache on an empty base, with crane (go-containerregistry) doing all
// the image work: a layer tarball goes on an empty base (`crane append`), the config gets its
// entrypoint, user and environment (`crane mutate`, which needs a registry: a throw-away one
// listens on 127.0.0.1 while this runs), and the result is written as a tarball tagged with the
// exact name kubeadm expects. Cached per Kubernetes version under <cache>/images/<version>/bin/.
//   kube-apiserver, kube-controller-manager, kube-scheduler  the static binary in /usr/local/bin
//   kube-proxy   kube-proxy + iptables (nft backend), ip6tables and conntrack from Debian 12's
//                packages with exactly the shared libraries their loader lists
//   pause        build/pause/linux/pause.c of the Kubernetes module, compiled static (as its Makefile)
//   coredns      the CoreDNS binary at the version kubeadm lists
//   agnhost      the e2e test server, with a static busybox for a shell (kubectl exec)
// etcd is not built: the lab's etcd is the external cluster on the masters' disk A.
import { mkdtemp, mkdir, rm, writeFile, symlink, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { HalabError } from '../errors.ts';
import { run } from '../exec/local.ts';
import { poll } from '../util/poll.ts';
import { ensureCached, versionDir, type CacheOptions, type Env, type EnsureResult } from './cache.ts';
import { freePort, image, kubeProxyRoot, kubernetesSource, put, tmpDir, type Work } from './image-build.ts';
import { binaryPath } from './kubernetes.ts';
import { checkBinaries, type BinaryCheck } from './manifest.ts';
import { COREDNS_VERSION, runtimeBinDir } from './runtime.ts';
import { KUBERNETES_VERSION } from './version.ts';

/** The images by their file in the cache; `images.json` maps each to its reference. */
export const IMAGE_KINDS = [
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kube-proxy',
  'pause',
  'coredns',
  'agnhost',
] as const;
export type ImageKind = (typeof IMAGE_KINDS)[number];
export const IMAGE_INDEX = 'images.json';
const FILES = [...IMAGE_KINDS.map((k) => `${k}.tar`), IMAGE_INDEX];

/** agnhost's tag in k8s.io/kubernetes v1.34 (test/images/agnhost/VERSION). */
export const AGNHOST_IMAGE = 'registry.k8s.io/e2e-test-images/agnhost:2.56';

/** Debian 12 packages the kube-proxy and agnhost images take files from (apt-get download). */
export const IMAGE_DEBS = [
  'iptables',
  'libxtables12',
  'libip4tc2',
  'libip6tc2',
  'libnftnl11',
  'libmnl0',
  'libnetfilter-conntrack3',
  'libnfnetlink0',
  'conntrack',
  'libc6',
  'netbase',
  'busybox-static',
] as const;

export interface ImageRef {
  kind: ImageKind;
  /** e.g. "registry.k8s.io/kube-apiserver:v1.34.4" */
  ref: string;
  file: string;
}

/**
 * What to build from kubeadm's list (pure): every image but etcd, by its repository's last
 * element, plus agnhost. Errors: IMAGES_UNKNOWN for an image this code cannot build (a newer
 * kubeadm listing something new), with the list.
 */
export function imagePlan(kubeadmList: string[]): ImageRef[] {
  const out: ImageRef[] = [];
  for (const ref of kubeadmList.map((l) => l.trim()).filter(Boolean)) {
    const repo = ref.replace(/:[^:/]+$/, '');
    const last = repo.split('/').pop()!;
    if (last === 'etcd') continue;
    const kind = IMAGE_KINDS.find((k) => k === last);
    if (!kind) {
      throw new HalabError('IMAGES_UNKNOWN', `kubeadm lists an image HA Lab cannot build: ${ref}`, {
        details: kubeadmList.join('\n'),
        fix: 'pin a Kubernetes version this HA Lab supports (v1.34)',
      });
    }
    out.push({ kind, ref, file: `${kind}.tar` });
  }
  out.push({ kind: 'agnhost', ref: AGNHOST_IMAGE, file: 'agnhost.tar' });
  const missing = IMAGE_KINDS.filter((k) => !out.some((o) => o.kind === k));
  if (missing.length) {
    throw new HalabError('IMAGES_UNKNOWN', `kubeadm's list lacks ${missing.join(', ')}`, {
      details: kubeadmList.join('\n'),
    });
  }
  const coredns = out.find((o) => o.kind === 'coredns')!;
  if (!coredns.ref.endsWith(`:${COREDNS_VERSION}`)) {
    throw new HalabError('IMAGES_COREDNS', `kubeadm wants ${coredns.ref}; HA Lab builds CoreDNS ${COREDNS_VERSION}`, {
      fix: 'pin COREDNS_VERSION in provisioning/artifacts/runtime.ts to the version kubeadm lists',
    });
  }
  return out;
}

/** `kubeadm config images list` of the cached kubeadm (a few hundred ms, no network). */
export async function kubeadmImageList(version = KUBERNETES_VERSION, env: Env = process.env): Promise<string[]> {
  const r = await run(binaryPath('kubeadm', version, env), [
    'config',
    'images',
    'list',
    '--kubernetes-version',
    version,
  ]);
  return r.stdout.split('\n').filter((l) => l.trim());
}

const imagesSpec = (version: string) => ({
  name: 'images',
  version,
  binaries: FILES,
  title: `images for Kubernetes ${version}`,
});

/** Where the image tarballs of `version` are (bin/<kind>.tar and bin/images.json). */
export function imagesDir(version = KUBERNETES_VERSION, env: Env = process.env): string {
  return join(versionDir(imagesSpec(version), env), 'bin');
}

/** Cheap checks of the image cache (sizes and mtimes against its manifest). */
export function checkImages(version = KUBERNETES_VERSION, env: Env = process.env): BinaryCheck<string>[] {
  return checkBinaries(versionDir(imagesSpec(version), env), version, FILES);
}

/**
 * Build every image kubeadm `version` lists (but etcd) plus agnhost into the cache, or return the
 * cached build. Needs, in the cache: the Kubernetes binaries, crane, CoreDNS, agnhost
 * (runtime.ts); on this machine: gcc with a static libc (libc6-dev), tar, chroot, and Debian's
 * package lists (`apt-get download` of IMAGE_DEBS).
 *
 * Errors: IMAGES_UNKNOWN / IMAGES_COREDNS (kubeadm wants something else); IMAGES_DEBS (apt-get
 * download failed: the fix says `apt-get update`); IMAGES_BUILD_FAILED; COMMAND_FAILED of a tool;
 * CANCELLED.
 */
export async function ensureImages(o: CacheOptions & { version?: string } = {}): Promise<EnsureResult> {
  const version = o.version ?? KUBERNETES_VERSION;
  const env = o.env ?? process.env;
  const log = o.onLog ?? (() => {});
  return ensureCached(
    imagesSpec(version),
    async (outDir) => {
      const t0 = performance.now();
      const plan = imagePlan(await kubeadmImageList(version, env));
      const root = await mkdtemp(join(dirname(outDir), 'work-'));
      const debs = join(root, 'debs');
      const debroot = join(root, 'debroot');
      await mkdir(debs);
      await mkdir(debroot);
      const dl = await run('apt-get', ['download', ...IMAGE_DEBS], { cwd: debs, allowFail: true });
      if (dl.exitCode !== 0) {
        throw new HalabError('IMAGES_DEBS', `apt-get download of ${IMAGE_DEBS.join(' ')} failed`, {
          details: dl.stderr.trim().split('\n').slice(-5).join('\n'),
          fix: 'run `apt-get update` (the package lists must know these Debian 12 packages), then again',
        });
      }
      for (const f of await readdir(debs)) await run('dpkg-deb', ['-x', join(debs, f), debroot]);
      const port = await freePort();
      const registry = `127.0.0.1:${port}`;
      const crane = join(runtimeBinDir('crane', version, env), 'crane');
      const server = (await import('execa')).execa(crane, ['registry', 'serve', '--address', registry], {
        reject: false,
        stdio: 'ignore',
      });
      const w: Work = { root, debroot, crane, registry, outDir, log };
      try {
        await poll({
          what: `crane's throw-away registry on ${registry}`,
          check: async () => (await fetch(`http://${registry}/v2/`).catch(() => undefined))?.ok === true,
          timeoutMs: 15_000,
          intervalMs: 100,
          signal: o.signal,
        });
        const ref = (k: ImageKind) => plan.find((p) => p.kind === k)!.ref;
        for (const c of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const) {
          await put(join(root, c), `usr/local/bin/${c}`, binaryPath(c, version, env));
          await tmpDir(root, c);
          await image(w, c, ref(c), [`/usr/local/bin/${c}`]);
        }
        await kubeProxyRoot(w, binaryPath('kube-proxy', version, env));
        await image(w, 'kube-proxy', ref('kube-proxy'), ['/usr/local/bin/kube-proxy']);
        const src = await kubernetesSource(version, env);
        await mkdir(join(root, 'pause'), { recursive: true });
        // as build/pause/Makefile builds it
        await run('gcc', [
          '-Os',
          '-Wall',
          '-Werror',
          '-static',
          `-DVERSION=${ref('pause').split(':').pop()}-halab`,
          '-o',
          join(root, 'pause', 'pause'),
          join(src, 'build/pause/linux/pause.c'),
        ]);
        await run('strip', [join(root, 'pause', 'pause')]);
        await image(w, 'pause', ref('pause'), ['/pause'], ['-u', '65535:65535']);
        await put(join(root, 'coredns'), 'coredns', join(runtimeBinDir('coredns', version, env), 'coredns'));
        await put(join(root, 'coredns'), 'etc/ssl/certs/ca-certificates.crt', '/etc/ssl/certs/ca-certificates.crt');
        await image(w, 'coredns', ref('coredns'), ['/coredns']);
        const ag = join(root, 'agnhost');
        await put(ag, 'agnhost', join(runtimeBinDir('agnhost', version, env), 'agnhost'));
        await symlink('agnhost', join(ag, 'agnhost-2'));
        await put(ag, 'bin/busybox', join(debroot, 'bin/busybox'));
        // every applet busybox has (sh, wget, nslookup, timeout, date...); its `wget -T` crashes: use `timeout N wget`
        const applets = (await run(join(debroot, 'bin/busybox'), ['--list'])).stdout
          .split('\n')
          .filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== 'busybox');
        for (const a of applets) await symlink('busybox', join(ag, 'bin', a)).catch(() => undefined);
        for (const f of ['protocols', 'services']) await put(ag, `etc/${f}`, join(debroot, 'etc', f));
        await tmpDir(root, 'agnhost');
        await image(w, 'agnhost', ref('agnhost'), ['/agnhost'], ['--cmd', 'pause']);
      } finally {
        server.kill('SIGKILL');
        await server.catch(() => undefined);
        await rm(root, { recursive: true, force: true });
      }
      await writeFile(join(outDir, IMAGE_INDEX), `${JSON.stringify(plan, null, 2)}\n`);
      log(`${plan.length} images in ${Math.round(performance.now() - t0) / 1000} s`);
      return { source: 'built', goVersion: null, compileSeconds: Math.round(performance.now() - t0) / 1000 };
    },
    o,
  );
}
