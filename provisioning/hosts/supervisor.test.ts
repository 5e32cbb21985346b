import { describe, expect, it } from 'vitest';
import type { ExecOptions, ExecResult, Remote } from '../exec/types.ts';
import { activateScript, parseStatus, serviceFiles, Supervisor } from './supervisor.ts';

class FakeRemote implements Remote {
  readonly host = 'm1';
  commands: string[] = [];
  files = new Map<string, { content: string; mode: number }>();
  constructor(private reply: (cmd: string) => string = () => '') {}
  async exec(command: string, _o?: ExecOptions): Promise<ExecResult> {
    this.commands.push(command);
    return { command, exitCode: 0, stdout: this.reply(command), stderr: '', durationMs: 0 };
  }
  async upload(path: string, content: string | Buffer, mode = 0o644) { this.files.set(path, { content: String(content), mode }); }
  async close() {}
}

describe('serviceFiles', () => {
  it('renders an s6 service: run execs the daemon with quoted args, finish counts exits, log/run uses s6-log', () => {
    const files = serviceFiles({ name: 'etcd', command: ['/usr/bin/etcd', '--name', 'm 1'], prepare: ['mkdir -p /x'], env: { A: 'b c' } });
    const run = files.find((f) => f.path === '/etc/halab/sv/etcd/run')!;
    expect(run.mode).toBe(0o755);
    expect(run.content).toContain("export A='b c'\nmkdir -p /x\nexec /usr/bin/etcd --name 'm 1'\n");
    expect(run.content.startsWith('#!/bin/sh\n')).toBe(true);
    expect(files.find((f) => f.path === '/etc/halab/sv/etcd/finish')!.content).toContain('>> /var/log/halab/etcd.exits');
    expect(files.find((f) => f.path === '/etc/halab/sv/etcd/log/run')!.content).toContain('exec s6-log -b n3 s2000000 T /var/log/halab/etcd');
    expect(files.some((f) => f.path.endsWith('/down'))).toBe(false);
    expect(serviceFiles({ name: 'x', command: ['x'], down: true }).some((f) => f.path === '/etc/halab/sv/x/down')).toBe(true);
  });
  it('refuses names that are not plain words', () => {
    expect(() => serviceFiles({ name: '../etc', command: ['x'] })).toThrow(/bad service name/);
  });
  it('activation copies a new service into the scan dir and asks s6-svscan to rescan', () => {
    const s = activateScript('haproxy', true);
    expect(s).toContain('s6-svscanctl -a /run/halab/service');
    expect(s).toContain('s6-svc -r /run/halab/service/haproxy');
  });
});

describe('parseStatus', () => {
  it('parses one line per service: up, pid, uptime, exits', () => {
    const st = parseStatus('sshd true 9 120 true 0\netcd false -1 3 true 4\n\ngarbage\n');
    expect(st).toEqual([
      { name: 'etcd', up: false, pid: undefined, uptimeS: undefined, restarts: 4 },
      { name: 'sshd', up: true, pid: 9, uptimeS: 120, restarts: 0 },
    ]);
  });
});

describe('Supervisor over a Remote', () => {
  it('install uploads the files then activates; signal maps to s6-svc flags; status parses', async () => {
    const r = new FakeRemote((cmd) => (cmd.includes('s6-svstat') ? 'haproxy true 42 7 true 1\n' : ''));
    const sv = new Supervisor(r);
    await sv.install({ name: 'haproxy', command: ['haproxy', '-db'] });
    expect([...r.files.keys()].sort()).toEqual(['/etc/halab/sv/haproxy/finish', '/etc/halab/sv/haproxy/log/run', '/etc/halab/sv/haproxy/run']);
    expect(r.commands[0]).toBe('mkdir -p /etc/halab/sv/haproxy/log');
    await sv.signal('haproxy', 'KILL');
    expect(r.commands.at(-1)).toBe('s6-svc -k /run/halab/service/haproxy');
    await sv.stop('haproxy', 3000);
    expect(r.commands.at(-1)).toBe('s6-svc -d /run/halab/service/haproxy && s6-svwait -D -t 3000 /run/halab/service/haproxy');
    expect(await sv.status()).toEqual([{ name: 'haproxy', up: true, pid: 42, uptimeS: 7, restarts: 1 }]);
  });
});

describe('Supervisor.ensure', () => {
  it('leaves an identical live service alone, rewrites a changed one, installs a new one', async () => {
    const def = { name: 'kube-scheduler', command: ['kube-scheduler', '--v=2'] };
    const run = serviceFiles(def).find((f) => f.path.endsWith('/kube-scheduler/run'))!.content;
    const same = new FakeRemote((c) => (c.startsWith('cat ') ? `${run}@@halab@@\nLIVE\n` : ''));
    expect(await new Supervisor(same).ensure(def)).toBe('unchanged');
    expect(same.files.size).toBe(0);
    const changed = new FakeRemote((c) => (c.startsWith('cat ') ? `${run.replace('--v=2', '--v=4')}@@halab@@\nLIVE\n` : ''));
    expect(await new Supervisor(changed).ensure(def)).toBe('updated');
    expect(changed.commands.at(-1)).toContain('s6-svc -r /run/halab/service/kube-scheduler');
    const fresh = new FakeRemote((c) => (c.startsWith('cat ') ? '@@halab@@\n' : ''));
    expect(await new Supervisor(fresh).ensure(def)).toBe('installed');
    expect(fresh.files.get('/etc/halab/sv/kube-scheduler/run')?.content).toBe(run);
  });
});
