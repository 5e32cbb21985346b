// What the lab puts on a machine it does not own, and how `down` takes exactly that back. Before
// the lab changes anything, a baseline is taken of the places the lab's steps write to: the paths
// under them (every one), and the configuration files with their content (a tar and sha256 sums).
// `down` removes every path that was not there, puts back every configuration file the lab
// changed, and leaves everything else alone. The baseline is kept on the machine (and the path
// list also here, for the leftover check).
import { shq } from '../../exec/types.ts';

/** Configuration the lab writes and that may exist before it (restored to its content). */
export const CONFIG_ROOTS = ['/etc/halab', '/etc/kubernetes', '/etc/haproxy', '/etc/keepalived', '/root/.kube'];
/** Places where the lab only adds (every path that was not there is removed). */
export const ADDED_ROOTS = [
  '/var/lib/etcd',
  '/var/lib/etcd-snapshots',
  '/var/log/halab',
  '/run/halab',
  '/mnt/halab',
  '/var/lib/kubelet',
  // HAProxy's admin socket and keepalived's pid files (their daemons' own, while the lab runs them)
  '/run/haproxy',
  '/run/keepalived',
  '/run/keepalived.pid',
  '/run/keepalived_vrrp.pid',
];
/** Directories whose `halab*` entries count as the lab's too (/run/halab-probe, /tmp/halab-…). */
export const PREFIX_PARENTS = ['/run', '/tmp', '/var/lib', '/var/log', '/etc', '/mnt', '/opt'];
/** What the hollow kubelets (kubemark) leave in /tmp. */
export const TMP_PATTERNS = ['hollow-kubelet.*', 'kubelet_remote_*'];
/** The processes the lab runs (a new one of these after `down` is a leftover). */
export const LAB_PROCESSES = [
  'etcd',
  'haproxy',
  'keepalived',
  'kube-apiserver',
  'kube-controller',
  'kube-scheduler',
  'kubemark',
  'kubelet',
  's6-svscan',
  's6-supervise',
  's6-log',
  'etcd-snapshot.s',
];

/** The lab's own directory on a machine (the baseline, shared binaries). */
export function storeDir(lab: string): string {
  return `/var/lib/halab-existing/${lab}`;
}

/** Shell that prints every path under the lab's places, sorted, one a line (pure). */
export function listScript(lab: string): string {
  const store = storeDir(lab);
  return [
    `{ for r in ${[...CONFIG_ROOTS, ...ADDED_ROOTS].join(' ')}; do [ -e "$r" ] || [ -L "$r" ] && echo "$r"; done`,
    `  for d in ${PREFIX_PARENTS.join(' ')}; do find "$d" -mindepth 1 -maxdepth 1 -name 'halab*' ! -name halab-existing 2>/dev/null; done`,
    // the hollow kubelets' (kubemark) working directories and sockets
    `  find /tmp -mindepth 1 -maxdepth 1 \\( ${TMP_PATTERNS.map((p) => `-name ${shq(p)}`).join(' -o ')} \\) 2>/dev/null`,
    // a service dir or log dir that was there belongs to someone else: its churn is not the lab's
    `} | sort -u | while read -r r; do case "$r" in /run/halab|/var/log/halab) find "$r" -xdev -maxdepth 2 2>/dev/null ;; *) find "$r" -xdev 2>/dev/null ;; esac; done | grep -v '^${store}' | sort -u`,
  ].join('\n');
}

/** Shell that prints "pid comm" of every process (pure). */
export const PROCS_SCRIPT = 'ps -e -o pid=,comm= | awk \'{print $1" "$2}\'';

/** Packet-filter tables whose `KUBE-*` chains and rules the lab's kubelets add (kubemark too). */
const FW = 'for c in iptables ip6tables; do command -v $c >/dev/null 2>&1 || continue; for t in filter nat mangle; do';

/** Shell that saves every table's rules as `<dir>/<prefix>.<cmd>.<table>` (pure). */
function saveRulesScript(dir: string, prefix: string): string {
  return `${FW} $c -t $t -S > ${dir}/${prefix}.$c.$t 2>/dev/null || : > ${dir}/${prefix}.$c.$t; done; done`;
}

/** Shell that removes the KUBE-* rules and chains added since the baseline (pure). */
export function restoreRulesScript(lab: string): string {
  const s = storeDir(lab);
  return [
    `[ -f ${s}/baseline.done ] || exit 0`,
    saveRulesScript(s, 'now'),
    `${FW}`,
    `  [ -f ${s}/base.$c.$t ] || continue`,
    `  grep -vxF -f ${s}/base.$c.$t ${s}/now.$c.$t | grep '^-A' | grep 'KUBE-' | while read -r line; do eval "$c -t $t -D \${line#-A }" 2>/dev/null; done`,
    `  grep -vxF -f ${s}/base.$c.$t ${s}/now.$c.$t | grep '^-N KUBE-' | while read -r _ ch; do $c -t $t -F "$ch" 2>/dev/null; $c -t $t -X "$ch" 2>/dev/null; done`,
    'done; done',
    'true',
  ].join('\n');
}

/** Shell that prints the KUBE-* rules and chains added since the baseline, one a line (pure). */
export function addedRulesScript(lab: string): string {
  const s = storeDir(lab);
  return [
    `[ -f ${s}/baseline.done ] || exit 0`,
    saveRulesScript(s, 'now'),
    `${FW} grep -vxF -f ${s}/base.$c.$t ${s}/now.$c.$t | grep 'KUBE-' | sed "s/^/$c -t $t /"; done; done`,
    'true',
  ].join('\n');
}

/** Shell that takes the baseline (once: an existing one is kept) and prints its path list (pure). */
export function baselineScript(lab: string): string {
  const s = storeDir(lab);
  return [
    'set -e',
    `mkdir -p ${s}`,
    `if [ ! -f ${s}/baseline.done ]; then`,
    `  ( ${listScript(lab).replace(/\n/g, '\n    ')} ) > ${s}/baseline.list`,
    `  ${PROCS_SCRIPT} > ${s}/baseline.procs`,
    `  ${saveRulesScript(s, 'base')}`,
    `  set -- ; for r in ${CONFIG_ROOTS.join(' ')}; do [ -e "$r" ] && set -- "$@" "$r"; done`,
    `  if [ $# -gt 0 ]; then tar --one-file-system -cpf ${s}/baseline.tar "$@" 2>/dev/null; find "$@" -xdev -type f -exec sha256sum {} + > ${s}/baseline.sums; else : > ${s}/baseline.sums; fi`,
    `  touch ${s}/baseline.done`,
    'fi',
    `cat ${s}/baseline.list`,
    `echo @@procs@@`,
    `cat ${s}/baseline.procs`,
  ].join('\n');
}

/** Shell that removes every path added since the baseline and restores changed configuration (pure). */
export function restoreFilesScript(lab: string): string {
  const s = storeDir(lab);
  return [
    `[ -f ${s}/baseline.done ] || exit 0`,
    `( ${listScript(lab).replace(/\n/g, '\n  ')} ) > ${s}/now.list`,
    // deepest first, never across a mount
    `comm -13 ${s}/baseline.list ${s}/now.list | sort -r | while read -r p; do rm -rf --one-file-system -- "$p"; done`,
    `if [ -s ${s}/baseline.sums ]; then`,
    `  sha256sum -c --quiet ${s}/baseline.sums 2>/dev/null | sed -n 's/: FAILED.*$//p' | sed 's#^/##' > ${s}/changed || true`,
    `  [ -s ${s}/changed ] && tar -xpf ${s}/baseline.tar -C / -T ${s}/changed`,
    'fi',
    'true',
  ].join('\n');
}

/** Paths in `now` that are not in `baseline` (pure): what the lab left. */
export function addedPaths(baseline: string[], now: string[]): string[] {
  const before = new Set(baseline);
  return now.filter((p) => p && !before.has(p));
}

/** Processes of the lab's kinds that were not running at the baseline (pure). */
export function addedProcesses(baseline: string, now: string): string[] {
  const pids = new Set(baseline.split('\n').map((l) => l.trim().split(' ')[0]));
  return now
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => {
      const [pid, comm = ''] = l.split(' ');
      return pid && !pids.has(pid) && LAB_PROCESSES.some((p) => comm === p || comm.startsWith(p));
    });
}

/** Shell: the lab's services (defined under /etc/halab/sv and not in the baseline's list). */
export function labServicesScript(lab: string): string {
  const s = storeDir(lab);
  return `for d in /etc/halab/sv/*/; do [ -d "$d" ] || continue; d=\${d%/}; grep -qxF "$d" ${s}/baseline.list 2>/dev/null || echo "\${d##*/}"; done`;
}

export const quote = shq;
