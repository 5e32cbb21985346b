// The load-balancer layer as typed data derived from the lab spec: which hosts are LBs, which
// one is the VRRP MASTER, each LB's priority and unicast peers, the VRRP version, the apiserver
// backends and the HAProxy timers. The renderers only format this; the tests check it directly.

import { createHash } from 'node:crypto';
import type { LabSpec } from '../../api/types.ts';
import { HalabError } from '../../errors.ts';

/** Where things live on an LB host (its private /etc, /run and /var/log views). */
export const LB_PATHS = {
  haproxyCfg: '/etc/haproxy/haproxy.cfg',
  keepalivedConf: '/etc/keepalived/keepalived.conf',
  notifyScript: '/etc/keepalived/halab-notify.sh',
  /** The Kubernetes CA, placed on every LB by the PKI part of the engine (not by these steps). */
  caFile: '/etc/halab/pki/ca.crt',
  adminSocket: '/run/haproxy/admin.sock',
  vrrpEventsLog: '/var/log/halab/vrrp-events.log',
  /** Fingerprints of what the running daemons were (re)started with (see index.ts). */
  stampDir: '/etc/halab/lb',
} as const;

/** The interface inside every lab host (netns provider; a VM provider names its NIC the same). */
export const LB_INTERFACE = 'eth0';
export const API_PORT = 6443;
export const MONITOR_ADDR = '127.0.0.1';
export const MONITOR_PORT = 8404;
export const MONITOR_URI = '/healthz';
export const BACKEND_NAME = 'apiservers';
export const VRRP_INSTANCE = 'VI_API';
/** VRRP priority of the MASTER; each further LB gets one less (BACKUP 100, 99, ...). */
export const MASTER_PRIORITY = 101;
/** keepalived uses only the first 8 characters of a PASS secret (and warns, failing `-t`, on more). */
export const AUTH_PASS_LENGTH = 8;

export interface LbNode {
  name: string;
  address: string;
  /** 0 = the MASTER (first LB of the spec). */
  index: number;
  state: 'MASTER' | 'BACKUP';
  priority: number;
  /** Addresses of every other LB: VRRP adverts go only there (unicast). */
  peers: string[];
}

export interface Backend {
  name: string;
  address: string;
  port: number;
}

/**
 * VRRP version and authentication, from the spec's advert interval.
 *
 * keepalived 2.2.7, measured on this machine with `keepalived -t` (which exits 5 on warnings):
 *  - VRRPv2 carries the interval in whole seconds: `advert_int 0.2` with v2 warns "must be an
 *    integer. rounding" -> `-t` fails. Fractions need VRRPv3 (centiseconds on the wire).
 *  - VRRPv3 (RFC 5798) has no authentication: `authentication {}` with v3 warns "VRRP version 3
 *    does not support authentication. Ignoring." -> `-t` fails.
 *  - auth_pass is at most 8 characters ("Truncating auth_pass to 8 characters" -> `-t` fails).
 * So there is no configuration with both a sub-second advert and authentication. Choice:
 *  - integer interval (e.g. 1): VRRPv2 + `auth_type PASS` with the lab's 8-character secret;
 *  - fractional interval (the default 0.2, which gives ~0.7 s failover instead of ~3.6 s):
 *    VRRPv3 without authentication. Failover speed is what the lab is for, and PASS is a
 *    cleartext password on the wire anyway: it only guards against cross-talk, which both
 *    variants also prevent with unicast to the listed peers only (`unicast_fault_no_peer`: never
 *    fall back to multicast), `check_unicast_src` (adverts from any other source are dropped),
 *    a per-lab bridge and a per-lab virtual_router_id.
 */
export interface VrrpSettings {
  version: 2 | 3;
  advertInt: number;
  authenticated: boolean;
  virtualRouterId: number;
}

export interface LbModel {
  lab: string;
  vip: string;
  prefix: number;
  lbs: LbNode[];
  backends: Backend[];
  vrrp: VrrpSettings;
  check: { interMs: number; fall: number; rise: number; timeoutMs: number };
}

export function vrrpSettings(spec: LabSpec): VrrpSettings {
  const advertInt = spec.timers.vrrpAdvertInt;
  if (!(advertInt > 0) || advertInt > 40.95) {
    throw new HalabError('BAD_SPEC', `timers.vrrpAdvertInt ${advertInt} is outside what VRRP can carry (0.01..40.95 s)`, {
      fix: 'use e.g. 0.2 (fast, VRRPv3) or 1 (VRRPv2 with authentication)',
    });
  }
  // VRRPv3 counts in centiseconds: 0.123 cannot be sent as such
  if (Math.abs(Math.round(advertInt * 100) - advertInt * 100) > 1e-9) {
    throw new HalabError('BAD_SPEC', `timers.vrrpAdvertInt ${advertInt} is not a multiple of 0.01 s`, { fix: 'round it to hundredths of a second' });
  }
  const integer = Number.isInteger(advertInt) && advertInt <= 255;
  return { version: integer ? 2 : 3, advertInt, authenticated: integer, virtualRouterId: virtualRouterId(spec.name) };
}

/** 1..255, stable for a lab name: two labs on one segment would still not share a router id. */
export function virtualRouterId(lab: string): number {
  const b = createHash('sha256').update(`halab-vrid:${lab}`).digest()[0] as number;
  return (b % 255) + 1;
}

export function lbNodes(spec: LabSpec): LbNode[] {
  const lbs = spec.hosts.filter((h) => h.role === 'lb');
  return lbs.map((h, index) => ({
    name: h.name,
    address: h.address,
    index,
    state: index === 0 ? 'MASTER' : 'BACKUP',
    priority: MASTER_PRIORITY - index,
    peers: lbs.filter((o) => o.name !== h.name).map((o) => o.address),
  }));
}

export function lbNode(spec: LabSpec, lbName: string): LbNode {
  const node = lbNodes(spec).find((n) => n.name === lbName);
  if (!node) {
    throw new HalabError('NO_HOST', `${lbName} is not a load balancer of lab ${spec.name}`, {
      fix: `load balancers: ${lbNodes(spec).map((n) => n.name).join(', ') || 'none'}`,
    });
  }
  return node;
}

/** The VRRP MASTER at start: the first host with role lb. */
export function masterLb(spec: LabSpec): LbNode {
  const first = lbNodes(spec)[0];
  if (!first) throw new HalabError('BAD_SPEC', `lab ${spec.name} has no host with role lb`, { fix: 'add two hosts with role lb' });
  return first;
}

export function apiBackends(spec: LabSpec): Backend[] {
  return spec.hosts.filter((h) => h.role === 'master').map((h) => ({ name: h.name, address: h.address, port: API_PORT }));
}

export function lbModel(spec: LabSpec): LbModel {
  const prefix = Number(spec.subnet.split('/')[1]);
  const { haproxyCheckInterMs: interMs, haproxyCheckFall: fall, haproxyCheckRise: rise } = spec.timers;
  return {
    lab: spec.name,
    vip: spec.vip,
    prefix,
    lbs: lbNodes(spec),
    backends: apiBackends(spec),
    vrrp: vrrpSettings(spec),
    // a TLS handshake plus /readyz on a loaded 2-core machine can take a while: never below 1 s
    check: { interMs, fall, rise, timeoutMs: Math.max(1000, interMs) },
  };
}

/**
 * How long a BACKUP waits before taking over (RFC 5798 Master_Down_Interval, with the skew
 * time of the lowest priority): what a VIP gate must allow at least.
 */
export function masterDownMs(spec: LabSpec): number {
  const advert = spec.timers.vrrpAdvertInt * 1000;
  const lowest = Math.min(...lbNodes(spec).map((n) => n.priority), MASTER_PRIORITY);
  return Math.ceil(3 * advert + ((256 - lowest) / 256) * advert);
}
