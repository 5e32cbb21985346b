// The files the base image gets on top of debootstrap (pure): how a VM takes its identity at boot,
// its network, sshd, s6 and the lab's share of this machine's cache. One image serves every VM of
// every lab: what differs per VM (hostname, lab address, host key, the lab's SSH key) arrives at
// boot, on the kernel command line (hostname and addresses) and through QEMU's fw_cfg (keys).
import { bootScript } from '../../hosts/supervisor.ts';
import { HOST_SERVICES_OFF } from '../../hosts/contents.ts';

/** A file put into the image: absolute path in the guest, content, mode. */
export interface ImageFile {
  path: string;
  content: string;
  mode: number;
}

/** fw_cfg names the guest reads its keys from (/sys/firmware/qemu_fw_cfg/by_name/<name>/raw). */
export const FW_CFG = {
  hostKey: 'opt/halab/ssh_host_ed25519_key',
  hostKeyPub: 'opt/halab/ssh_host_ed25519_key.pub',
  authorizedKeys: 'opt/halab/authorized_keys',
} as const;

/** The 9p mount tag of this machine's HA Lab cache (read-only) and where the guest mounts it. */
export const CACHE_TAG = 'halab-cache';
export const GUEST_CACHE = '/mnt/halab/cache';
/** The guest's end of the SSH port forward (QEMU user-mode network, never routed anywhere). */
export const MGMT_ADDRESS = '10.0.2.15/24';
/** Interfaces: eth0 on the lab segment (PCI slot 3), eth1 the SSH forward's (slot 4). */
export const LAB_NIC = 'eth0';
export const MGMT_NIC = 'eth1';
/** Where sshd finds the lab's key (the same path as on netns hosts). */
export const AUTHORIZED_KEYS = '/etc/ssh/halab_authorized_keys';

/** The script that applies a VM's identity at every boot, before the network and sshd. */
export function identityScript(): string {
  return `#!/bin/sh
# halab: this VM's identity, from the kernel command line (halab.ip, halab.gw; the hostname is
# systemd.hostname=) and QEMU's fw_cfg (the SSH host key and the lab's key). Runs at every boot.
set -eu
ip=; gw=
for x in $(cat /proc/cmdline); do
  case "$x" in halab.ip=*) ip=\${x#halab.ip=} ;; halab.gw=*) gw=\${x#halab.gw=} ;; esac
done
mkdir -p /run/systemd/network
if [ -n "$ip" ]; then
  {
    echo '[Match]'; echo 'Name=${LAB_NIC}'
    echo '[Link]'; echo 'RequiredForOnline=no'
    echo '[Network]'; echo "Address=$ip"
    [ -n "$gw" ] && echo "Gateway=$gw"
    echo 'LinkLocalAddressing=no'; echo 'IPv6AcceptRA=no'
    # a pulled cable (QMP set_link off) keeps the address: a partition, not a reconfigured host
    echo 'ConfigureWithoutCarrier=yes'; echo 'IgnoreCarrierLoss=yes'; echo 'KeepConfiguration=yes'
  } > /run/systemd/network/10-lab.network
fi
fw=/sys/firmware/qemu_fw_cfg/by_name
modprobe qemu_fw_cfg 2>/dev/null || true
i=0; while [ ! -d $fw ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
if [ -r $fw/${FW_CFG.hostKey}/raw ]; then
  install -m 600 $fw/${FW_CFG.hostKey}/raw /etc/ssh/ssh_host_ed25519_key
  install -m 644 $fw/${FW_CFG.hostKeyPub}/raw /etc/ssh/ssh_host_ed25519_key.pub
fi
if [ -r $fw/${FW_CFG.authorizedKeys}/raw ]; then
  install -m 600 $fw/${FW_CFG.authorizedKeys}/raw ${AUTHORIZED_KEYS}
fi
# an image booted by hand (no fw_cfg) still gets a host key of its own
[ -s /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
`;
}

const unit = (lines: string[]) => `${lines.join('\n')}\n`;

/** Every file the image gets (pure; part of the image's version). */
export function imageFiles(): ImageFile[] {
  return [
    { path: '/etc/fstab', mode: 0o644, content: fstab() },
    { path: '/etc/hostname', mode: 0o644, content: 'halab\n' },
    { path: '/etc/hosts', mode: 0o644, content: '127.0.0.1 localhost\n' },
    // empty: systemd makes a machine-id of its own at each VM's first boot
    { path: '/etc/machine-id', mode: 0o444, content: '' },
    {
      path: '/etc/systemd/system-preset/00-halab.preset',
      mode: 0o644,
      content: unit([
        ...HOST_SERVICES_OFF.map((s) => `disable ${s}.service`),
        'enable ssh.service',
        'enable systemd-networkd.service',
        'enable halab-identity.service',
        'enable halab-s6.service',
        'disable *',
      ]),
    },
    {
      path: '/etc/systemd/network/20-mgmt.network',
      mode: 0o644,
      content: unit([
        '[Match]',
        `Name=${MGMT_NIC}`,
        '[Link]',
        'RequiredForOnline=no',
        '[Network]',
        `Address=${MGMT_ADDRESS}`,
        'LinkLocalAddressing=no',
        'IPv6AcceptRA=no',
      ]),
    },
    { path: '/usr/local/sbin/halab-identity', mode: 0o755, content: identityScript() },
    {
      path: '/etc/systemd/system/halab-identity.service',
      mode: 0o644,
      content: unit([
        '[Unit]',
        "Description=HA Lab: this VM's addresses and SSH keys",
        'DefaultDependencies=no',
        'After=local-fs.target systemd-modules-load.service',
        'Before=systemd-networkd.service network-pre.target ssh.service',
        'Wants=network-pre.target',
        '[Service]',
        'Type=oneshot',
        'RemainAfterExit=yes',
        'ExecStart=/usr/local/sbin/halab-identity',
        '[Install]',
        'WantedBy=sysinit.target',
      ]),
    },
    {
      path: '/etc/ssh/sshd_config.d/halab.conf',
      mode: 0o644,
      content: unit([
        '# generated by halab',
        'HostKey /etc/ssh/ssh_host_ed25519_key',
        'PermitRootLogin prohibit-password',
        `AuthorizedKeysFile ${AUTHORIZED_KEYS}`,
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UseDNS no',
        'PrintMotd no',
        'MaxSessions 64',
        'MaxStartups 64:30:128',
      ]),
    },
    // the Debian unit would make RSA/ECDSA keys and test the config before the identity is there
    {
      path: '/etc/systemd/system/ssh.service.d/halab.conf',
      mode: 0o644,
      content: unit(['[Unit]', 'After=halab-identity.service', 'Requires=halab-identity.service']),
    },
    // s6 under systemd: the lab's own service manager (hosts/supervisor.ts), /proc left alone
    { path: '/etc/halab/boot', mode: 0o755, content: bootScript({ ownProc: false }) },
    {
      path: '/etc/systemd/system/halab-s6.service',
      mode: 0o644,
      content: unit([
        '[Unit]',
        'Description=HA Lab: s6-svscan, the supervisor of every lab service',
        'After=local-fs.target remote-fs.target network.target halab-identity.service',
        '[Service]',
        'ExecStart=/etc/halab/boot',
        'KillMode=mixed',
        'Restart=always',
        'RestartSec=1',
        'TasksMax=infinity',
        'LimitNOFILE=1048576',
        'Delegate=yes',
        '[Install]',
        'WantedBy=multi-user.target',
      ]),
    },
    {
      path: '/etc/systemd/journald.conf.d/halab.conf',
      mode: 0o644,
      content: unit(['[Journal]', 'Storage=volatile', 'RuntimeMaxUse=16M']),
    },
    { path: '/etc/sysctl.d/90-halab.conf', mode: 0o644, content: unit(['net.ipv4.ip_nonlocal_bind=1']) },
    // a small initramfs: only what finds the root disk (decompressed on every boot, slow under TCG)
    { path: '/etc/initramfs-tools/conf.d/halab', mode: 0o644, content: unit(['MODULES=list', 'COMPRESS=gzip']) },
    {
      path: '/etc/initramfs-tools/modules',
      mode: 0o644,
      content: unit(['virtio_pci', 'virtio_blk', 'ext4', 'crc32c_generic']),
    },
  ];
}

function fstab(): string {
  return unit([
    '/dev/vda / ext4 rw,noatime,errors=remount-ro 0 1',
    // s6 runs its services' scripts from /run/halab, and systemd mounts /run noexec
    'tmpfs /run/halab tmpfs mode=0755,nosuid,nodev 0 0',
    `${CACHE_TAG} ${GUEST_CACHE} 9p trans=virtio,version=9p2000.L,ro,nofail,x-systemd.device-timeout=5s 0 0`,
  ]);
}

/** Shell lines run in the image root (chroot) after the files are in place. */
export function imageCommands(): string[] {
  return [
    'passwd -l root >/dev/null',
    'rm -f /etc/ssh/ssh_host_* /var/lib/dbus/machine-id',
    `mkdir -p ${GUEST_CACHE} /etc/halab/sv /etc/halab/boot.d /root/.ssh`,
    // first boot (empty machine-id) must neither prompt on the console nor re-enable services
    'ln -sf /dev/null /etc/systemd/system/systemd-firstboot.service',
    'ln -sf /dev/null /etc/systemd/system/systemd-networkd-wait-online.service',
    `systemctl disable ${HOST_SERVICES_OFF.map((s) => `${s}.service`).join(' ')} e2scrub_reap.service >/dev/null 2>&1 || true`,
    'systemctl disable apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer >/dev/null 2>&1 || true',
    'systemctl enable systemd-networkd.service ssh.service halab-identity.service halab-s6.service >/dev/null 2>&1',
    // the etcd package leaves a member directory where the lab mounts disk A
    'rm -rf /var/lib/etcd/default',
    'update-initramfs -u -k all >/dev/null',
    'apt-get clean',
    'rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/*.log /usr/share/doc/* /usr/share/man/* /usr/share/locale/*',
  ];
}
