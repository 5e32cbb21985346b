import { describe, expect, it } from 'vitest';
import type { ExecOptions, ExecResult, Remote } from '../exec/types.ts';
import { sha256 } from './files.ts';
import { activateScript, fingerprint, parseCheck, parseStatus, serviceFiles, Supervisor } from './supervisor.ts';

class FakeRemote implements Remote {
  readonly host = 'm1';
  commands: string[] = [];
  uploads = 0;
  onUpload: (path: string, content: string, mode: number) => void = () => {};
  constructor(public reply: (cmd: string) => string = () => '') {}
  async exec(command: string, _o?: ExecOptions): Promise<ExecResult> {
    this.commands.push(command);
    return { command, exitCode: 0, stdout: this.reply(command), stderr: '', durationMs: 0 };
  }
  async upload(path: string, content: string | Buffer, mode = 0o644) {
    this.uploads++;
    this.onUpload(path, String(content), mode);
  }
  async close() {}
}

describe('serviceFiles', () => {
  it('renders an s6 service: run execs the daemon with quoted args, finish counts exits, log/run uses s6-log', () => {
    const files = serviceFiles({
      name: 'etcd',
      command: ['/usr/bin/etcd', '--name', 'm 1'],
      prepare: ['mkdir -p /x'],
      env: { A: 'b c' },
    });
    const run = files.find((f) => f.path === '/etc/halab/sv/etcd/run')!;
    expect(run.mode).toBe(0o755);
    expect(run.content).toContain("export A='b c'\nmkdir -p /x\nexec /usr/bin/etcd --name 'm 1'\n");
    expect(String(run.content).startsWith('#!/bin/sh\n')).toBe(true);
    expect(files.find((f) => f.path === '/etc/halab/sv/etcd/finish')!.content).toContain(
      '>> /var/log/halab/etcd.exits',
    );
    expect(files.find((f) => f.path === '/etc/halab/sv/etcd/log/run')!.content).toContain(
      'exec s6-log -b n3 s2000000 T /var/log/halab/etcd',
    );
    expect(files.some((f) => f.path.endsWith('/down'))).toBe(false);
    expect(serviceFiles({ name: 'x', command: ['x'], down: true }).some((f) => f.path === '/etc/halab/sv/x/down')).toBe(
      true,
    );
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
      { name: 'etcd', up: false, wantedUp: true, pid: undefined, uptimeS: undefined, restarts: 4 },
      { name: 'sshd', up: true, wantedUp: true, pid: 9, uptimeS: 120, restarts: 0 },
    ]);
  });
});

describe('Supervisor over a Remote', () => {
  it('start/stop/kill are the commands a user would type; status parses', async () => {
    const r = new FakeRemote((cmd) => (cmd.includes('s6-svstat') ? 'haproxy true 42 7 true 1\n' : ''));
    const sv = new Supervisor(r);
    await sv.signal('haproxy', 'KILL');
    expect(r.commands.at(-1)).toBe('s6-svc -k /run/halab/service/haproxy');
    await sv.stop('haproxy', 3000);
    expect(r.commands.at(-1)).toBe(
      's6-svc -d /run/halab/service/haproxy && s6-svwait -D -t 3000 /run/halab/service/haproxy',
    );
    expect(sv.command(['etcd', 'kube-apiserver'], 'stop', 5000)).toBe(
      's6-svc -d /run/halab/service/etcd && s6-svc -d /run/halab/service/kube-apiserver && s6-svwait -D -t 5000 /run/halab/service/etcd /run/halab/service/kube-apiserver',
    );
    // a kill is a crash that is not restarted: no SIGTERM first
    expect(sv.command('kube-apiserver', 'kill', 1000)).toBe(
      's6-svc -O /run/halab/service/kube-apiserver && s6-svc -k /run/halab/service/kube-apiserver && s6-svwait -D -t 1000 /run/halab/service/kube-apiserver',
    );
    expect(await sv.status()).toEqual([
      { name: 'haproxy', up: true, wantedUp: true, pid: 42, uptimeS: 7, restarts: 1 },
    ]);
  });
});

/** A host whose s6 the fake tracks: the applied stamps, live services and files, from the commands it is sent. */
function s6Host() {
  const files = new Map<string, { content: string; mode: number }>();
  const live = new Map<string, { up: boolean; wanted: boolean; pid: number }>();
  let pid = 10;
  const r = new FakeRemote();
  r.reply = (cmd) => {
    const name = /applied (?:\$\(head -c 64 )?\/etc\/halab\/sv-applied\/([a-z0-9-]+)/.exec(cmd)?.[1];
    if (name && cmd.startsWith('echo "applied')) {
      const l = live.get(name);
      const sums = [...cmd.matchAll(/for f in (.*); do/g)].flatMap((m) => m[1]!.split(' '));
      return [
        `applied ${files.get(`/etc/halab/sv-applied/${name}`)?.content.trim() ?? ''}`,
        `defined ${files.has(`/etc/halab/sv/${name}/run`) ? 'yes' : ''}`,
        `svstat ${l ? `${l.up} ${l.up ? l.pid : -1} ${l.wanted}` : ''}`,
        ...sums.map((p) => {
          const f = files.get(p);
          return f ? `${f.mode.toString(8)} ${sha256(f.content)} ${p}` : `missing - ${p}`;
        }),
      ].join('\n');
    }
    const act = /cp -a \/etc\/halab\/sv\/([a-z0-9-]+) /.exec(cmd);
    if (act) {
      const n = act[1]!;
      const restart = live.has(n);
      if (!restart) live.set(n, { up: true, wanted: true, pid: pid++ });
      else if (cmd.includes('s6-svc -r')) Object.assign(live.get(n)!, { up: true, pid: pid++ });
    }
    const up = /^s6-svc -u \/run\/halab\/service\/([a-z0-9-]+)$/.exec(cmd);
    if (up) Object.assign(live.get(up[1]!)!, { up: true, wanted: true });
    if (cmd.startsWith('for f in ')) return ''; // syncFiles' probe: everything missing
    return '';
  };
  r.onUpload = (path, content, mode) => files.set(path, { content, mode });
  return { r, files, live };
}

describe('Supervisor.ensure', () => {
  it('installs a new service, leaves it alone the second time, updates it when its definition or an input changes', async () => {
    const { r, files, live } = s6Host();
    const sv = new Supervisor(r);
    const def = { name: 'kube-scheduler', command: ['kube-scheduler', '--v=2'] };
    const cfg = { path: '/etc/x.conf', content: 'a=1\n', mode: 0o644 };
    expect(await sv.ensure(def, [cfg])).toBe('installed');
    expect(files.get('/etc/x.conf')?.content).toBe('a=1\n');
    expect(files.get('/etc/halab/sv/kube-scheduler/run')?.content).toContain('exec kube-scheduler --v=2');
    expect(files.get('/etc/halab/sv-applied/kube-scheduler')?.content.trim()).toBe(fingerprint(def, [cfg]));
    const before = r.commands.length;
    expect(await sv.ensure(def, [cfg])).toBe('unchanged');
    expect(r.commands.length).toBe(before + 1); // only the check
    expect(await sv.ensure(def, [{ ...cfg, content: 'a=2\n' }])).toBe('updated');
    expect(r.commands.at(-1)).toContain('s6-svc -r /run/halab/service/kube-scheduler');
    expect(await sv.ensure({ ...def, command: ['kube-scheduler', '--v=4'] }, [{ ...cfg, content: 'a=2\n' }])).toBe(
      'updated',
    );
    // stopped on purpose: ensure starts it (a re-run of up repairs), without rewriting anything
    Object.assign(live.get('kube-scheduler')!, { up: false, wanted: false });
    const uploads = r.uploads;
    expect(await sv.ensure({ ...def, command: ['kube-scheduler', '--v=4'] }, [{ ...cfg, content: 'a=2\n' }])).toBe(
      'started',
    );
    expect(r.uploads).toBe(uploads);
    expect(r.commands.at(-1)).toBe('s6-svc -u /run/halab/service/kube-scheduler');
  });

  it('check() says absent, changed or current without changing anything', () => {
    const def = { name: 'etcd', command: ['etcd'] };
    expect(parseCheck('applied \ndefined \nsvstat \n', def).state).toBe('absent');
    const fp = fingerprint(def);
    expect(parseCheck(`applied ${fp}\ndefined yes\nsvstat true 7 true\n`, def)).toEqual({
      state: 'current',
      up: true,
      wantedUp: true,
      pid: 7,
    });
    expect(parseCheck(`applied ${'0'.repeat(64)}\ndefined yes\nsvstat false -1 false\n`, def)).toEqual({
      state: 'changed',
      up: false,
      wantedUp: false,
      pid: undefined,
    });
  });
});
