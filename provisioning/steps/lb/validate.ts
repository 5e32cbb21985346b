// Every config is checked by the real tool, on the LB itself, before it replaces the live one:
// HAProxy must see the CA file and keepalived must see eth0 (`keepalived -t` elsewhere says "Unknown interface!"), which only the
// host has. The candidate sits next to the live file, so promoting it is an atomic rename.

import { HalabError } from '../../errors.ts';
import type { Remote } from '../../exec/types.ts';
import { LB_PATHS } from './model.ts';

export type LbTool = 'haproxy' | 'keepalived';

export const VALIDATORS: Record<LbTool, { path: string; command: (file: string) => string; describe: string }> = {
  // -dW: zero-warning mode, a warning fails the check too (the template is ours: it has none)
  haproxy: { path: LB_PATHS.haproxyCfg, command: (f) => `/usr/sbin/haproxy -c -dW -f ${f}`, describe: 'haproxy -c' },
  // keepalived -t exits non-zero on warnings as well (e.g. a rounded advert_int)
  keepalived: {
    path: LB_PATHS.keepalivedConf,
    command: (f) => `/usr/sbin/keepalived -t -f ${f}`,
    describe: 'keepalived -t',
  },
};

export function candidatePath(tool: LbTool): string {
  return `${VALIDATORS[tool].path}.halab-candidate`;
}

/**
 * Upload `content` as the candidate config on the host and run the tool's own check there.
 * Invalid: the candidate is removed and a CONFIG_INVALID HalabError carries the tool's output.
 */
export async function stageAndValidate(remote: Remote, tool: LbTool, content: string): Promise<void> {
  const v = VALIDATORS[tool];
  const cand = candidatePath(tool);
  await remote.exec(`mkdir -p ${v.path.replace(/\/[^/]+$/, '')}`);
  await remote.upload(cand, content, 0o644);
  const r = await remote.exec(v.command(cand), { allowFail: true, timeoutMs: 60_000 });
  if (r.exitCode === 0) return;
  await remote.exec(`rm -f ${cand}`, { allowFail: true });
  const output = `${r.stdout}\n${r.stderr}`.trim();
  throw new HalabError(
    'CONFIG_INVALID',
    `${v.describe} rejected the configuration rendered for ${remote.host} (exit code ${r.exitCode})`,
    {
      details: output || `(${tool} printed nothing)`,
      fix: `no config was replaced on any LB; the ${tool} output in the details names the offending line of the rendered config`,
    },
  );
}

/** Replace the live config with the validated candidate (rename: readers never see half a file). */
export async function promote(remote: Remote, tool: LbTool): Promise<void> {
  await remote.exec(`mv -f ${candidatePath(tool)} ${VALIDATORS[tool].path}`);
}
