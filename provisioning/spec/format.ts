// Text rendering of spec issues for the CLI.

import type { SpecIssue } from '../api/types.ts';

export interface SourcePosition {
  /** 1-based. */
  line: number;
  /** 1-based. */
  col: number;
}

export interface FormatIssuesOptions {
  /** Where a spec path sits in the source file (see parseSpecText), to print file:line:col. */
  locate?: (path: string) => SourcePosition | undefined;
  /** The file name printed with the position. */
  source?: string;
}

const INDENT = ' '.repeat(8);

/**
 * Two lines per issue:
 *   error   hosts[3].address: address 10.1.0.5 is outside subnet 10.213.0.0/24
 *           fix: use a free address inside 10.213.0.0/24, e.g. 10.213.0.24
 * With `locate`, the position follows the path: "hosts[3].address (lab.yaml:14:14): ...".
 */
export function formatIssues(issues: readonly SpecIssue[], options: FormatIssuesOptions = {}): string {
  return issues
    .map((issue) => {
      const pos = options.locate?.(issue.path);
      const at = pos ? `${options.source ?? ''}${options.source ? ':' : 'line '}${pos.line}:${pos.col}` : '';
      let head = issue.path;
      if (at) head = head ? `${head} (${at})` : at;
      return `${issue.severity.padEnd(8)}${head ? `${head}: ` : ''}${issue.message}\n${INDENT}fix: ${issue.fix}`;
    })
    .join('\n');
}
