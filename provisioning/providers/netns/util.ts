// Small address/size helpers the provider needs. (The spec module validates; these only compute.)
function ipToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => (a << 8) + Number(o), 0) >>> 0;
}
function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}
export function prefixOf(cidr: string): number {
  return Number(cidr.split('/')[1]);
}
/** The machine's side of the lab bridge: the first usable address of the subnet. */
export function gatewayOf(cidr: string): string {
  const [ip, p] = cidr.split('/') as [string, string];
  const mask = Number(p) === 0 ? 0 : (~0 << (32 - Number(p))) >>> 0;
  return intToIp(((ipToInt(ip) & mask) >>> 0) + 1);
}
/** "512Mi" / "1Gi" / "256M" -> bytes. */
export function parseSize(s: string): number {
  const m = /^(\d+)\s*(Ki|Mi|Gi|K|M|G)?$/.exec(s.trim());
  if (!m) throw new Error(`bad size ${s}`);
  const mult: Record<string, number> = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, K: 1e3, M: 1e6, G: 1e9 };
  return Number(m[1]) * (m[2] ? mult[m[2]]! : 1);
}
