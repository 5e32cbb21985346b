// A VM's QEMU command line (pure): machine, accelerator, memory, the overlay and the data disks on
// stable PCI slots, the lab NIC on the segment, the SSH forward, QMP, the console and fw_cfg.

import { accelArgs, type Accelerator } from './accel.ts';
import { CACHE_TAG, FW_CFG } from './image-files.ts';

import { PCI } from './names.ts';

/** Everything one QEMU command line is made of. */
export interface VmLaunch {
  name: string;
  lab: string;
  accel: Accelerator;
  memoryMiB: number;
  cpus: number;
  kernel: string;
  initrd: string;
  /** The kernel command line's per-VM part: hostname, lab address with prefix, gateway. */
  hostname: string;
  address: string;
  gateway?: string;
  root: string;
  disks: { name: string; file: string }[];
  segment: { group: string; port: number };
  mac: string;
  sshPort: number;
  /** This machine's HA Lab cache, shared read-only over 9p (absent: not shared). */
  cacheDir?: string;
  hostKey: string;
  hostKeyPub: string;
  authorizedKeys: string;
  qmp: string;
  console: string;
  pidfile: string;
}

/** QEMU's argv for `v` (pure). Stable PCI slots give stable names in the guest (eth0, eth1, vda...). */
export function qemuArgs(v: VmLaunch): string[] {
  const slot = (n: number) => `0x${n.toString(16)}`;
  const append = [
    'root=/dev/vda',
    'rw',
    'console=ttyS0',
    'net.ifnames=0',
    'quiet',
    'systemd.show_status=false',
    `systemd.hostname=${v.hostname}`,
    `halab.ip=${v.address}`,
    ...(v.gateway ? [`halab.gw=${v.gateway}`] : []),
  ].join(' ');
  return [
    '-name',
    `${v.lab}-${v.name},process=qemu-${v.name}`,
    '-machine',
    'pc',
    ...accelArgs(v.accel),
    '-smp',
    String(v.cpus),
    '-m',
    String(v.memoryMiB),
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-kernel',
    v.kernel,
    '-initrd',
    v.initrd,
    '-append',
    append,
    // the lab segment: eth0, frames over a multicast group on 127.0.0.1 only
    '-netdev',
    `socket,id=lab,mcast=${v.segment.group}:${v.segment.port},localaddr=127.0.0.1`,
    '-device',
    `virtio-net-pci,netdev=lab,mac=${v.mac},addr=${slot(PCI.labNic)}`,
    // eth1: QEMU's user-mode network, restricted (the guest reaches nothing), for the SSH forward only
    '-netdev',
    `user,id=mgmt,restrict=on,net=10.0.2.0/24,hostfwd=tcp:127.0.0.1:${v.sshPort}-:22`,
    '-device',
    `virtio-net-pci,netdev=mgmt,addr=${slot(PCI.mgmtNic)}`,
    '-drive',
    `file=${v.root},if=none,id=root,format=qcow2,discard=unmap`,
    '-device',
    `virtio-blk-pci,drive=root,serial=root,addr=${slot(PCI.root)}`,
    ...v.disks.flatMap((d, i) => [
      '-drive',
      `file=${d.file},if=none,id=disk${i},format=qcow2,discard=unmap`,
      '-device',
      `virtio-blk-pci,drive=disk${i},serial=${d.name},addr=${slot(PCI.firstDisk + i)}`,
    ]),
    ...(v.cacheDir
      ? [
          '-fsdev',
          `local,id=cache,path=${v.cacheDir},security_model=none,readonly=on`,
          '-device',
          `virtio-9p-pci,fsdev=cache,mount_tag=${CACHE_TAG},addr=${slot(PCI.cache)}`,
        ]
      : []),
    '-device',
    `virtio-rng-pci,addr=${slot(PCI.rng)}`,
    '-fw_cfg',
    `name=${FW_CFG.hostKey},file=${v.hostKey}`,
    '-fw_cfg',
    `name=${FW_CFG.hostKeyPub},file=${v.hostKeyPub}`,
    '-fw_cfg',
    `name=${FW_CFG.authorizedKeys},file=${v.authorizedKeys}`,
    '-chardev',
    `file,id=console,path=${v.console},append=on`,
    '-serial',
    'chardev:console',
    '-qmp',
    `unix:${v.qmp},server=on,wait=off`,
    '-pidfile',
    v.pidfile,
  ];
}
