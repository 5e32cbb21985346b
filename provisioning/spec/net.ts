// Small IPv4 / CIDR helpers for the spec validator. Addresses are unsigned 32-bit numbers.
// Strict on purpose: dotted quads only, no leading zeros (is "010" octal or decimal?), no
// shorthand ("10.1"), no spaces.

/** One octet: 0-255 without leading zeros. */
const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])';
/** A prefix length 0-32 without leading zeros. */
const PREFIX = '(?:3[0-2]|[12][0-9]|[0-9])';

/** Anchored pattern of a dotted-quad IPv4 address (also used in the JSON Schema). */
export const IPV4_PATTERN = `^${OCTET}(?:\\.${OCTET}){3}$`;
/** Anchored pattern of an IPv4 CIDR "a.b.c.d/n" (also used in the JSON Schema). */
export const CIDR_PATTERN = `^${OCTET}(?:\\.${OCTET}){3}/${PREFIX}$`;

const IPV4_RE = new RegExp(IPV4_PATTERN);
const CIDR_RE = new RegExp(CIDR_PATTERN);

export interface Cidr {
  /** The address as written (host bits may be set: "10.1.2.3/24" keeps 10.1.2.3). */
  address: number;
  prefix: number;
}

/** Parses "10.213.0.21"; undefined when it is not a strict dotted quad. */
export function parseIPv4(text: string): number | undefined {
  if (!IPV4_RE.test(text)) return undefined;
  const [a, b, c, d] = text.split('.').map(Number) as [number, number, number, number];
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

export function formatIPv4(value: number): string {
  const v = value >>> 0;
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
}

/** Parses "10.213.0.0/24"; undefined when it is not a strict IPv4 CIDR. */
export function parseCidr(text: string): Cidr | undefined {
  if (!CIDR_RE.test(text)) return undefined;
  const slash = text.indexOf('/');
  const address = parseIPv4(text.slice(0, slash));
  if (address === undefined) return undefined;
  return { address, prefix: Number(text.slice(slash + 1)) };
}

/** The netmask of a prefix length, e.g. 24 -> 0xffffff00. */
export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** How many addresses a prefix spans (2^(32-prefix)). */
export function sizeOf(prefix: number): number {
  return 2 ** (32 - prefix);
}

export function networkOf(cidr: Cidr): number {
  return (cidr.address & maskOf(cidr.prefix)) >>> 0;
}

export function broadcastOf(cidr: Cidr): number {
  return (networkOf(cidr) + sizeOf(cidr.prefix) - 1) >>> 0;
}

/** True when the CIDR was written with host bits set ("10.213.0.5/24"). */
export function hasHostBits(cidr: Cidr): boolean {
  return networkOf(cidr) !== cidr.address;
}

/** The CIDR in canonical form: its network address and prefix. */
export function formatCidr(cidr: Cidr): string {
  return `${formatIPv4(networkOf(cidr))}/${cidr.prefix}`;
}

export function cidrContains(cidr: Cidr, address: number): boolean {
  return (address & maskOf(cidr.prefix)) >>> 0 === networkOf(cidr);
}

/** Two CIDRs overlap when one contains the other's network address. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, networkOf(b)) || cidrContains(b, networkOf(a));
}

/** True when `inner` lies entirely inside `outer`. */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.prefix >= outer.prefix && cidrContains(outer, networkOf(inner));
}

/** The address `offset` places after the network address of `cidr` (may fall outside it). */
export function addressAt(cidr: Cidr, offset: number): number {
  return (networkOf(cidr) + offset) >>> 0;
}

/** The RFC 1918 private ranges. */
export const PRIVATE_RANGES: readonly string[] = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'];
const PRIVATE_CIDRS = PRIVATE_RANGES.map((r) => parseCidr(r) as Cidr);

/** True when the whole CIDR lies inside one RFC 1918 range. */
export function isPrivate(cidr: Cidr): boolean {
  return PRIVATE_CIDRS.some((range) => cidrWithin(cidr, range));
}

/**
 * The first candidate CIDR that overlaps none of `taken`, or undefined. Candidates are tried in
 * order; `taken` entries that do not parse are ignored by the caller beforehand.
 */
export function firstFreeCidr(candidates: Iterable<Cidr>, taken: readonly Cidr[]): Cidr | undefined {
  for (const candidate of candidates) {
    if (!taken.some((t) => cidrsOverlap(candidate, t))) return candidate;
  }
  return undefined;
}

/**
 * A usable host address of `cidr` that is not in `used`, searching upwards from `from` (an
 * address; defaults to the first address after the gateway) and wrapping around once. Skips the
 * network address, the gateway (first usable) and the broadcast address.
 */
export function freeAddress(cidr: Cidr, used: ReadonlySet<number>, from?: number): number | undefined {
  const network = networkOf(cidr);
  const size = sizeOf(cidr.prefix);
  const firstHost = 2; // .0 is the network, .1 the gateway
  const lastHost = size - 2; // size-1 is the broadcast
  if (lastHost < firstHost) return undefined;
  const span = lastHost - firstHost + 1;
  let start = from === undefined ? firstHost : from - network;
  if (start < firstHost || start > lastHost) start = firstHost;
  for (let i = 0; i < span; i++) {
    const offset = firstHost + ((start - firstHost + i) % span);
    const candidate = (network + offset) >>> 0;
    if (!used.has(candidate)) return candidate;
  }
  return undefined;
}
