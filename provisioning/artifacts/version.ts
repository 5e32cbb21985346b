// Version math of the artifacts: Kubernetes release versions, the staging modules' matching
// release, Go toolchain versions, and the GOARCH of this machine. Pure functions.
import { HalabError } from '../errors.ts';

/** The Kubernetes release every lab runs. */
export const KUBERNETES_VERSION = 'v1.34.4';

export interface ParsedVersion {
  major: number;
  minor: number;
  patch: number;
  /** Pre-release suffix with its dash ("-rc.1"), or "". */
  pre: string;
}

/**
 * "v1.34.4" / "v1.35.0-rc.1" -> its parts.
 *
 * Errors: HalabError K8S_BAD_VERSION for anything else (no leading v, two parts, ...).
 */
export function parseVersion(version: string): ParsedVersion {
  const m = /^v(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?$/.exec(version);
  if (!m) {
    throw new HalabError('K8S_BAD_VERSION', `"${version}" is not a Kubernetes release version`, {
      fix: `use a version like ${KUBERNETES_VERSION}`,
    });
  }
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), pre: m[4] ?? '' };
}

/** The staging modules' release for a Kubernetes version: v1.34.4 -> v0.34.4. Errors: as parseVersion. */
export function stagingVersion(version: string): string {
  const v = parseVersion(version);
  return `v0.${v.minor}.${v.patch}${v.pre}`;
}

/**
 * Go's name (GOARCH) for a Node CPU architecture: x64 -> amd64.
 *
 * Errors: HalabError UNSUPPORTED_ARCH for an architecture Go does not build Linux binaries for here.
 */
export function goArch(arch: string = process.arch): string {
  const map: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
  };
  const a = map[arch];
  if (!a) throw new HalabError('UNSUPPORTED_ARCH', `no Kubernetes binaries for CPU architecture ${arch}`);
  return a;
}

/** go1.26.8 / go1.24rc1 -> [1, 26]; undefined when it is not a Go version. */
export function goMinor(goVersion: string): [number, number] | undefined {
  const m = /^go(\d+)\.(\d+)/.exec(goVersion.trim());
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** a < b for [major, minor] pairs. */
export function olderThan(a: [number, number], b: [number, number]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}
