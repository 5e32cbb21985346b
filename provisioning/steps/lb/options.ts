import type { HaproxyRenderOptions } from './haproxy.ts';
import type { LbTool } from './validate.ts';

/** What a caller may change about the LB steps, handed in explicitly (tests use `transform`). */
export interface LbOptions {
  /** Renderer inputs other than the spec (CA path, verified host name). */
  haproxy?: Omit<HaproxyRenderOptions, 'transform'>;
  /**
   * Rewrite a rendered config before validation, e.g. to prove that a broken template stops
   * `up` (the real validator rejects it, nothing is installed). Tests only.
   */
  transform?: Partial<Record<LbTool, (text: string, lb: string) => string>>;
}

/** A keyword neither HAProxy nor keepalived knows: a test appends it to break a config. */
export const TEST_BREAK_LINE = 'halab-test-break-invalid-keyword 1';

/** LbOptions that break `tool`'s config on every LB (tests only). */
export function breakConfig(tool: LbTool): LbOptions {
  return { transform: { [tool]: (text: string) => `${text}${TEST_BREAK_LINE}\n` } };
}
