// What makes a stopped lab come back as it was, and a removed host leave no gap: pure parts.
import { describe, expect, it } from 'vitest';
import type { LabState } from '../../api/types.ts';
import { testSpec } from '../../engine/fake-lab.testutil.ts';
import { hostFsScript } from './filesystems.ts';
import { allocateVeths } from './network.ts';
import { netnsHost } from './state.ts';

const state = (): LabState => ({
  name: 'lab1',
  spec: testSpec({ name: 'lab1' }),
  phase: 'ready',
  tag: 'hl0a1b2c',
  createdAt: '',
  updatedAt: '',
  completedSteps: [],
  hosts: {},
});

describe('cables', () => {
  it('a new lab numbers them in spec order', () => {
    const v = allocateVeths(state());
    expect([...v.values()]).toEqual([1, 2, 3, 4, 5, 6, 7].map((i) => `hl0a1b2cv${i}`));
  });

  it('a host keeps its recorded cable, whatever was removed before it; a new one takes a free number', () => {
    const st = state();
    for (const [i, h] of st.spec.hosts.entries()) netnsHost(st, h.name).veth = `hl0a1b2cv${i + 1}`;
    // w1 (v6) removed, w3 added at the end
    st.spec.hosts = [
      ...st.spec.hosts.filter((h) => h.name !== 'w1'),
      { name: 'w3', role: 'worker', address: '10.213.51.33' },
    ];
    const v = allocateVeths(st);
    expect(v.get('w2')).toBe('hl0a1b2cv7');
    expect(v.get('w3')).toBe('hl0a1b2cv6');
    expect(new Set(v.values()).size).toBe(st.spec.hosts.length);
  });
});

describe('a host started again', () => {
  const input = {
    lab: 'lab1',
    host: 'm1',
    hostDir: '/s/labs/lab1/hosts/m1',
    nsDir: '/s/labs/lab1/ns',
    cache: '/root/.cache/halab',
    hosts: [{ name: 'm1', address: '10.213.0.21' }],
  };
  it('keeps its sshd host key (a new host starts without the machine’s keys)', () => {
    expect(hostFsScript(input)).toContain('rm -f /etc/ssh/ssh_host_*');
    const again = hostFsScript({ ...input, again: true });
    expect(again).not.toContain('ssh_host_');
    expect(again).toContain('upperdir=/s/labs/lab1/hosts/m1/etc.upper');
  });
});
