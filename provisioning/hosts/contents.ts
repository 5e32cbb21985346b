// What a lab host must contain, written down once. The qemu provider's base image is built from
// exactly this list (providers/qemu/image.ts: debootstrap --include), the README's table is this
// list, and the netns provider's hosts borrow the same programs from this machine's /usr (the
// set-up installs them as Debian packages: scripts/setup.sh).

/** One Debian package a host needs, and what for. */
export interface HostPackage {
  /** The Debian package name (bookworm). */
  name: string;
  /** What the lab uses it for (one line). */
  why: string;
  /** Which hosts use it: every host, or the LBs / masters only (the image holds them all). */
  on: 'all' | 'lb' | 'master';
}

/**
 * The Debian packages of a lab host beyond debootstrap's `minbase` (which already brings bash,
 * coreutils, util-linux's mount, sed, grep, gzip, tar, perl-base). Their services are off until
 * the lab configures them (the lab runs each daemon under its own service manager).
 */
export const HOST_PACKAGES: readonly HostPackage[] = [
  { name: 'openssh-server', why: 'sshd: every step reaches a host over SSH (commands, SFTP)', on: 'all' },
  { name: 's6', why: 'the service supervisor every lab daemon runs under', on: 'all' },
  { name: 'iproute2', why: 'ip: addresses, the VIP, routes', on: 'all' },
  { name: 'procps', why: 'ps, pgrep, sysctl', on: 'all' },
  { name: 'psmisc', why: 'fuser, killall for the drills', on: 'all' },
  { name: 'kmod', why: 'modprobe (9p, fw_cfg, overlay, br_netfilter)', on: 'all' },
  { name: 'e2fsprogs', why: 'mkfs.ext4 and resize2fs for the data disks', on: 'all' },
  { name: 'curl', why: 'health checks (/readyz, HAProxy monitor), the drill probe', on: 'all' },
  { name: 'ca-certificates', why: "curl's TLS trust store", on: 'all' },
  { name: 'socat', why: "HAProxy's admin socket", on: 'lb' },
  { name: 'jq', why: 'JSON in status scripts', on: 'all' },
  { name: 'iputils-ping', why: 'reachability checks in drills', on: 'all' },
  { name: 'etcd-server', why: 'the etcd members (masters)', on: 'master' },
  { name: 'etcd-client', why: 'etcdctl: health, snapshots, restores', on: 'master' },
  { name: 'haproxy', why: 'the TCP load balancer in front of the apiservers', on: 'lb' },
  { name: 'keepalived', why: 'VRRP: the VIP moves between the LBs', on: 'lb' },
];

/** Debian services that the packages above enable on install and the lab runs its own way: kept off. */
export const HOST_SERVICES_OFF: readonly string[] = ['etcd', 'haproxy', 'keepalived'];

/** The package names, in list order. */
export function hostPackageNames(): string[] {
  return HOST_PACKAGES.map((p) => p.name);
}
