// The pieces of a locally built image (images.ts builds each kubeadm image from them): a
// reproducible layer from a directory, crane's append + mutate through a throw-away registry,
// the file trees (a binary put in place, a /tmp, kube-proxy's iptables with the libraries
// Debian's loader lists), and the Kubernetes module's source (for the pause image).
import { copyFile, chmod, mkdir, readdir, symlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { HalabError } from '../errors.ts';
import { run } from '../exec/local.ts';
import type { Env } from './cache.ts';
import { findGo } from './go-toolchain.ts';
import { KUBERNETES_MODULE } from './kubernetes.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A reproducible layer: sorted, owned by root, mtime 0 (GNU tar). */
export async function layer(dir: string): Promise<string> {
  await run('tar', [
    '--sort=name',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--mtime=@0',
    '-C',
    dir,
    '-cf',
    `${dir}.tar`,
    '.',
  ]);
  return `${dir}.tar`;
}

export interface Work {
  root: string;
  debroot: string;
  crane: string;
  registry: string;
  outDir: string;
  log: (l: string) => void;
}

export async function image(
  w: Work,
  name: string,
  ref: string,
  entrypoint: string[],
  extra: string[] = [],
): Promise<void> {
  const t0 = performance.now();
  const tar = await layer(join(w.root, name));
  await run(w.crane, [
    'append',
    '--oci-empty-base',
    '--platform',
    'linux/amd64',
    '-f',
    tar,
    '-t',
    `${w.registry}/${name}:build`,
  ]);
  await run(w.crane, [
    'mutate',
    `${w.registry}/${name}:build`,
    '--set-platform',
    'linux/amd64',
    '--entrypoint',
    entrypoint.join(','),
    '-e',
    'PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin',
    ...extra,
    '-t',
    ref,
    '-o',
    join(w.outDir, `${name}.tar`),
  ]);
  w.log(`${ref}: ${Math.round(performance.now() - t0) / 1000} s`);
}

/** Copy the binary `src` to `<root>/<rel>` (directories made), executable. */
export async function put(root: string, rel: string, src: string) {
  await mkdir(dirname(join(root, rel)), { recursive: true });
  await copyFile(src, join(root, rel));
  await chmod(join(root, rel), 0o755);
}

export async function tmpDir(root: string, name: string) {
  const d = join(root, name, 'tmp');
  await mkdir(d, { recursive: true });
  await chmod(d, 0o1777);
}

/** kube-proxy + iptables/ip6tables (nft) + conntrack, with the libraries the Debian loader lists. */
export async function kubeProxyRoot(w: Work, kubeProxy: string) {
  const kp = join(w.root, 'kube-proxy');
  const deb = w.debroot;
  await put(kp, 'usr/local/bin/kube-proxy', kubeProxy);
  await put(kp, 'usr/sbin/xtables-nft-multi', join(deb, 'usr/sbin/xtables-nft-multi'));
  await put(kp, 'usr/sbin/conntrack', join(deb, 'usr/sbin/conntrack'));
  for (const l of [
    'iptables',
    'iptables-save',
    'iptables-restore',
    'ip6tables',
    'ip6tables-save',
    'ip6tables-restore',
  ]) {
    await symlink('xtables-nft-multi', join(kp, 'usr/sbin', l)); // what Debian's alternatives link (nft is its default)
  }
  const loader = join(deb, 'lib64/ld-linux-x86-64.so.2');
  const libPath = `${join(deb, 'lib/x86_64-linux-gnu')}:${join(deb, 'usr/lib/x86_64-linux-gnu')}`;
  const xt = join(deb, 'usr/lib/x86_64-linux-gnu/xtables');
  const modules = (await readdir(xt)).filter((f) => f.endsWith('.so')).map((f) => join(xt, f));
  const libs = new Set<string>();
  for (const bin of [join(deb, 'usr/sbin/xtables-nft-multi'), join(deb, 'usr/sbin/conntrack'), ...modules]) {
    const r = await run(loader, ['--library-path', libPath, '--list', bin]);
    for (const m of r.stdout.matchAll(/=> (\/\S+)/g)) libs.add(m[1]!);
  }
  for (const l of libs) {
    if (!l.startsWith(`${deb}/`)) {
      throw new HalabError('IMAGES_BUILD_FAILED', `kube-proxy's image needs ${l}, which is not from Debian's packages`);
    }
    await put(kp, l.slice(deb.length + 1), l);
  }
  await put(kp, 'lib64/ld-linux-x86-64.so.2', loader);
  await run('cp', ['-a', xt, join(kp, 'usr/lib/x86_64-linux-gnu/')]);
  for (const f of ['protocols', 'services']) await put(kp, `etc/${f}`, join(deb, 'etc', f));
  await tmpDir(w.root, 'kube-proxy');
  for (const d of ['run', 'var/run']) await mkdir(join(kp, d), { recursive: true });
  // it must run where it will run: in its own root
  await run('chroot', [kp, '/usr/sbin/iptables', '--version']);
  await run('chroot', [kp, '/usr/sbin/conntrack', '--version']);
}

/** The Kubernetes module's source directory (downloaded by the Kubernetes build). */
export async function kubernetesSource(version: string, env: Env): Promise<string> {
  const go = findGo(env);
  if (!go) throw new HalabError('GO_MISSING', 'go is needed to find the Kubernetes source for the pause image');
  const r = await run(go, ['mod', 'download', '-json', `${KUBERNETES_MODULE}@${version}`], { extendEnv: true });
  const dir = (JSON.parse(r.stdout) as { Dir?: string }).Dir;
  if (!dir)
    throw new HalabError(
      'IMAGES_BUILD_FAILED',
      `go mod download did not give the source of ${KUBERNETES_MODULE}@${version}`,
    );
  return dir;
}
