import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LabState } from '../../api/types.ts';
import type { StepTools } from '../../engine/runner.ts';
import { HalabError } from '../../errors.ts';
import type { ExecOptions, ExecResult, Remote } from '../../exec/types.ts';
import type { LabContext, NodeProvider } from '../../providers/types.ts';
import { referenceSpec, referenceSpecV2 } from './fixtures.ts';
import { TEST_BREAK_LINE, haproxyService, keepalivedService, breakConfig, lbSteps, renderHaproxyCfg } from './index.ts';

/** A host as far as the config step can tell: files, and haproxy/keepalived checks that pass or fail. */
class FakeHost implements Remote {
  files = new Map<string, string>();
  commands: string[] = [];
  constructor(
    readonly host: string,
    private readonly check: (tool: string, content: string) => { code: number; out: string },
  ) {}
  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    this.commands.push(command);
    let stdout = '';
    let exitCode = 0;
    if (command.startsWith('for f in ')) {
      const paths = /^for f in (.*); do$/m.exec(command)?.[1]?.split(' ') ?? [];
      for (const p of paths) {
        const c = this.files.get(p);
        stdout += c === undefined ? `missing - ${p}\n` : `644 ${createHash('sha256').update(c).digest('hex')} ${p}\n`;
      }
    } else if (/^\/usr\/sbin\/(haproxy -c|keepalived -t)/.test(command)) {
      const file = command.split(' ').pop()!;
      const r = this.check(command.includes('haproxy') ? 'haproxy' : 'keepalived', this.files.get(file) ?? '');
      exitCode = r.code;
      stdout = r.out;
    } else if (command.startsWith('mv -f ')) {
      const [, , from, to] = command.split(' ');
      this.files.set(to!, this.files.get(from!)!);
      this.files.delete(from!);
    } else if (command.startsWith('rm -f ')) {
      this.files.delete(command.split(' ')[2]!);
    }
    if (exitCode !== 0 && !opts.allowFail) throw new HalabError('COMMAND_FAILED', command);
    return { command, exitCode, stdout, stderr: '', durationMs: 0 };
  }
  async upload(path: string, content: string | Buffer): Promise<void> {
    this.files.set(path, content.toString());
  }
  async close(): Promise<void> {}
}

const tools: StepTools = { signal: new AbortController().signal, log: () => {}, progress: () => {} };

function fakeLab(
  spec = referenceSpec(),
  check = (_tool: string, _c: string) => ({ code: 0, out: '' }),
  dir = '/nonexistent',
) {
  const hosts = Object.fromEntries(['lb1', 'lb2'].map((h) => [h, new FakeHost(h, check)]));
  for (const h of Object.values(hosts)) h.files.set('/etc/halab/pki/ca.crt', 'CA');
  const ctx = {
    state: { name: spec.name, spec } as LabState,
    dir,
    save: async () => {},
    remote: (h: string) => hosts[h]!,
    provider: {} as NodeProvider,
  } as unknown as LabContext;
  return { ctx, hosts };
}

describe('lb:configs', () => {
  const step = (spec = referenceSpec()) => lbSteps(spec)!.configs;

  it('validates on every LB, then installs, and is done afterwards', async () => {
    const { ctx, hosts } = fakeLab();
    expect(await step().done!(ctx, tools)).toBe(false);
    await step().run(ctx, tools);
    for (const h of Object.values(hosts)) {
      expect(h.files.get('/etc/haproxy/haproxy.cfg')).toBe(renderHaproxyCfg(referenceSpec()));
      expect(h.files.get('/etc/keepalived/keepalived.conf')).toContain(
        `unicast_src_ip ${h.host === 'lb1' ? '10.213.0.11' : '10.213.0.12'}`,
      );
      expect(
        h.commands.some((c) => c.startsWith('/usr/sbin/haproxy -c -dW -f /etc/haproxy/haproxy.cfg.halab-candidate')),
      ).toBe(true);
      expect(
        h.commands.some((c) =>
          c.startsWith('/usr/sbin/keepalived -t -f /etc/keepalived/keepalived.conf.halab-candidate'),
        ),
      ).toBe(true);
    }
    expect(await step().done!(ctx, tools)).toBe(true);
  });

  it('installs nothing anywhere when one LB rejects its config, and reports the tool output', async () => {
    const { ctx, hosts } = fakeLab(referenceSpec(), (tool, content) =>
      tool === 'keepalived' && content.includes('unicast_src_ip 10.213.0.12')
        ? { code: 5, out: "(Line 3) Unknown keyword 'x'" }
        : { code: 0, out: '' },
    );
    const err = await step()
      .run(ctx, tools)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HalabError);
    expect(err).toMatchObject({ code: 'CONFIG_INVALID', details: "(Line 3) Unknown keyword 'x'" });
    expect((err as Error).message).toMatch(/keepalived -t .* lb2/);
    for (const h of Object.values(hosts)) {
      expect(h.files.has('/etc/haproxy/haproxy.cfg')).toBe(false);
      expect(h.files.has('/etc/keepalived/keepalived.conf')).toBe(false);
      expect(h.commands.filter((c) => c.startsWith('mv '))).toEqual([]);
    }
    expect(hosts.lb2!.files.has('/etc/keepalived/keepalived.conf.halab-candidate')).toBe(false);
  });

  it('refuses to go on without the Kubernetes CA on the LBs', async () => {
    const { ctx, hosts } = fakeLab();
    hosts.lb2!.files.delete('/etc/halab/pki/ca.crt');
    await expect(step().run(ctx, tools)).rejects.toMatchObject({
      code: 'LB_CA_MISSING',
      message: expect.stringContaining('lb2'),
    });
  });

  describe('with VRRPv2', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'halab-lb-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('creates the lab secret once (mode 0600) and uses it on every LB', async () => {
      const spec = referenceSpecV2();
      const { ctx, hosts } = fakeLab(spec, undefined, dir);
      await step(spec).run(ctx, tools);
      const secret = readFileSync(join(dir, 'lb', 'vrrp-auth-pass'), 'utf8').trim();
      expect(secret).toMatch(/^[A-Za-z0-9]{8}$/);
      expect(statSync(join(dir, 'lb', 'vrrp-auth-pass')).mode & 0o777).toBe(0o600);
      for (const h of Object.values(hosts))
        expect(h.files.get('/etc/keepalived/keepalived.conf')).toContain(`auth_pass ${secret}`);
      expect(await step(spec).done!(ctx, tools)).toBe(true);
      await step(spec).run(ctx, tools);
      expect(readFileSync(join(dir, 'lb', 'vrrp-auth-pass'), 'utf8').trim()).toBe(secret);
    });
  });
});

describe('lbSteps', () => {
  it('has the four steps in order, and none for a lab without LBs', () => {
    expect(Object.values(lbSteps(referenceSpec())!).map((s) => s.id)).toEqual([
      'lb:configs',
      'lb:haproxy',
      'lb:keepalived',
      'lb:ready',
    ]);
    const s = referenceSpec();
    expect(lbSteps({ ...s, hosts: s.hosts.filter((h) => h.role !== 'lb') })).toBeUndefined();
  });

  it("breakConfig gives a transform that appends an invalid line to one tool's config", () => {
    const o = breakConfig('haproxy');
    expect(o.transform?.keepalived).toBeUndefined();
    expect(o.transform?.haproxy?.('x\n', 'lb1')).toBe(`x\n${TEST_BREAK_LINE}\n`);
  });
});

describe('services', () => {
  it("runs both daemons in the foreground with their own pid files (in each host's private /run)", () => {
    expect(haproxyService().command).toEqual(['/usr/sbin/haproxy', '-db', '-f', '/etc/haproxy/haproxy.cfg']);
    expect(keepalivedService().command).toEqual([
      '/usr/sbin/keepalived',
      '-n',
      '-l',
      '-D',
      '-G',
      '-P',
      '-f',
      '/etc/keepalived/keepalived.conf',
      '-p',
      '/run/keepalived.pid',
      '-r',
      '/run/keepalived_vrrp.pid',
    ]);
  });
});
