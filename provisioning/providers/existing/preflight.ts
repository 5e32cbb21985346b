// The preflight of one machine handed over to the lab, over SSH before anything is changed on it:
// a Debian/Ubuntu-like OS (systemd or not), the kernel features the steps use, the ports the
// plan's services listen on free, the programs of hosts/contents.ts installed, the lab address on
// an interface (eth0 on the LBs: keepalived's), and no Kubernetes already there. Every refusal
// names the machine, the cause and the fix.
import type { HostRole, LabSpec } from '../../api/types.ts';
import { shq } from '../../exec/types.ts';
import { HOST_PACKAGES } from '../../hosts/contents.ts';
import { hostPorts, VRRP_PORT } from '../../spec/plan.ts';
import { ETCD_DATA_DIR } from '../../steps/pki/kubeadm-config.ts';
import { LB_INTERFACE } from '../../steps/lb/model.ts';

/** The program (or file) that shows a package of hosts/contents.ts is installed. */
export const PACKAGE_PROBES: Readonly<Record<string, string>> = {
  'openssh-server': 'sshd',
  s6: 's6-svscan',
  iproute2: 'ip',
  procps: 'ps',
  psmisc: 'fuser',
  kmod: 'modprobe',
  e2fsprogs: 'mkfs.ext4',
  curl: 'curl',
  'ca-certificates': '/etc/ssl/certs/ca-certificates.crt',
  socat: 'socat',
  jq: 'jq',
  'iputils-ping': 'ping',
  'etcd-server': 'etcd',
  'etcd-client': 'etcdctl',
  haproxy: 'haproxy',
  keepalived: 'keepalived',
};

/**
 * Packages of hosts/contents.ts that no step runs on an existing machine (the image has them for
 * you at a VM's console; the disks here are directories): a missing one is only reported.
 */
export const OPTIONAL_PACKAGES: readonly string[] = ['iputils-ping', 'psmisc', 'kmod', 'e2fsprogs', 'jq'];

/** What is missing but not needed (pure): one line, or undefined. */
export function machineNotes(facts: MachineFacts): string | undefined {
  const m = facts.missing.filter((x) => OPTIONAL_PACKAGES.includes(x.pkg));
  return m.length ? `not installed, not needed by the steps: ${m.map((x) => x.pkg).join(', ')}` : undefined;
}

/** Processes and paths that mean a machine already runs Kubernetes. */
export const KUBERNETES_PROCESSES = ['kubelet', 'kube-apiserver', 'etcd', 'kube-controller-manager', 'kube-scheduler'];
export const KUBERNETES_DIR = '/etc/kubernetes';
/** Oldest kernel the steps are known to work on (Debian 10's 4.19). */
export const MIN_KERNEL: readonly [number, number] = [4, 19];

/** The packages a host of `role` needs (hosts/contents.ts). */
export function packagesFor(role: HostRole): string[] {
  return HOST_PACKAGES.filter((p) => p.on === 'all' || p.on === role).map((p) => p.name);
}

/** One shell script that prints the facts the checks need, `key=value` per line (pure). */
export function factsScript(address: string, role: HostRole): string {
  const probes = packagesFor(role).map((p) => `${p}:${PACKAGE_PROBES[p] ?? p}`);
  return [
    'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH',
    '( . /etc/os-release 2>/dev/null; echo "os_id=$ID"; echo "os_like=$ID_LIKE"; echo "os_name=$PRETTY_NAME" )',
    'echo "systemd=$([ -d /run/systemd/system ] && echo yes || echo no)"',
    'echo "kernel=$(uname -r)"',
    'echo "nonlocal_bind=$(cat /proc/sys/net/ipv4/ip_nonlocal_bind 2>/dev/null || echo missing)"',
    'echo "sigstop=$(kill -l STOP >/dev/null 2>&1 && echo yes || echo no)"',
    'echo "iptables=$(command -v iptables >/dev/null 2>&1 && iptables -S >/dev/null 2>&1 && echo yes || echo no)"',
    `echo "iface=$(ip -o -4 addr show 2>/dev/null | awk -v a=${shq(address)} '{split($4,p,"/"); if (p[1]==a) {print $2; exit}}')"`,
    `for l in $(ss -Hltnu 2>/dev/null | awk '{print $1 "/" $5}'); do echo "listen=$l"; done`,
    `for pp in ${probes.map(shq).join(' ')}; do p=\${pp%%:*}; b=\${pp#*:}; case $b in /*) [ -e "$b" ] ;; *) command -v "$b" >/dev/null 2>&1 ;; esac || echo "missing=$p:$b"; done`,
    `for p in ${KUBERNETES_PROCESSES.join(' ')}; do for pid in $(pgrep -x "$p" 2>/dev/null); do echo "k8s_proc=$p:$pid"; done; done`,
    `[ -e ${KUBERNETES_DIR} ] && echo "k8s_dir=${KUBERNETES_DIR}"`,
    `[ -d ${ETCD_DATA_DIR} ] && echo "etcd_files=$(find ${ETCD_DATA_DIR} -mindepth 1 -maxdepth 1 ! -name lost+found 2>/dev/null | wc -l)"`,
    'echo "s6=$([ -p /run/halab/service/.s6-svscan/control ] && pgrep -x s6-svscan >/dev/null 2>&1 && echo theirs || echo none)"',
    'true',
  ].join('\n');
}

export interface MachineFacts {
  osId: string;
  osLike: string;
  osName: string;
  systemd: boolean;
  kernel: string;
  nonlocalBind: string;
  iptables: boolean;
  iface: string;
  /** Listening sockets: protocol and port. */
  listening: { proto: 'tcp' | 'udp'; port: number }[];
  /** Missing programs: package and what was looked for. */
  missing: { pkg: string; probe: string }[];
  /** Kubernetes processes already running: name and pid. */
  kubernetes: { name: string; pid: number }[];
  kubernetesDir: boolean;
  /** Entries in the etcd data directory (undefined: no such directory). */
  etcdFiles?: number;
  s6: 'theirs' | 'none';
}

/** factsScript's output (pure). */
export function parseFacts(text: string): MachineFacts {
  const f: MachineFacts = {
    osId: '',
    osLike: '',
    osName: '',
    systemd: false,
    kernel: '',
    nonlocalBind: 'missing',
    iptables: false,
    iface: '',
    listening: [],
    missing: [],
    kubernetes: [],
    kubernetesDir: false,
    s6: 'none',
  };
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i < 0) continue;
    const k = line.slice(0, i);
    const v = line.slice(i + 1).trim();
    if (k === 'os_id') f.osId = v;
    else if (k === 'os_like') f.osLike = v;
    else if (k === 'os_name') f.osName = v;
    else if (k === 'systemd') f.systemd = v === 'yes';
    else if (k === 'kernel') f.kernel = v;
    else if (k === 'nonlocal_bind') f.nonlocalBind = v;
    else if (k === 'iptables') f.iptables = v === 'yes';
    else if (k === 'iface') f.iface = v;
    else if (k === 'listen') {
      const [proto, local = ''] = v.split('/');
      const port = Number(local.slice(local.lastIndexOf(':') + 1));
      if ((proto === 'tcp' || proto === 'udp') && Number.isInteger(port) && port > 0) f.listening.push({ proto, port });
    } else if (k === 'missing') {
      const [pkg = '', probe = ''] = v.split(':');
      f.missing.push({ pkg, probe });
    } else if (k === 'k8s_proc') {
      const [name = '', pid = ''] = v.split(':');
      f.kubernetes.push({ name, pid: Number(pid) });
    } else if (k === 'k8s_dir') f.kubernetesDir = true;
    else if (k === 'etcd_files') f.etcdFiles = Number(v);
    else if (k === 's6') f.s6 = v === 'theirs' ? 'theirs' : 'none';
  }
  return f;
}

/** One refusal: the machine, what is wrong, how to fix it. */
export interface MachineProblem {
  host: string;
  cause: string;
  fix: string;
}

function kernelAtLeast(release: string, min: readonly [number, number]): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > min[0] || (a === min[0] && b >= min[1]);
}

/** What refuses `host` (role, address) as a lab machine (pure); empty: it can be used. */
export function machineProblems(
  facts: MachineFacts,
  h: { name: string; role: HostRole; address: string },
  spec: Pick<LabSpec, 'bootstrap'>,
  sshPort: number,
): MachineProblem[] {
  const out: MachineProblem[] = [];
  const add = (cause: string, fix: string) => out.push({ host: h.name, cause, fix });
  const debianLike = facts.osId === 'debian' || facts.osId === 'ubuntu' || /\b(debian|ubuntu)\b/.test(facts.osLike);
  if (!debianLike) {
    add(
      `its OS is ${facts.osName || facts.osId || 'unknown (no /etc/os-release)'}, not Debian or Ubuntu-like`,
      'use a Debian 11+ or Ubuntu 22.04+ machine (the steps use Debian packages and paths)',
    );
  }
  if (!kernelAtLeast(facts.kernel, MIN_KERNEL)) {
    add(
      `its kernel ${facts.kernel || '(unknown)'} is older than ${MIN_KERNEL.join('.')}`,
      'upgrade the kernel (Debian 10 or later ship one that fits)',
    );
  }
  if (h.role === 'lb' && facts.nonlocalBind === 'missing') {
    add(
      'the kernel has no net.ipv4.ip_nonlocal_bind (HAProxy on the BACKUP binds the VIP it does not hold)',
      'use a kernel with IPv4 networking sysctls (/proc/sys/net/ipv4/ip_nonlocal_bind)',
    );
  }
  if (!facts.iface) {
    add(
      `no interface holds its lab address ${h.address}`,
      `give the machine ${h.address} on the network the other machines share, or correct hosts[].address`,
    );
  } else if (h.role === 'lb' && facts.iface !== LB_INTERFACE) {
    add(
      `its lab address ${h.address} is on ${facts.iface}: keepalived is configured for ${LB_INTERFACE}`,
      `name the interface ${LB_INTERFACE} (a systemd .link file, or ip link set ${facts.iface} name ${LB_INTERFACE} while it is down)`,
    );
  }
  if (facts.kubernetes.length) {
    add(
      `it already runs Kubernetes: ${facts.kubernetes.map((p) => `${p.name} (pid ${p.pid})`).join(', ')}`,
      'use a machine without Kubernetes, or remove that cluster first (kubeadm reset, stop etcd) — HA Lab never touches a cluster it did not make',
    );
  }
  if (facts.kubernetesDir) {
    add(
      `it already has ${KUBERNETES_DIR} (another cluster's configuration)`,
      `use a machine without Kubernetes, or remove that cluster first (kubeadm reset; then rm -r ${KUBERNETES_DIR})`,
    );
  }
  if (h.role === 'master' && (facts.etcdFiles ?? 0) > 0) {
    add(
      `${ETCD_DATA_DIR} already holds ${facts.etcdFiles} entries (another etcd's data)`,
      `use a machine whose ${ETCD_DATA_DIR} is empty or absent, or move that data away`,
    );
  }
  for (const m of facts.missing) {
    if (OPTIONAL_PACKAGES.includes(m.pkg)) continue;
    add(`${m.probe} is missing (Debian package ${m.pkg})`, `apt-get install -y ${m.pkg}`);
  }
  for (const p of hostPorts(h.role, spec.bootstrap)) {
    if (p.port === VRRP_PORT || (p.port === sshPort && p.service === 'sshd') || p.port === 22) continue;
    const taken = facts.listening.find((l) => l.port === p.port && l.proto === 'tcp');
    if (taken) {
      add(
        `port ${p.port} (${p.service}) is already in use`,
        `stop what listens on ${p.port} (ss -ltnp 'sport = :${p.port}' names it), or use another machine`,
      );
    }
  }
  return out;
}

/** The problems in one message per machine: "lb1 (10.0.0.11): cause — fix: …". */
export function formatProblems(problems: MachineProblem[], addressOf: (host: string) => string): string {
  return problems.map((p) => `${p.host} (${addressOf(p.host)}): ${p.cause}\n    fix: ${p.fix}`).join('\n');
}
