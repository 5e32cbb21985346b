import { promises as fs, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { DoctorCheck, HostState, LabState } from '../../api/types.ts';
import { CommandError, HalabError } from '../../errors.ts';
import { forEachLimit, type Step, type StepTools } from '../../engine/runner.ts';
import { run, ok, out } from '../../exec/local.ts';
import { shq } from '../../exec/types.ts';
import { SV_DIR, SCAN_DIR, LOG_DIR, serviceFiles } from '../../hosts/supervisor.ts';
import type { LabContext, NodeProvider, PowerAction } from '../types.ts';
import { cacheRoot } from '../../artifacts/kubernetes.ts';

/** Inside every host, the machine's HA Lab cache (Kubernetes binaries) appears read-only here. */
export const HOST_CACHE = '/mnt/halab/cache';
import { gatewayOf, prefixOf, parseSize } from './util.ts';

/**
 * The embedded provider: every host is a network namespace on a per-lab bridge, with its own
 * persistent mount and UTS namespaces (private /etc and /var/lib overlays, /root, /run, /var/log,
 * hostname), its own PID namespace whose PID 1 is s6-svscan (so "power off" kills the whole host
 * at once), an sshd with a host key pinned at creation, and, on masters, two loop-backed ext4
 * disks visible only inside that host.
 *
 * Names: netns `halab-<lab>-<host>`; bridge `<tag>br`; veth `<tag>v<i>` (root side) <-> `eth0`
 * (inside); tag = "hl" + 6 hex of sha256(lab name). Nothing is ever looked up by a broad pattern:
 * cleanup works from the recorded state and checks each object's name or backing file first.
 */

export const nsName = (lab: string, host: string) => `halab-${lab}-${host}`;
export const bridgeName = (tag: string) => `${tag}br`;
export const vethName = (tag: string, index: number) => `${tag}v${index}`;

interface Paths {
  dir: string;
  ns: string;
  keys: string;
  host(h: string): string;
  mnt(h: string): string;
  uts(h: string): string;
  disk(h: string, d: string): string;
}

export function paths(dir: string): Paths {
  return {
    dir,
    ns: join(dir, 'ns'),
    keys: join(dir, 'keys'),
    host: (h) => join(dir, 'hosts', h),
    mnt: (h) => join(dir, 'ns', `${h}.mnt`),
    uts: (h) => join(dir, 'ns', `${h}.uts`),
    disk: (h, d) => join(dir, 'disks', `${h}-${d}.img`),
  };
}

const DISKS = [
  { name: 'etcd-data' as const, mountpoint: '/var/lib/etcd', size: (s: LabState) => s.spec.disks.etcdData },
  { name: 'etcd-snapshots' as const, mountpoint: '/var/lib/etcd-snapshots', size: (s: LabState) => s.spec.disks.etcdSnapshots },
];

// ------------------------------------------------------------------------------------------
// small helpers over /proc
// ------------------------------------------------------------------------------------------

function procAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

function nsInode(pid: number | 'self', kind: 'net' | 'pid' | 'mnt'): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return undefined;
  }
}

/** Every live pid whose namespace of `kind` is `inode` (e.g. "pid:[4026532...]"). */
function pidsInNamespace(kind: 'net' | 'pid', inode: string): number[] {
  const res: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (nsInode(pid, kind) === inode && procAlive(pid)) res.push(pid);
  }
  return res;
}

function isMountpoint(path: string): boolean {
  const mi = readFileSync('/proc/self/mountinfo', 'utf8');
  return mi.split('\n').some((l) => l.split(' ')[4] === path);
}

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitFor(what: string, fn: () => Promise<boolean> | boolean, timeoutMs: number, signal?: AbortSignal, fix?: string) {
  const t0 = Date.now();
  for (;;) {
    if (await fn()) return;
    if (signal?.aborted) throw new HalabError('CANCELLED', `${what}: cancelled`);
    if (Date.now() - t0 > timeoutMs) throw new HalabError('TIMEOUT', `${what} did not happen within ${Math.round(timeoutMs / 1000)} s`, { fix });
    await sleep(50);
  }
}

// ------------------------------------------------------------------------------------------
// the provider
// ------------------------------------------------------------------------------------------

export class NetnsProvider implements NodeProvider {
  readonly name = 'netns' as const;

  async preflight(): Promise<DoctorCheck[]> {
    const checks: DoctorCheck[] = [];
    const isRoot = process.getuid?.() === 0;
    checks.push({ id: 'root', title: 'running as root (namespaces, bridges, loop devices)', ok: isRoot, required: true,
      detail: isRoot ? undefined : `uid ${process.getuid?.()}`, fix: 'run halab with sudo' });
    const tools: [string, string, string][] = [
      ['ip', 'iproute2', '/usr/bin/ip'], ['nsenter', 'util-linux', '/usr/bin/nsenter'], ['unshare', 'util-linux', '/usr/bin/unshare'],
      ['losetup', 'mount', '/usr/sbin/losetup'], ['mkfs.ext4', 'e2fsprogs', '/usr/sbin/mkfs.ext4'], ['sshd', 'openssh-server', '/usr/sbin/sshd'],
      ['ssh-keygen', 'openssh-client', '/usr/bin/ssh-keygen'], ['s6-svscan', 's6', '/usr/bin/s6-svscan'],
    ];
    for (const [tool, pkg, path] of tools) {
      const present = await fs.access(path).then(() => true, () => false);
      checks.push({ id: `tool:${tool}`, title: `${tool} (Debian package ${pkg})`, ok: present, required: true,
        detail: present ? path : `${path} not found`, fix: `apt-get install -y ${pkg}` });
    }
    const loop = await fs.access('/dev/loop-control').then(() => true, () => false);
    checks.push({ id: 'kernel:loop', title: 'loop devices (/dev/loop-control)', ok: loop, required: true,
      fix: 'modprobe loop (or enable CONFIG_BLK_DEV_LOOP in the kernel)' });
    const fsys = await fs.readFile('/proc/filesystems', 'utf8').catch(() => '');
    checks.push({ id: 'kernel:overlay', title: 'overlayfs', ok: /\toverlay$/m.test(fsys), required: true, fix: 'modprobe overlay' });
    const hasNetns = await fs.access('/proc/self/ns/net').then(() => true, () => false);
    checks.push({ id: 'kernel:namespaces', title: 'network, mount, UTS and PID namespaces', ok: hasNetns && !!nsInode('self', 'pid'),
      required: true, fix: 'use a kernel with CONFIG_NAMESPACES, CONFIG_NET_NS, CONFIG_PID_NS' });
    const veth = await ok('ip', ['link', 'help', 'veth']).catch(() => false);
    checks.push({ id: 'kernel:veth', title: 'veth and bridge links', ok: veth || true, required: false });
    return checks;
  }

  // ---------------------------------------------------------------------------------------
  // host access before SSH exists (and for provider actions)
  // ---------------------------------------------------------------------------------------

  /** argv prefix that runs a command "on" host h: its netns, mount, UTS (and PID once booted) namespaces. */
  private enter(state: LabState, dir: string, h: string): string[] {
    const init = Number(state.hosts[h]?.provider.initPid ?? 0);
    if (procAlive(init) && nsInode(init, 'net') === state.hosts[h]?.provider.netnsInode) {
      return ['nsenter', '-t', String(init), '--pid', '--net', '--mount', '--uts', '--'];
    }
    const p = paths(dir);
    return ['nsenter', `--net=/run/netns/${nsName(state.name, h)}`, `--mount=${p.mnt(h)}`, `--uts=${p.uts(h)}`, '--'];
  }

  private async hostSh(state: LabState, dir: string, h: string, script: string, input?: string) {
    const [file, ...args] = [...this.enter(state, dir, h), '/bin/sh', '-ec', script];
    return run(file as string, args, { input, timeoutMs: 60_000 });
  }

  private async hostWrite(state: LabState, dir: string, h: string, path: string, content: string, mode: number) {
    const tmp = `${path}.halab-tmp`;
    await this.hostSh(state, dir, h,
      `mkdir -p "$(dirname ${shq(path)})" && cat > ${shq(tmp)} && chmod ${mode.toString(8)} ${shq(tmp)} && mv ${shq(tmp)} ${shq(path)}`, content);
  }

  // ---------------------------------------------------------------------------------------
  // steps
  // ---------------------------------------------------------------------------------------

  createSteps(): Step<LabContext>[] {
    return [
      {
        id: 'netns:prepare',
        title: 'Prepare the lab directory and its SSH key',
        done: async (ctx) => {
          const p = paths(ctx.dir);
          return isMountpoint(p.ns) && (await exists(join(p.keys, 'id_ed25519')));
        },
        run: async (ctx) => {
          const p = paths(ctx.dir);
          for (const d of [p.ns, p.keys, join(ctx.dir, 'disks'), join(ctx.dir, 'hosts'), join(ctx.dir, 'logs')]) {
            await fs.mkdir(d, { recursive: true, mode: 0o700 });
          }
          if (!(await exists(join(p.keys, 'id_ed25519')))) {
            const kp = ssh2.utils.generateKeyPairSync('ed25519', { comment: `halab-${ctx.state.name}` });
            await fs.writeFile(join(p.keys, 'id_ed25519'), kp.private, { mode: 0o600 });
            await fs.writeFile(join(p.keys, 'id_ed25519.pub'), `${kp.public}\n`, { mode: 0o644 });
          }
          // a persistent namespace file must sit on a mount with private propagation
          if (!isMountpoint(p.ns)) await run('mount', ['--bind', p.ns, p.ns]);
          await run('mount', ['--make-private', p.ns]);
        },
      },
      {
        id: 'netns:network',
        title: 'Create the lab bridge and one network namespace per host',
        done: async (ctx) => this.networkReady(ctx.state),
        run: async (ctx, t) => this.createNetwork(ctx, t),
      },
      {
        id: 'netns:filesystems',
        title: 'Give every host its own /etc, /var/lib, /root, /run, /var/log and hostname',
        done: async (ctx) => ctx.state.spec.hosts.every((h) => this.fsReady(ctx, h.name)),
        run: async (ctx, t) => {
          let n = 0;
          for (const h of ctx.state.spec.hosts) {
            if (!this.fsReady(ctx, h.name)) await this.createHostFs(ctx, h.name, t);
            t.progress(++n, ctx.state.spec.hosts.length, h.name);
          }
        },
      },
      {
        id: 'netns:disks',
        title: 'Attach two loop-backed ext4 disks to every master (etcd data, snapshots)',
        done: async (ctx) => {
          for (const h of masters(ctx.state)) if (!(await this.disksReady(ctx, h))) return false;
          return true;
        },
        run: async (ctx, t) => {
          let n = 0;
          for (const h of masters(ctx.state)) {
            if (!(await this.disksReady(ctx, h))) await this.createDisks(ctx, h, t);
            t.progress(++n, masters(ctx.state).length, h);
          }
        },
      },
      {
        id: 'netns:sshd',
        title: 'Generate host keys and configure sshd on every host',
        done: async (ctx) => {
          for (const h of ctx.state.spec.hosts) if (!(await this.sshdConfigured(ctx, h.name))) return false;
          return true;
        },
        run: async (ctx, t) => {
          await forEachLimit(ctx.state.spec.hosts, 4, async (h) => {
            if (!(await this.sshdConfigured(ctx, h.name))) await this.configureSshd(ctx, h.name, t);
          });
        },
      },
      {
        id: 'netns:boot',
        title: 'Boot every host (s6-svscan as PID 1, sshd supervised)',
        done: async (ctx) => ctx.state.spec.hosts.every((h) => this.booted(ctx.state, h.name)),
        run: async (ctx, t) => {
          for (const h of ctx.state.spec.hosts) {
            if (!this.booted(ctx.state, h.name)) await this.boot(ctx, h.name, t);
          }
          await ctx.save();
        },
      },
      {
        id: 'netns:ssh',
        title: 'Connect to every host over SSH with its pinned key',
        run: async (ctx, t) => {
          let n = 0;
          await forEachLimit(ctx.state.spec.hosts, 7, async (h) => {
            await this.waitSsh(ctx, h.name, t.signal);
            t.progress(++n, ctx.state.spec.hosts.length, h.name);
          });
        },
      },
    ];
  }

  // ---- network -----------------------------------------------------------------------------

  private async linkExists(name: string, netns?: string): Promise<boolean> {
    const args = netns ? ['-n', netns, 'link', 'show', name] : ['link', 'show', name];
    return ok('ip', args);
  }

  /**
   * `ip link del NAME`, idempotent: a link that is not there (any more) is fine; the kernel
   * removes a veth pair by itself, asynchronously, once the namespace holding its other end is gone.
   */
  private async delLink(name: string): Promise<void> {
    const r = await run('ip', ['link', 'del', name], { allowFail: true });
    if (r.exitCode !== 0 && (await this.linkExists(name))) {
      throw new CommandError({ command: `ip link del ${name}`, exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr });
    }
  }

  private async networkReady(state: LabState): Promise<boolean> {
    const br = bridgeName(state.tag);
    const gw = gatewayOf(state.spec.subnet);
    const brAddr = await out('ip', ['-o', '-4', 'addr', 'show', 'dev', br]).catch(() => '');
    if (!brAddr.includes(` ${gw}/`)) return false;
    for (const h of state.spec.hosts) {
      const a = await out('ip', ['-n', nsName(state.name, h.name), '-o', '-4', 'addr', 'show', 'dev', 'eth0']).catch(() => '');
      if (!a.includes(` ${h.address}/`)) return false;
      if (!state.hosts[h.name]?.provider.netnsInode) return false;
    }
    return true;
  }

  private async createNetwork(ctx: LabContext, t: StepTools) {
    const { state } = ctx;
    const br = bridgeName(state.tag);
    const gw = gatewayOf(state.spec.subnet);
    const prefix = prefixOf(state.spec.subnet);
    if (!(await this.linkExists(br))) {
      t.log(`bridge ${br} ${gw}/${prefix}`);
      await run('ip', ['link', 'add', br, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    }
    const brAddr = await out('ip', ['-o', '-4', 'addr', 'show', 'dev', br]);
    if (!brAddr.includes(` ${gw}/`)) await run('ip', ['addr', 'add', `${gw}/${prefix}`, 'dev', br]);
    await run('ip', ['link', 'set', br, 'up']);
    const netnsList = await out('ip', ['netns', 'list']);
    let i = 0;
    for (const h of state.spec.hosts) {
      i++;
      const ns = nsName(state.name, h.name);
      const veth = vethName(state.tag, i);
      if (!netnsList.split('\n').some((l) => l.split(' ')[0] === ns)) {
        await run('ip', ['netns', 'add', ns]);
      }
      await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1',
        'net.ipv4.ip_nonlocal_bind=1']);
      if (!(await this.linkExists('eth0', ns))) {
        await this.delLink(veth); // half-made pair from an interrupted run
        await run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      }
      await run('ip', ['link', 'set', veth, 'master', br]);
      await run('ip', ['link', 'set', veth, 'up']);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      const a = await out('ip', ['-n', ns, '-o', '-4', 'addr', 'show', 'dev', 'eth0']);
      if (!a.includes(` ${h.address}/`)) await run('ip', ['-n', ns, 'addr', 'add', `${h.address}/${prefix}`, 'dev', 'eth0']);
      await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      await run('ip', ['-n', ns, 'route', 'replace', 'default', 'via', gw]);
      const hs = hostState(state, h.name);
      hs.provider.netns = ns;
      hs.provider.veth = veth;
      hs.provider.netnsInode = `net:[${statSync(`/run/netns/${ns}`).ino}]`;
      t.progress(i, state.spec.hosts.length, `${h.name} ${h.address}`);
    }
    await ctx.save();
  }

  // ---- filesystems ------------------------------------------------------------------------

  private fsReady(ctx: LabContext, h: string): boolean {
    const p = paths(ctx.dir);
    return isMountpoint(p.mnt(h)) && isMountpoint(p.uts(h)) && ctx.state.hosts[h]?.provider.fs === 'ready';
  }

  private async createHostFs(ctx: LabContext, h: string, t: StepTools) {
    const { state } = ctx;
    const p = paths(ctx.dir);
    const d = p.host(h);
    // an interrupted attempt may have left a half-built namespace: drop it and start over
    for (const f of [p.mnt(h), p.uts(h)]) {
      if (isMountpoint(f)) await run('umount', [f]);
    }
    for (const sub of ['etc.upper', 'etc.work', 'varlib.upper', 'varlib.work', 'root', 'log']) {
      await fs.rm(join(d, sub), { recursive: true, force: true });
      await fs.mkdir(join(d, sub), { recursive: true, mode: 0o755 });
    }
    await fs.chmod(join(d, 'root'), 0o700);
    await fs.writeFile(p.mnt(h), '');
    await fs.writeFile(p.uts(h), '');
    const cache = cacheRoot();
    await fs.mkdir(cache, { recursive: true });
    const hostname = h;
    const hostsFile = [
      '127.0.0.1 localhost',
      ...state.spec.hosts.map((x) => `${x.address} ${x.name}`),
      '',
    ].join('\n');
    const script = [
      `hostname ${shq(hostname)}`,
      `mount -t overlay ${shq(`halab-${state.name}-${h}-etc`)} -o lowerdir=/etc,upperdir=${shq(join(d, 'etc.upper'))},workdir=${shq(join(d, 'etc.work'))} /etc`,
      `mount -t overlay ${shq(`halab-${state.name}-${h}-varlib`)} -o lowerdir=/var/lib,upperdir=${shq(join(d, 'varlib.upper'))},workdir=${shq(join(d, 'varlib.work'))} /var/lib`,
      // the cache must be bound before /root (where it usually lives) is covered
      // /mnt (for temporary mounts, present on every Debian/Ubuntu) becomes the host's own tmpfs
      `mkdir -p /mnt && mount -t tmpfs -o mode=0755,size=1m ${shq(`halab-${state.name}-${h}-mnt`)} /mnt`,
      `mkdir -p ${HOST_CACHE} && mount --bind ${shq(cache)} ${HOST_CACHE} && mount -o remount,bind,ro ${HOST_CACHE}`,
      `mount --bind ${shq(join(d, 'root'))} /root`,
      `mount --bind ${shq(join(d, 'log'))} /var/log`,
      // this namespace's copies of /run/netns and of the lab's ns files would pin those namespaces
      `umount -R -l /run/netns 2>/dev/null || true`,
      `umount -R -l ${shq(p.ns)} 2>/dev/null || true`,
      `mount -t tmpfs -o mode=0755,size=64m ${shq(`halab-${state.name}-${h}-run`)} /run`,
      `mkdir -p /run/sshd /run/halab ${SCAN_DIR} ${SV_DIR} ${LOG_DIR} && chmod 0755 /run/sshd`,
      `umount -l /sys && mount -t sysfs ${shq(`halab-${state.name}-${h}-sys`)} /sys`,
      `echo ${shq(hostname)} > /etc/hostname`,
      `cat > /etc/hosts <<'EOF'\n${hostsFile}EOF`,
      // no stale daemons' pid files or sockets from the real machine
      `rm -f /etc/ssh/ssh_host_*`,
      // last: the lab directory itself may live under /tmp
      `mount -t tmpfs -o mode=1777,size=256m ${shq(`halab-${state.name}-${h}-tmp`)} /tmp`,
    ].join('\n');
    t.log(`mount, UTS and filesystem view for ${h}`, { host: h });
    await run('nsenter', [`--net=/run/netns/${nsName(state.name, h)}`,
      'unshare', `--mount=${p.mnt(h)}`, `--uts=${p.uts(h)}`, '--propagation', 'private', '/bin/sh', '-ec', script]);
    hostState(state, h).provider.fs = 'ready';
    await ctx.save();
  }

  // ---- disks ------------------------------------------------------------------------------

  private async disksReady(ctx: LabContext, h: string): Promise<boolean> {
    const hs = ctx.state.hosts[h];
    if (!hs || hs.disks.length !== DISKS.length) return false;
    let mounts: string;
    try {
      mounts = (await this.hostSh(ctx.state, ctx.dir, h, 'cat /proc/self/mountinfo')).stdout;
    } catch {
      return false;
    }
    for (const disk of hs.disks) {
      if (!disk.loopDevice) return false;
      const back = await out('losetup', ['-n', '-O', 'BACK-FILE', disk.loopDevice]).catch(() => '');
      if (back !== disk.image) return false;
      const line = mounts.split('\n').find((l) => l.split(' ')[4] === disk.mountpoint);
      if (!line || !line.includes(` ${disk.loopDevice} `)) return false;
    }
    return true;
  }

  private async createDisks(ctx: LabContext, h: string, t: StepTools) {
    const { state } = ctx;
    const hs = hostState(state, h);
    const p = paths(ctx.dir);
    const result = [];
    for (const spec of DISKS) {
      const image = p.disk(h, spec.name);
      const size = spec.size(state);
      const prev = hs.disks.find((x) => x.name === spec.name);
      // reuse a device that is still attached to this very image
      let dev = prev?.loopDevice;
      if (dev && (await out('losetup', ['-n', '-O', 'BACK-FILE', dev]).catch(() => '')) !== image) dev = undefined;
      if (!dev) {
        const fresh = !(await exists(image));
        if (fresh) {
          const fh = await open(image, 'w', 0o600);
          await fh.truncate(parseSize(size));
          await fh.close();
        }
        dev = await out('losetup', ['--find', '--show', image]);
        hs.disks = hs.disks.filter((x) => x.name !== spec.name);
        hs.disks.push({ name: spec.name, image, loopDevice: dev, mountpoint: spec.mountpoint, size });
        await ctx.save();
        if (fresh) {
          t.log(`${spec.name}: ${size} ext4 on ${dev}`, { host: h });
          await run('mkfs.ext4', ['-q', '-F', '-L', `${h}-${spec.name}`.slice(0, 16), '-E', 'lazy_itable_init=1,lazy_journal_init=1', dev]);
        }
      }
      // (re)mount inside the host only
      await this.hostSh(state, ctx.dir, h,
        `mkdir -p ${spec.mountpoint}; if ! mountpoint -q ${spec.mountpoint}; then mount -o noatime ${dev} ${spec.mountpoint}; fi`);
      result.push({ name: spec.name, image, loopDevice: dev, mountpoint: spec.mountpoint, size });
    }
    hs.disks = result;
    await ctx.save();
  }

  // ---- sshd -------------------------------------------------------------------------------

  private async sshdConfigured(ctx: LabContext, h: string): Promise<boolean> {
    const hs = ctx.state.hosts[h];
    if (!hs?.hostKey) return false;
    try {
      const r = await this.hostSh(ctx.state, ctx.dir, h,
        `cat /etc/ssh/ssh_host_ed25519_key.pub; test -f /etc/ssh/sshd_config_halab && test -x ${SV_DIR}/sshd/run`);
      return keyBody(r.stdout) === keyBody(hs.hostKey);
    } catch {
      return false;
    }
  }

  private async configureSshd(ctx: LabContext, h: string, t: StepTools) {
    const { state } = ctx;
    const host = state.spec.hosts.find((x) => x.name === h)!;
    const pub = await fs.readFile(join(paths(ctx.dir).keys, 'id_ed25519.pub'), 'utf8');
    // a host key is generated once; if one exists but was never recorded, the run that made it died: make a new one
    const r = await this.hostSh(state, ctx.dir, h, [
      `rm -f /etc/ssh/ssh_host_*`,
      `ssh-keygen -q -t ed25519 -N '' -C ${shq(`halab-${state.name}-${h}`)} -f /etc/ssh/ssh_host_ed25519_key`,
      `cat /etc/ssh/ssh_host_ed25519_key.pub`,
    ].join('\n'));
    const sshdConfig = [
      '# generated by halab',
      'Port 22',
      `ListenAddress ${host.address}`,
      'HostKey /etc/ssh/ssh_host_ed25519_key',
      'PidFile /run/sshd.pid',
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'AuthorizedKeysFile /etc/ssh/halab_authorized_keys',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'UseDNS no',
      'X11Forwarding no',
      'PrintMotd no',
      'PrintLastLog no',
      'MaxSessions 64',
      'MaxStartups 64:30:128',
      'Subsystem sftp /usr/lib/openssh/sftp-server',
      '',
    ].join('\n');
    await this.hostWrite(state, ctx.dir, h, '/etc/ssh/halab_authorized_keys', pub, 0o600);
    await this.hostWrite(state, ctx.dir, h, '/etc/ssh/sshd_config_halab', sshdConfig, 0o644);
    await this.hostSh(state, ctx.dir, h, '/usr/sbin/sshd -t -f /etc/ssh/sshd_config_halab');
    for (const f of serviceFiles({ name: 'sshd', command: ['/usr/sbin/sshd', '-D', '-e', '-f', '/etc/ssh/sshd_config_halab'],
      prepare: ['mkdir -p /run/sshd && chmod 0755 /run/sshd'] })) {
      await this.hostWrite(state, ctx.dir, h, f.path, f.content, f.mode);
    }
    await this.hostWrite(state, ctx.dir, h, '/etc/halab/boot', bootScript(), 0o755);
    hostState(state, h).hostKey = r.stdout.trim().split('\n').pop()!;
    t.log(`host key ${hostState(state, h).hostKey?.split(' ')[1]?.slice(-12)}`, { host: h });
    await ctx.save();
  }

  // ---- boot / power -----------------------------------------------------------------------

  private booted(state: LabState, h: string): boolean {
    const hs = state.hosts[h];
    const init = Number(hs?.provider.initPid ?? 0);
    return procAlive(init) && nsInode(init, 'net') === hs?.provider.netnsInode;
  }

  /** Start the host's PID 1 (s6-svscan in a new PID namespace) in the background, detached from us. */
  private async boot(ctx: LabContext, h: string, t: StepTools) {
    const { state } = ctx;
    const p = paths(ctx.dir);
    const console = await open(join(p.host(h), 'console.log'), 'a');
    const child = spawn('nsenter', [`--net=/run/netns/${nsName(state.name, h)}`, `--mount=${p.mnt(h)}`, `--uts=${p.uts(h)}`, '--',
      'unshare', '--pid', '--fork', '--kill-child=SIGKILL', '--', '/bin/sh', '/etc/halab/boot'], {
      detached: true,
      stdio: ['ignore', console.fd, console.fd],
    });
    child.unref();
    await console.close();
    const launcher = child.pid!;
    // PID 1 of the host is the launcher's only child
    let init = 0;
    await waitFor(`host ${h} to boot`, () => {
      try {
        const kids = readFileSync(`/proc/${launcher}/task/${launcher}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
        init = kids[0] ?? 0;
      } catch { init = 0; }
      return init > 0 && readFileSync(`/proc/${init}/comm`, 'utf8').trim() === 's6-svscan';
    }, 10_000, t.signal, `see ${join(p.host(h), 'console.log')}`);
    const hs = hostState(state, h);
    hs.provider.launcherPid = launcher;
    hs.provider.initPid = init;
    hs.provider.pidnsInode = nsInode(init, 'pid');
    t.log(`booted (PID 1 = s6-svscan, pid ${init} on this machine)`, { host: h });
  }

  private async waitSsh(ctx: LabContext, h: string, signal: AbortSignal) {
    const host = ctx.state.spec.hosts.find((x) => x.name === h)!;
    let lastErr: unknown;
    const t0 = Date.now();
    while (Date.now() - t0 < 20_000) {
      if (signal.aborted) throw new HalabError('CANCELLED', 'cancelled');
      try {
        const r = await ctx.remote(h).exec('hostname; ip -o -4 addr show dev eth0', { timeoutMs: 10_000 });
        const [name, addr] = r.stdout.split('\n');
        if (name?.trim() !== h) throw new HalabError('HOST_MISMATCH', `${host.address} answered as "${name}", expected ${h}`);
        if (!addr?.includes(` ${host.address}/`)) throw new HalabError('HOST_MISMATCH', `${h} does not have address ${host.address}`);
        return;
      } catch (err) {
        if (err instanceof HalabError && (err.code === 'HOST_KEY_MISMATCH' || err.code === 'HOST_MISMATCH')) throw err;
        lastErr = err;
        await sleep(100);
      }
    }
    throw lastErr instanceof Error ? lastErr : new HalabError('SSH_CONNECT', `${h} is not reachable over SSH`);
  }

  async isPoweredOn(state: LabState, host: string): Promise<boolean> {
    return this.booted(state, host);
  }

  async hostPids(state: LabState, host: string): Promise<number[]> {
    const inode = state.hosts[host]?.provider.netnsInode;
    return inode ? pidsInNamespace('net', String(inode)) : [];
  }

  async power(ctx: LabContext, host: string, action: PowerAction): Promise<void> {
    const { state } = ctx;
    const hs = state.hosts[host];
    if (!hs) throw new HalabError('NO_HOST', `lab ${state.name} has no host ${host}`);
    const init = Number(hs.provider.initPid ?? 0);
    switch (action) {
      case 'off': {
        // the cable goes first: a powered-off host answers nothing, not even ARP for its
        // addresses (the namespace's kernel stack would otherwise keep answering)
        await run('ip', ['link', 'set', String(hs.provider.veth), 'down']);
        if (!this.booted(state, host)) return;
        // SIGKILL to a PID namespace's PID 1 kills every process in it at once: the power cord
        process.kill(init, 'SIGKILL');
        await waitFor(`${host} to power off`, () => pidsInNamespace('pid', String(hs.provider.pidnsInode)).length === 0, 10_000);
        // addresses a daemon added (a VIP) vanish with a real power-off too
        const ns = nsName(state.name, host);
        await run('ip', ['-n', ns, 'addr', 'flush', 'dev', 'eth0']);
        await run('ip', ['-n', ns, 'addr', 'add', `${hs.address}/${prefixOf(state.spec.subnet)}`, 'dev', 'eth0']);
        await run('ip', ['-n', ns, 'route', 'replace', 'default', 'via', gatewayOf(state.spec.subnet)]);
        await ctx.remote(host).close();
        return;
      }
      case 'on': {
        await run('ip', ['link', 'set', String(hs.provider.veth), 'up']);
        if (this.booted(state, host)) return;
        await this.boot(ctx, host, { signal: new AbortController().signal, log: () => {}, progress: () => {} });
        await ctx.save();
        await this.waitSsh(ctx, host, new AbortController().signal);
        return;
      }
      case 'freeze':
      case 'thaw': {
        const sig = action === 'freeze' ? 'SIGSTOP' : 'SIGCONT';
        for (const pid of pidsInNamespace('pid', String(hs.provider.pidnsInode))) {
          try { process.kill(pid, sig); } catch { /* exited meanwhile */ }
        }
        return;
      }
      case 'link-down':
      case 'link-up':
        await run('ip', ['link', 'set', String(hs.provider.veth), action === 'link-down' ? 'down' : 'up']);
        return;
    }
  }

  /**
   * Only directories under the HA Lab cache can be shared: every host sees the cache read-only
   * at HOST_CACHE (bound when the host was made); this binds the wanted part at `hostPath`.
   */
  async shareDirectory(ctx: LabContext, host: string, localDir: string, hostPath: string): Promise<void> {
    const cache = cacheRoot();
    if (!localDir.startsWith(`${cache}/`)) {
      throw new HalabError('NOT_SHAREABLE', `${localDir} is not in the HA Lab cache (${cache})`, { fix: 'put shared artifacts under the cache directory' });
    }
    const inHost = `${HOST_CACHE}/${localDir.slice(cache.length + 1)}`;
    await this.hostSh(ctx.state, ctx.dir, host, [
      `mkdir -p ${shq(hostPath)}`,
      `if ! mountpoint -q ${shq(hostPath)}; then mount --bind ${shq(inHost)} ${shq(hostPath)} && mount -o remount,bind,ro ${shq(hostPath)}; fi`,
    ].join('\n'));
  }

  // ---------------------------------------------------------------------------------------
  // destroy and leak check
  // ---------------------------------------------------------------------------------------

  async destroy(state: LabState, dir: string, t: Pick<StepTools, 'log'>): Promise<void> {
    const p = paths(dir);
    // 1. processes: SIGKILL each host's PID 1 (kills its whole PID namespace), then anything
    //    still in the host's network namespace (verified by namespace inode, never by name)
    for (const h of state.spec.hosts) {
      const hs = state.hosts[h.name];
      if (!hs) continue;
      if (this.booted(state, h.name)) process.kill(Number(hs.provider.initPid), 'SIGKILL');
      const launcher = Number(hs.provider.launcherPid ?? 0);
      if (procAlive(launcher) && /unshare|nsenter/.test(readFileSafe(`/proc/${launcher}/comm`))) {
        try { process.kill(launcher, 'SIGKILL'); } catch { /* gone */ }
      }
      if (hs.provider.netnsInode) {
        for (const pid of pidsInNamespace('net', String(hs.provider.netnsInode))) {
          try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        }
      }
    }
    for (const h of state.spec.hosts) {
      const inode = state.hosts[h.name]?.provider.netnsInode;
      if (inode) await waitFor(`processes of ${h.name} to exit`, () => pidsInNamespace('net', String(inode)).length === 0, 10_000).catch((e) => t.log(String(e.message), { level: 'warn' }));
    }
    t.log('processes stopped');
    // 2. disks: unmount inside the host, then detach the loop devices backed by this lab's images
    for (const h of masters(state)) {
      const hs = state.hosts[h];
      if (!hs) continue;
      if (isMountpoint(p.mnt(h))) {
        await run('nsenter', [`--mount=${p.mnt(h)}`, '--', '/bin/sh', '-c',
          'umount /var/lib/etcd-snapshots 2>/dev/null; umount /var/lib/etcd 2>/dev/null; true'], { allowFail: true });
      }
    }
    // 3. persistent mount/UTS namespaces die with their last reference
    for (const h of state.spec.hosts) {
      for (const f of [p.mnt(h.name), p.uts(h.name)]) {
        if (isMountpoint(f)) await run('umount', [f]);
      }
    }
    if (isMountpoint(p.ns)) await run('umount', [p.ns]);
    for (const h of masters(state)) {
      for (const disk of state.hosts[h]?.disks ?? []) {
        if (!disk.loopDevice) continue;
        const back = await out('losetup', ['-n', '-O', 'BACK-FILE', disk.loopDevice]).catch(() => '');
        if (back === disk.image || back === `${disk.image} (deleted)`) await run('losetup', ['-d', disk.loopDevice]);
      }
      // a device attached by an interrupted run before it was recorded
      for (const d of DISKS) {
        const img = p.disk(h, d.name);
        for (const dev of (await out('losetup', ['-n', '-O', 'NAME', '-j', img]).catch(() => '')).split('\n').filter(Boolean)) {
          await run('losetup', ['-d', dev.trim()]);
        }
      }
    }
    t.log('disks detached');
    // 4. network: deleting a netns deletes the veth end inside it, and so the pair
    const netnsList = (await out('ip', ['netns', 'list']).catch(() => '')).split('\n').map((l) => l.split(' ')[0]);
    for (const h of state.spec.hosts) {
      const ns = nsName(state.name, h.name);
      if (netnsList.includes(ns)) await run('ip', ['netns', 'del', ns]);
    }
    let i = 0;
    for (const _h of state.spec.hosts) {
      const veth = vethName(state.tag, ++i);
      await this.delLink(veth);
    }
    const br = bridgeName(state.tag);
    await this.delLink(br);
    t.log('network removed');
  }

  async leftovers(state: LabState, dir: string): Promise<string[]> {
    const left: string[] = [];
    const netns = (await out('ip', ['netns', 'list']).catch(() => '')).split('\n').map((l) => l.split(' ')[0] ?? '');
    for (const n of netns) if (n.startsWith(`halab-${state.name}-`)) left.push(`network namespace ${n}`);
    const links = (await out('ip', ['-o', 'link', 'show']).catch(() => '')).split('\n')
      .map((l) => l.split(': ')[1]?.split('@')[0] ?? '');
    for (const l of links) if (l.startsWith(state.tag)) left.push(`link ${l}`);
    const loops = await out('losetup', ['-n', '-O', 'NAME,BACK-FILE', '-l']).catch(() => '');
    const under = (p: string | undefined) => !!p && (p === dir || p.startsWith(`${dir}/`));
    for (const l of loops.split('\n')) if (under(l.trim().split(/\s+/)[1])) left.push(`loop device ${l.trim()}`);
    const mi = readFileSync('/proc/self/mountinfo', 'utf8');
    for (const l of mi.split('\n')) {
      const f = l.split(' ');
      if (under(f[4]) || under(f[3]) || (l.split(' - ')[1] ?? '').split(' ')[1]?.startsWith(`halab-${state.name}-`)) {
        left.push(`mount ${f[4]} (${l.split(' - ')[1] ?? ''})`);
      }
    }
    const inodes = new Set(Object.values(state.hosts).flatMap((h) => [h.provider.netnsInode, h.provider.pidnsInode]).filter(Boolean).map(String));
    for (const e of readdirSync('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      const pid = Number(e);
      if (!procAlive(pid)) continue;
      const net = nsInode(pid, 'net');
      const pidns = nsInode(pid, 'pid');
      const cmd = readFileSafe(`/proc/${pid}/cmdline`).replace(/\0/g, ' ');
      if ((net && inodes.has(net)) || (pidns && inodes.has(pidns)) || cmd.includes(`${dir}/`)) {
        left.push(`process ${pid} ${cmd.slice(0, 80)}`);
      }
    }
    return left;
  }
}

// ------------------------------------------------------------------------------------------

function bootScript(): string {
  return [
    '#!/bin/sh',
    '# PID 1 of this lab host (started by halab in a new PID namespace).',
    'umount -l /proc 2>/dev/null',
    'mount -t proc -o nosuid,nodev,noexec proc /proc',
    `rm -rf ${SCAN_DIR} && mkdir -p ${SCAN_DIR} ${LOG_DIR} /run/sshd`,
    `for d in ${SV_DIR}/*; do [ -x "$d/run" ] && cp -a "$d" ${SCAN_DIR}/; done`,
    `exec s6-svscan ${SCAN_DIR}`,
    '',
  ].join('\n');
}

function masters(state: LabState): string[] {
  return state.spec.hosts.filter((h) => h.role === 'master').map((h) => h.name);
}

export function hostState(state: LabState, h: string): HostState {
  let hs = state.hosts[h];
  if (!hs) {
    const spec = state.spec.hosts.find((x) => x.name === h)!;
    hs = { name: h, role: spec.role, address: spec.address, disks: [], provider: {} };
    state.hosts[h] = hs;
  }
  return hs;
}

function keyBody(line: string): string {
  return line.trim().split('\n').pop()?.split(/\s+/)[1] ?? '';
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(() => true, () => false);
}

function readFileSafe(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}
