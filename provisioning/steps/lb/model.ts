// The load-balancer layer as typed data derived from the lab spec: which hosts are LBs, which
// one is the VRRP MASTER, each LB's priority and unicast peers, the VRRP version, the apiserver
// backends and the HAProxy timers. The renderers only format this; the tests check it directly.

import { createHash } from 'node:crypto';
import type { LabSpec } from '../../api/types.ts';
import { HalabError } from '../../errors.ts';
import { lbHosts, masterHosts } from '../../spec/roles.ts';

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
/**
 * HAProxy's API frontend also listens here (loopback is per host): keepalived's backend check
 * sends a real API request through this LB's own HAProxy, as kubeadm's documented check does.
 */
export const LOCAL_API_ADDR = '127.0.0.1';
/**
 * keepalived's two track scripts (interval, timeout in whole seconds; fall/rise in runs):
 *  - haproxy: HAProxy's own monitor URI. Failing = HAProxy is dead: the LB goes FAULT (priority 0).
 *  - backends: GET /readyz through this LB's HAProxy to an apiserver. Failing = this LB cannot
 *    reach any usable apiserver: its priority drops by `weight`, below any LB that can, so the
 *    VIP moves there; when no LB can, the priorities keep their order and the VIP stays put.
 *    `initFail`: it counts as failed until it passes `rise` times, so a keepalived that starts
 *    before the apiservers (during `up`) does not pull the VIP to itself. A lower-priority LB needs
 *    more passes (backendRise): when the apiservers come up for every LB at once (during `up`, or
 *    after a quorum loss), the MASTER counts them usable first, and the VIP does not flap to the
 *    BACKUP for the second in between (measured: it did, for 1 s, with the same rise on both).
 */
export const TRACK = {
  haproxy: { intervalS: 1, timeoutS: 2, fall: 2, rise: 2 },
  backends: { intervalS: 1, timeoutS: 3, fall: 3, rise: 2, weight: 50, curlMaxS: 2 },
} as const;
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
    throw new HalabError(
      'BAD_SPEC',
      `timers.vrrpAdvertInt ${advertInt} is outside what VRRP can carry (0.01..40.95 s)`,
      {
        fix: 'use e.g. 0.2 (fast, VRRPv3) or 1 (VRRPv2 with authentication)',
      },
    );
  }
  // VRRPv3 counts in centiseconds: 0.123 cannot be sent as such
  if (Math.abs(Math.round(advertInt * 100) - advertInt * 100) > 1e-9) {
    throw new HalabError('BAD_SPEC', `timers.vrrpAdvertInt ${advertInt} is not a multiple of 0.01 s`, {
      fix: 'round it to hundredths of a second',
    });
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
  const lbs = lbHosts(spec);
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
  return modelLb(lbModel(spec), lbName);
}

/** The VRRP MASTER at start: the first host with role lb. */
export function masterLb(spec: LabSpec): LbNode {
  const first = lbNodes(spec)[0];
  if (!first)
    throw new HalabError('BAD_SPEC', `lab ${spec.name} has no host with role lb`, {
      fix: 'add two hosts with role lb',
    });
  return first;
}

export function apiBackends(spec: LabSpec): Backend[] {
  return masterHosts(spec).map((h) => ({ name: h.name, address: h.address, port: API_PORT }));
}

/** The model of a spec; a model passes through (callers compute it once per step and hand it on). */
export function modelOf(x: LabSpec | LbModel): LbModel {
  return 'backends' in x ? x : lbModel(x);
}

/** One LB of the model. Errors: NO_HOST (not a load balancer), with the LBs there are. */
export function modelLb(m: LbModel, lbName: string): LbNode {
  const node = m.lbs.find((n) => n.name === lbName);
  if (!node) {
    throw new HalabError('NO_HOST', `${lbName} is not a load balancer of lab ${m.lab}`, {
      fix: `load balancers: ${m.lbs.map((n) => n.name).join(', ') || 'none'}`,
    });
  }
  return node;
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

/** Passes of the backend check before `lb` counts its backends usable again (see TRACK). */
export function backendRise(lb: Pick<LbNode, 'index'>): number {
  return TRACK.backends.rise + 2 * lb.index;
}

/**
 * How long a BACKUP waits before taking over (RFC 5798 Master_Down_Interval, with the skew
 * time of the lowest priority): what a VIP gate must allow at least.
 */
export function masterDownMs(x: LabSpec | LbModel): number {
  const m = modelOf(x);
  const advert = m.vrrp.advertInt * 1000;
  const lowest = Math.min(...m.lbs.map((n) => n.priority), MASTER_PRIORITY);
  return Math.ceil(3 * advert + ((256 - lowest) / 256) * advert);
}
