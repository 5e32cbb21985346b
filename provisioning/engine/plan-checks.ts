// What `halab plan` (and `up`, and the app) checks about a valid spec beyond its own fields:
// that the provider and the bootstrap can honour every field (the bootstrap's specIssues), and
// whether the Kubernetes binaries of its version are cached, can be obtained, or do not exist.
import type { LabSpec, SpecIssue } from '../api/types.ts';
import { kubernetesAvailability, type BinariesAvailability } from '../artifacts/availability.ts';
import { getBootstrap } from '../bootstraps/index.ts';
import type { Bootstrap } from '../bootstraps/types.ts';
import { PROVIDERS } from '../providers/index.ts';

export interface PlanChecks {
  /** Errors (the spec is refused) and warnings, each with its path and fix. */
  issues: SpecIssue[];
  /** Whether the version's binaries are cached, can be built, or do not exist. */
  binaries: BinariesAvailability;
}

export interface PlanCheckOptions {
  bootstrap?: Bootstrap;
  /** Test hook: the availability lookup (default: the cache, then the Go module proxy). */
  availability?: (version: string) => Promise<BinariesAvailability>;
}

/**
 * The checks of a spec that already passed validateSpec (see the file comment). Never throws:
 * a lookup that cannot be done is a warning with the reason.
 */
export async function planChecks(spec: LabSpec, o: PlanCheckOptions = {}): Promise<PlanChecks> {
  const issues: SpecIssue[] = [];
  const provider = PROVIDERS.find((p) => p.name === spec.provider);
  if (!provider?.available) {
    issues.push({
      severity: 'error',
      path: 'provider',
      message: `provider ${spec.provider} is not available in this version`,
      fix: `use provider: ${PROVIDERS.filter((p) => p.available)
        .map((p) => p.name)
        .join(' or ')}`,
    });
  }
  issues.push(...(o.bootstrap ?? getBootstrap(spec.bootstrap)).specIssues(spec));
  const binaries = await (o.availability ?? ((v: string) => kubernetesAvailability(v)))(spec.kubernetesVersion);
  if (binaries.state === 'missing') {
    issues.push({
      severity: 'error',
      path: 'kubernetesVersion',
      message: binaries.detail,
      fix: 'use a released version, e.g. v1.34.4 (the one HA Lab is tested with)',
    });
  } else if (binaries.state === 'unknown') {
    issues.push({
      severity: 'warning',
      path: 'kubernetesVersion',
      message: binaries.detail,
      fix: 'check the network (or GOPROXY) and run `halab plan` again; a version that does not exist fails `up` in its first step',
    });
  } else if (binaries.state === 'buildable') {
    issues.push({
      severity: 'warning',
      path: 'kubernetesVersion',
      message: binaries.detail,
      fix: 'to avoid the wait, use the cached version (`halab doctor` lists it), or run `npm run setup` first',
    });
  }
  return { issues, binaries };
}
