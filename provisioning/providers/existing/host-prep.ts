// The existing provider's work on one machine: a session with the user's key, the first
// preparation (baseline, the lab key, sysctl, the etcd paths, s6), and copying a tree over OpenSSH.
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';

import type { LabContext } from '../../engine/context.ts';
import { type StepTools } from '../../engine/runner.ts';
import { HalabError } from '../../errors.ts';
import { shq } from '../../exec/types.ts';

import { bootScript, BOOT_SCRIPT } from '../../hosts/supervisor.ts';

import { baselineScript } from './footprint.ts';
import { loginOf, openSession, type Session } from './login.ts';
import {
  factsScript,
  formatProblems,
  machineNotes,
  machineProblems,
  parseFacts,
  type MachineProblem,
} from './preflight.ts';

import { existingHost } from './state.ts';

export const SCAN = '/run/halab/service';
/** A comment on the lab key's line in root's authorised keys: how `down` finds it. */
export const keyMarker = (lab: string) => `halab-existing-lab:${lab}`;
/** Drills that need what only a real power cut does. */
export const UNAVAILABLE_DRILLS: Readonly<Record<string, string>> = {
  'control-plane-down':
    "needs a true power cut: a real node's containers outlive its kubelet and containerd being killed, and the emulated power-off of provider existing only kills the lab's services (this drill also needs the kubeadm bootstrap, which provider existing does not run)",
  'in-cluster-clients':
    "needs a true power cut of a kubeadm master (its pods and their endpoints must vanish with it); provider existing only kills the lab's services and runs the fast bootstrap",
};

/** Where the lab keeps what it knows of a machine on this side (baseline list and processes). */
export function localDir(lab: LabContext): string {
  return join(lab.dir, 'existing');
}

/** How a first-contact session is opened (tests hand in a fake SSH layer). */
export type OpenSession = typeof openSession;

/** One session per machine for the first steps (the user's key, the host key learned or checked). */
export async function session(lab: LabContext, host: string, open: OpenSession): Promise<Session> {
  const login = loginOf(lab.state.spec, host);
  const hs = lab.state.hosts[host];
  const s = await open(login, { host: hs?.hostKey, jump: hs?.ssh?.jump?.hostKey });
  const spec = lab.state.spec.hosts.find((h) => h.name === host)!;
  const rec = (lab.state.hosts[host] ??= { name: host, role: spec.role, address: spec.address });
  if (!rec.hostKey) rec.hostKey = s.hostKey;
  rec.ssh = {
    address: login.address,
    port: login.port,
    connectTimeoutMs: 10_000,
    ...(login.jump && s.jumpHostKey
      ? {
          jump: {
            ...login.jump,
            privateKeyPath: login.privateKeyPath,
            hostKey: rec.ssh?.jump?.hostKey ?? s.jumpHostKey,
          },
        }
      : {}),
  };
  return s;
}

/** Run a root script in a first-contact session; throws with the host's name on a non-zero exit. */
export async function must(s: Session, host: string, script: string, what: string): Promise<string> {
  const r = await s.sh(script);
  if (r.exitCode !== 0) {
    throw new HalabError('EXISTING_STEP', `${host}: ${what} failed (exit ${r.exitCode})`, {
      details: `${r.stderr}${r.stdout}`.trim().slice(-2000),
      fix: 'see the details; the machine is left as it was for everything not yet done',
    });
  }
  return r.stdout;
}

/** The authorised-keys file sshd reads for root (its running configuration). */
export const AUTH_FILE_SCRIPT = [
  'export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH',
  'cfg=$(ps -e -o args= | awk \'/sshd/ {for(i=1;i<NF;i++) if($i=="-f") {print $(i+1); exit}}\' | head -1)',
  'f=$(sshd -T ${cfg:+-f "$cfg"} -C user=root,host=x,addr=127.0.0.1 2>/dev/null | awk \'$1=="authorizedkeysfile"{print $2; exit}\')',
  '[ -n "$f" ] || f=.ssh/authorized_keys',
  'f=$(echo "$f" | sed "s#%h#/root#g; s#%u#root#g; s#%%#%#g")',
  'case "$f" in /*) ;; *) f="/root/$f" ;; esac',
  'echo "$f"',
].join('\n');

export async function prepareHost(lab: LabContext, host: string, t: StepTools, open: OpenSession): Promise<void> {
  const rec = existingHost(lab.state, host);
  const h = lab.state.spec.hosts.find((x) => x.name === host)!;
  const s = await session(lab, host, open);
  try {
    await lab.save(); // the host key, learned on first contact, is pinned from now on
    const facts = parseFacts(await must(s, host, factsScript(h.address, h.role), 'reading the machine'));
    if (!rec.prepared) {
      const problems = machineProblems(facts, h, lab.state.spec, loginOf(lab.state.spec, host).port);
      if (problems.length) throw refusal(lab, problems);
      t.log(
        `${facts.osName || facts.osId}, kernel ${facts.kernel}, ${facts.systemd ? 'systemd' : 'no systemd'}, lab address on ${facts.iface}`,
        { host },
      );
      const note = machineNotes(facts);
      if (note) t.log(note, { host });
    }
    rec.iface = facts.iface;
    // the baseline before anything changes (kept if one was taken already)
    const out = await must(s, host, baselineScript(lab.state.name), 'taking the baseline');
    const [list = '', procs = ''] = out.split('@@procs@@\n');
    await fs.mkdir(localDir(lab), { recursive: true, mode: 0o700 });
    await fs.writeFile(join(localDir(lab), `${host}.list`), list);
    await fs.writeFile(join(localDir(lab), `${host}.procs`), procs);
    rec.baseline = true;
    await lab.save();
    // the lab key for root, marked so that `down` takes exactly that line back
    const pub = (await fs.readFile(lab.sshKey.publicKeyPath, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
    const file = (await must(s, host, AUTH_FILE_SCRIPT, 'finding sshd’s authorised keys file')).trim();
    const line = `${pub} ${keyMarker(lab.state.name)}`;
    const authOut = (
      await must(
        s,
        host,
        [
          `f=${shq(file)}`,
          'd=$(dirname "$f"); [ -d "$d" ] || { mkdir -p "$d"; chmod 700 "$d"; echo dir-created; }',
          'if [ -e "$f" ]; then echo existed; else : > "$f"; chmod 600 "$f"; echo created; fi',
          `grep -qF ${shq(keyMarker(lab.state.name))} "$f" || echo ${shq(line)} >> "$f"`,
        ].join('\n'),
        'authorising the lab key',
      )
    ).split('\n');
    rec.authorizedKeys ??= {
      path: file,
      created: authOut.includes('created'),
      dirCreated: authOut.includes('dir-created'),
    };
    // the LBs' HAProxy binds the VIP also where it is not (the BACKUP)
    if (h.role === 'lb' && facts.nonlocalBind !== '1') {
      rec.nonlocalBind ??= facts.nonlocalBind;
      await must(s, host, 'sysctl -qw net.ipv4.ip_nonlocal_bind=1', 'setting net.ipv4.ip_nonlocal_bind');
    }
    // the plan's disks are directories here (or mounts the user made)
    const dirs = lab.disks(host).map((d) => d.mountpoint);
    if (dirs.length) await must(s, host, `mkdir -p ${dirs.map(shq).join(' ')}`, 'making the etcd directories');
    rec.s6 ??= facts.s6 === 'theirs' ? 'theirs' : 'ours';
    rec.prepared = true;
    await lab.save();
  } finally {
    s.close();
  }
}

export function refusal(lab: LabContext, problems: MachineProblem[]): HalabError {
  const hosts = [...new Set(problems.map((p) => p.host))];
  const addr = (h: string) => lab.state.spec.hosts.find((x) => x.name === h)?.address ?? '?';
  return new HalabError(
    'MACHINE_REFUSED',
    `${hosts.join(', ')} cannot be used for lab ${lab.state.name}: ${problems[0]!.host} (${addr(problems[0]!.host)}): ${problems[0]!.cause}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`,
    { details: formatProblems(problems, addr), fix: problems[0]!.fix },
  );
}

/** Start s6-svscan on /run/halab/service where the machine has none (systemd: a transient unit). */
export async function ensureS6(lab: LabContext, host: string): Promise<void> {
  const rec = existingHost(lab.state, host);
  if (rec.s6 !== 'ours') return;
  const r = lab.remote(host);
  const running = await r.exec(`[ -p ${SCAN}/.s6-svscan/control ] && s6-svscanctl -z ${SCAN} 2>/dev/null`, {
    allowFail: true,
  });
  if (running.exitCode === 0) return;
  await r.upload(BOOT_SCRIPT, bootScript({ ownProc: false }), 0o755);
  const unit = `halab-${lab.state.name}-s6`;
  await r.exec(
    [
      `if [ -d /run/systemd/system ]; then systemctl reset-failed ${unit} 2>/dev/null; systemd-run --quiet --unit=${unit} /bin/sh ${BOOT_SCRIPT};`,
      `else setsid /bin/sh ${BOOT_SCRIPT} </dev/null >/dev/null 2>&1 & fi`,
      `i=0; until [ -p ${SCAN}/.s6-svscan/control ]; do i=$((i+1)); [ $i -gt 100 ] && { echo "s6-svscan did not start" >&2; exit 1; }; sleep 0.05; done`,
    ].join('\n'),
  );
}

export async function localText(path: string): Promise<string> {
  return fs.readFile(path, 'utf8').catch(() => '');
}

/** A known_hosts name: the bare address on port 22, [address]:port otherwise. */
function knownHost(address: string, port: number): string {
  return port === 22 ? address : `[${address}]:${port}`;
}

/** tar | ssh tar, with the lab key and the machine's pinned host key (and its jump host's). */
export async function copyTree(lab: LabContext, host: string, from: string, to: string): Promise<void> {
  const hs = lab.state.hosts[host]!;
  const dir = localDir(lab);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const kh = join(dir, 'known_hosts');
  const lines = Object.values(lab.state.hosts).flatMap((h) => {
    const out: string[] = [];
    if (h.hostKey && h.ssh) out.push(`${knownHost(h.ssh.address, h.ssh.port)} ${h.hostKey}`);
    if (h.ssh?.jump) out.push(`${knownHost(h.ssh.jump.address, h.ssh.jump.port)} ${h.ssh.jump.hostKey}`);
    return out;
  });
  await fs.writeFile(kh, `${[...new Set(lines)].join('\n')}\n`, { mode: 0o600 });
  const common = ['-o', `UserKnownHostsFile=${kh}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes'];
  const j = hs.ssh?.jump;
  const args = [
    ...common,
    '-i',
    lab.sshKey.privateKeyPath,
    '-p',
    String(hs.ssh?.port ?? 22),
    ...(j
      ? [
          '-o',
          `ProxyCommand=ssh ${common.join(' ')} -i ${j.privateKeyPath} -p ${j.port} -W %h:%p ${j.user}@${j.address}`,
        ]
      : []),
    '-c',
    'aes128-gcm@openssh.com',
    `root@${hs.ssh?.address ?? hs.address}`,
    `rm -rf ${shq(to)} && mkdir -p ${shq(to)} && tar -C ${shq(to)} -xf -`,
  ];
  await new Promise<void>((resolve, reject) => {
    const tar = spawn('tar', ['-C', from, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const ssh = spawn('ssh', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    ssh.stderr.on('data', (d: Buffer) => (err += d.toString()));
    tar.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // a failed ssh closes its stdin: the write error is the close's business
    ssh.stdin.on('error', () => undefined);
    tar.stdout.on('error', () => undefined);
    tar.on('error', reject);
    tar.stdout.pipe(ssh.stdin);
    ssh.on('error', reject);
    ssh.on('close', (code) => {
      if (code !== 0) tar.kill();
      return code === 0
        ? resolve()
        : reject(
            new HalabError('COPY_FAILED', `${host}: copying ${from} failed (ssh exit ${code})`, {
              details: err.slice(-2000),
              fix: 'check the machine’s free space and that it answers over SSH',
            }),
          );
    });
  });
}
