// Shared by the integration tests: a private HALAB_HOME per test file, the CLI as a child
// process, and an independent leak check (it does not trust the provider's own leftovers()).
import { execFileSync, spawn } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { EngineEvent } from '../../provisioning/api/types.ts';
import { labTag } from '../../provisioning/state/store.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const HALAB = join(ROOT, 'bin', 'halab');

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * A fresh HALAB_HOME for this test file; returns it and sets process.env for in-process engine
 * calls and the CLI. KUBECONFIG points into it too (`up` merges a context into the default
 * kubeconfig): a test never touches the real ~/.kube/config. `underHome`: in ~/.local/state, next
 * to the default state directory (a host's /root covers it, as it does a user's own labs), instead
 * of under /tmp.
 */
export function freshHome(tag: string, o: { underHome?: boolean } = {}): string {
  const parent = o.underHome ? join(homedir(), '.local', 'state') : tmpdir();
  mkdirSync(parent, { recursive: true });
  const home = mkdtempSync(join(parent, `halab-it-${tag}-`));
  process.env.HALAB_HOME = home;
  process.env.KUBECONFIG = join(home, 'kube', 'config');
  return home;
}

/** Keep a lab's engine log (every event of every `up`) under test-results/ before its home is removed. */
export function saveLabLog(home: string, lab: string) {
  try {
    mkdirSync(join(ROOT, 'test-results', 'lab-logs'), { recursive: true });
    copyFileSync(
      join(home, 'labs', lab, 'logs', 'halab.log'),
      join(ROOT, 'test-results', 'lab-logs', `${lab}-${Date.now()}.ndjson`),
    );
  } catch {
    /* no log (the lab was removed cleanly or never created) */
  }
}

export function removeHome(home: string) {
  rmSync(home, { recursive: true, force: true });
}

export function writeSpec(home: string, file: string, yaml: string): string {
  const p = join(home, file);
  writeFileSync(p, yaml);
  return p;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run the CLI as a child process. Asynchronous on purpose: a synchronous spawn blocks the test
 * worker's event loop for the whole `halab up`, and vitest's worker RPC then times out.
 */
export function cli(
  home: string,
  args: string[],
  timeoutMs = 300_000,
  env: Record<string, string> = {},
): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(HALAB, args, {
      env: { ...process.env, HALAB_HOME: home, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** Start `halab up --json` and resolve with the child when `until(event)` is true (to kill it mid-way). */
export function cliUpUntil(
  home: string,
  specPath: string,
  extra: string[],
  until: (e: EngineEvent) => boolean,
): Promise<{ pid: number; events: EngineEvent[] }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(HALAB, ['up', specPath, '--json', ...extra], {
      env: { ...process.env, HALAB_HOME: home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const events: EngineEvent[] = [];
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const e = JSON.parse(line) as EngineEvent;
          events.push(e);
          if (until(e)) resolvePromise({ pid: child.pid!, events });
        } catch {
          /* not an event */
        }
      }
    });
    child.on('exit', (code) => reject(new Error(`halab up exited (${code}) before the awaited event`)));
  });
}

/**
 * Everything of lab `name` (with state under `home`) still on the machine, looked up
 * independently of the engine: namespaces, links with the lab's tag, loop devices backed by
 * files under home, mounts mentioning home or the lab, processes in those namespaces or
 * started from home (a qemu lab's VMs: QEMU names its overlay and sockets under the lab's folder), the lab's cgroups and processes in them (containerd, shims, containers),
 * and the state directory.
 */
export function leaks(home: string, name: string): string[] {
  const left: string[] = [];
  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const l of netns.split('\n')) if (l.startsWith(`halab-${name}-`)) left.push(`netns ${l}`);
  const tag = labTag(name);
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  for (const l of links.split('\n')) {
    const n = l.split(': ')[1]?.split('@')[0];
    if (n?.startsWith(tag)) left.push(`link ${n}`);
  }
  const loops = execFileSync('losetup', ['-n', '-O', 'NAME,BACK-FILE', '-l'], { encoding: 'utf8' });
  const dir = join(home, 'labs', name);
  const under = (p: string | undefined) => !!p && (p === dir || p.startsWith(`${dir}/`));
  for (const l of loops.split('\n')) if (under(l.trim().split(/\s+/)[1])) left.push(`loop ${l.trim()}`);
  for (const l of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const src = (l.split(' - ')[1] ?? '').split(' ')[1] ?? '';
    if (under(l.split(' ')[4]) || src.startsWith(`halab-${name}-`)) left.push(`mount ${l.split(' ')[4]}`);
  }
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    let cmd = '';
    let netnsLink = '';
    try {
      cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').replace(/\0/g, ' ');
      netnsLink = readlinkSync(`/proc/${e}/ns/net`);
    } catch {
      continue;
    }
    if (cmd.includes(`${dir}/`) && !cmd.includes('vitest')) left.push(`process ${e} ${cmd.slice(0, 60)}`);
    void netnsLink;
  }
  // a kubeadm lab's cgroups (containerd, the pods), and any process still in one of them
  for (const h of readdirSync('/sys/fs/cgroup')) {
    try {
      readdirSync(join('/sys/fs/cgroup', h, 'halab', name));
      left.push(`cgroup /sys/fs/cgroup/${h}/halab/${name}`);
    } catch {
      /* none: good */
    }
  }
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cgroup`, 'utf8').includes(`/halab/${name}/`)) {
        left.push(`process ${e} in the lab's cgroups: ${readFileSync(`/proc/${e}/comm`, 'utf8').trim()}`);
      }
    } catch {
      /* gone */
    }
  }
  try {
    readdirSync(join(home, 'labs', name));
    left.push(`state dir ${join(home, 'labs', name)}`);
  } catch {
    /* gone: good */
  }
  return left;
}

/** Processes whose network namespace is one of the lab's (by namespace inode, recorded before down). */
export function processesInNetns(inodes: string[]): number[] {
  const set = new Set(inodes);
  const res: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (set.has(readlinkSync(`/proc/${e}/ns/net`))) res.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return res;
}

export function skipUnlessRoot(): string | undefined {
  if (isRoot()) return undefined;
  const why =
    'integration tests build real labs: they need root (namespaces, bridges, loop devices). Run them with sudo.';
  console.warn(`SKIP: ${why}`);
  return why;
}
