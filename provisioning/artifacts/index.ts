// The artifact cache: the binaries a lab runs, at pinned versions, downloaded or built from the
// Go module proxy, cached under ${XDG_CACHE_HOME:-~/.cache}/halab/<name>/<version>/.
//   kubernetes.ts        the Kubernetes components (download, else build): ensureArtifacts, checkArtifacts
//   go-build.ts          any Go module's packages, built and cached: ensureGoBinaries, buildGoModule
//   cache.ts             the cache itself: a version directory, its lock, atomic install (ensureCached)
//   manifest.ts          manifest.json and the checks of a version directory against it
//   download.ts          downloads checked against published sha256 files
//   go-toolchain.ts      finding and choosing the Go toolchain
//   kubernetes-build.ts  the Kubernetes specifics of the build (staging modules, version stamps)
//   version.ts           version math (Kubernetes, staging, Go, GOARCH)
//   gomod.ts             a small go.mod reader, and the helper go.mod writer
export * from './kubernetes.ts';
export { cacheRoot, ensureCached, versionDir, type ArtifactSpec, type CacheOptions, type Obtained } from './cache.ts';
export {
  binaryName,
  buildGoModule,
  ensureGoBinaries,
  goModDir,
  type GoArtifact,
  type GoArtifactOptions,
  type GoModuleBuild,
} from './go-build.ts';
export { findGo } from './go-toolchain.ts';
export { parseGoMod, renderHelperModule, type HelperModule } from './gomod.ts';
export { checkBinaries, readManifest, type BinaryCheck } from './manifest.ts';
export { goArch, stagingVersion } from './version.ts';
