import { describe, expect, it } from 'vitest';
import type { SpecIssue } from '../api/types.ts';
import { formatIssues } from './format.ts';

const issues: SpecIssue[] = [
  {
    severity: 'error',
    path: 'hosts[3].address',
    message: 'address 10.1.0.5 is outside subnet 10.213.0.0/24',
    fix: 'use a free address inside 10.213.0.0/24, e.g. 10.213.0.24',
  },
  {
    severity: 'warning',
    path: 'hosts',
    message: 'the load balancer is a single point of failure',
    fix: 'add a second host with role lb so keepalived can move the VIP',
  },
  {
    severity: 'error',
    path: '',
    message: 'YAML syntax error at lab.yaml:4:1: Tabs are not allowed as indentation',
    fix: 'correct the YAML at line 4, column 1',
  },
];

describe('formatIssues', () => {
  it('prints each issue with its path, message and fix', () => {
    expect(formatIssues(issues)).toBe(
      [
        'error   hosts[3].address: address 10.1.0.5 is outside subnet 10.213.0.0/24',
        '        fix: use a free address inside 10.213.0.0/24, e.g. 10.213.0.24',
        'warning hosts: the load balancer is a single point of failure',
        '        fix: add a second host with role lb so keepalived can move the VIP',
        'error   YAML syntax error at lab.yaml:4:1: Tabs are not allowed as indentation',
        '        fix: correct the YAML at line 4, column 1',
      ].join('\n'),
    );
  });

  it('adds source positions when it can locate a path', () => {
    const locate = (path: string) => (path === 'hosts[3].address' ? { line: 14, col: 5 } : undefined);
    const text = formatIssues(issues.slice(0, 2), { locate, source: 'lab.yaml' });
    expect(text.split('\n')[0]).toBe(
      'error   hosts[3].address (lab.yaml:14:5): address 10.1.0.5 is outside subnet 10.213.0.0/24',
    );
    expect(text.split('\n')[2]).toBe('warning hosts: the load balancer is a single point of failure');
    expect(formatIssues(issues.slice(0, 1), { locate }).split('\n')[0]).toBe(
      'error   hosts[3].address (line 14:5): address 10.1.0.5 is outside subnet 10.213.0.0/24',
    );
  });

  it('prints nothing for no issues', () => {
    expect(formatIssues([])).toBe('');
  });
});
