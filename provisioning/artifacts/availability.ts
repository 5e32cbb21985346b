// Can this machine have Kubernetes at a given version, and how soon? `halab plan` asks before
// anything is built (issue 11, case 6: `kubernetesVersion: v1.99.0` was accepted, and only `up`
// failed, minutes later, in the build):
//   cached     every binary is in the cache and matches its manifest: `up` uses it at once;
//   buildable  the Go module proxy serves k8s.io/kubernetes at that version: the first `up`
//              downloads the official release or builds it from the proxy (minutes);
//   missing    the proxy says that version does not exist: no `up` can get it;
//   unknown    not cached, and the proxy could not be asked (offline, GOPROXY=off).
import type { Env } from './cache.ts';
import { checkArtifacts, KUBERNETES_MODULE } from './kubernetes.ts';
import { parseVersion } from './version.ts';
import { HalabError } from '../errors.ts';

export type BinariesState = 'cached' | 'buildable' | 'missing' | 'unknown';

export interface BinariesAvailability {
  version: string;
  state: BinariesState;
  /** One sentence: where they are, where they would come from, or why not. */
  detail: string;
}

export const DEFAULT_GOPROXY = 'https://proxy.golang.org';

/** The first proxy URL of a GOPROXY list ("https://a,https://b|direct"); undefined for off/direct only. */
export function firstProxy(goproxy: string | undefined): string | undefined {
  const list = (goproxy?.trim() || DEFAULT_GOPROXY).split(/[,|]/).map((x) => x.trim());
  return list.find((x) => /^https?:\/\//.test(x))?.replace(/\/+$/, '');
}

/** A module path as the proxy protocol spells it (capitals escaped as !lower). */
function escapePath(p: string): string {
  return p.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`);
}

export interface AvailabilityOptions {
  env?: Env;
  fetch?: typeof globalThis.fetch;
  /** How long the proxy may take to answer, ms (default 5000). */
  timeoutMs?: number;
}

/**
 * Whether Kubernetes `version` is cached, can be obtained, or does not exist (see the file
 * comment). Never throws for a version or a network problem: each is a state with its reason.
 */
export async function kubernetesAvailability(
  version: string,
  o: AvailabilityOptions = {},
): Promise<BinariesAvailability> {
  const env = o.env ?? process.env;
  try {
    parseVersion(version);
  } catch (err) {
    return {
      version,
      state: 'missing',
      detail: `Kubernetes ${version} does not exist: ${err instanceof HalabError ? err.message : String(err)}`,
    };
  }
  const checks = checkArtifacts(version, { env });
  if (checks.every((c) => c.ok)) {
    return {
      version,
      state: 'cached',
      detail: `Kubernetes ${version}: cached on this machine (${checks.length} binaries, checked)`,
    };
  }
  const proxy = firstProxy(env.GOPROXY);
  if (!proxy) {
    return {
      version,
      state: 'unknown',
      detail: `Kubernetes ${version}: not cached, and GOPROXY (${env.GOPROXY}) names no module proxy to ask whether it exists`,
    };
  }
  const url = `${proxy}/${escapePath(KUBERNETES_MODULE)}/@v/${version}.info`;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), o.timeoutMs ?? 5000);
  try {
    const r = await (o.fetch ?? globalThis.fetch)(url, { signal: ac.signal });
    const body = (await r.text()).trim();
    if (r.ok) {
      let when = '';
      try {
        const t = (JSON.parse(body) as { Time?: string }).Time;
        if (t) when = ` (released ${t.slice(0, 10)})`;
      } catch {
        /* no date */
      }
      return {
        version,
        state: 'buildable',
        detail: `Kubernetes ${version}: not cached; the Go module proxy has ${KUBERNETES_MODULE} ${version}${when}, so the first \`up\` downloads the official binaries or builds them from it (a build takes 8 to 20 minutes on 2 cores)`,
      };
    }
    // proxy.golang.org: 404/410 "not found: unknown revision"; some mirrors: 403 "not available"
    if (
      r.status === 404 ||
      r.status === 410 ||
      /not available|not found|unknown revision|invalid version/i.test(body)
    ) {
      return {
        version,
        state: 'missing',
        detail: `Kubernetes ${version} does not exist: the Go module proxy (${proxy}) has no ${KUBERNETES_MODULE} ${version} (${body.split('\n')[0]?.slice(0, 120) || `HTTP ${r.status}`})`,
      };
    }
    return {
      version,
      state: 'unknown',
      detail: `Kubernetes ${version}: not cached, and the Go module proxy (${proxy}) answered HTTP ${r.status} when asked about it`,
    };
  } catch (err) {
    return {
      version,
      state: 'unknown',
      detail: `Kubernetes ${version}: not cached, and the Go module proxy (${proxy}) did not answer (${ac.signal.aborted ? `no answer within ${Math.round((o.timeoutMs ?? 5000) / 1000)} s` : (err as Error).message}): cannot tell whether it exists`,
    };
  } finally {
    clearTimeout(timer);
  }
}
