import { out } from './exec/local.ts';

import type { MachineNetworks } from './spec/validate.ts';
export type { MachineNetworks };

interface IpAddr {
  ifname: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}
interface IpRoute {
  dst: string;
  dev?: string;
  protocol?: string;
}

/**
 * The IPv4 networks already in use on this machine (addresses and routes of the root network
 * namespace), so a lab subnet can be refused before anything is created. Interfaces listed in
 * `ignoreIfaces` (a lab's own bridge when re-running `up`) are left out.
 */
export async function machineNetworks(ignoreIfaces: string[] = []): Promise<MachineNetworks> {
  const cidrs: MachineNetworks['cidrs'] = [];
  const addrs = JSON.parse((await out('ip', ['-j', '-4', 'addr', 'show']).catch(() => '[]')) || '[]') as IpAddr[];
  for (const a of addrs) {
    if (ignoreIfaces.includes(a.ifname)) continue;
    for (const i of a.addr_info ?? []) {
      if (i.family !== 'inet' || i.local.startsWith('127.')) continue;
      cidrs.push({ cidr: `${i.local}/${i.prefixlen}`, source: `address ${i.local}/${i.prefixlen} on ${a.ifname}` });
    }
  }
  const routes = JSON.parse(
    (await out('ip', ['-j', '-4', 'route', 'show', 'table', 'all']).catch(() => '[]')) || '[]',
  ) as (IpRoute & { type?: string })[];
  for (const r of routes) {
    if (!r.dst || r.dst === 'default' || (r.dev && ignoreIfaces.includes(r.dev))) continue;
    if (r.type && r.type !== 'unicast') continue; // local/broadcast entries duplicate the addresses
    const cidr = r.dst.includes('/') ? r.dst : `${r.dst}/32`;
    if (cidr.startsWith('127.')) continue;
    cidrs.push({ cidr, source: `route ${cidr}${r.dev ? ` dev ${r.dev}` : ''}` });
  }
  return { cidrs };
}
