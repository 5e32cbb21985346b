import { describe, expect, it } from 'vitest';
import {
  addressAt,
  broadcastOf,
  cidrContains,
  cidrWithin,
  cidrsOverlap,
  firstFreeCidr,
  formatCidr,
  formatIPv4,
  freeAddress,
  hasHostBits,
  isPrivate,
  maskOf,
  networkOf,
  parseCidr,
  parseIPv4,
  sizeOf,
  type Cidr,
} from './net.ts';

const cidr = (s: string): Cidr => {
  const c = parseCidr(s);
  if (!c) throw new Error(`bad test cidr ${s}`);
  return c;
};
const ip = (s: string): number => {
  const a = parseIPv4(s);
  if (a === undefined) throw new Error(`bad test ip ${s}`);
  return a;
};

describe('parseIPv4 / formatIPv4', () => {
  it('parses dotted quads to unsigned numbers and back', () => {
    expect(parseIPv4('0.0.0.0')).toBe(0);
    expect(parseIPv4('10.213.0.21')).toBe(0x0ad50015);
    expect(parseIPv4('255.255.255.255')).toBe(0xffffffff);
    expect(formatIPv4(0xffffffff)).toBe('255.255.255.255');
    expect(formatIPv4(0x0ad50015)).toBe('10.213.0.21');
    expect(formatIPv4(parseIPv4('192.168.1.254') as number)).toBe('192.168.1.254');
  });

  it.each([
    '',
    '10.213.0',
    '10.213.0.256',
    '10.213.0.21.1',
    '010.1.1.1',
    '10.1.1.01',
    ' 10.1.1.1',
    '10.1.1.1 ',
    '10.1.1.-1',
    '1e1.1.1.1',
    '10.1.1.1/24',
    'a.b.c.d',
  ])('rejects %j', (s) => {
    expect(parseIPv4(s)).toBeUndefined();
  });
});

describe('parseCidr and friends', () => {
  it('parses a CIDR keeping the written address', () => {
    expect(parseCidr('10.213.0.5/24')).toEqual({ address: ip('10.213.0.5'), prefix: 24 });
    expect(parseCidr('0.0.0.0/0')).toEqual({ address: 0, prefix: 0 });
    expect(parseCidr('1.2.3.4/32')).toEqual({ address: ip('1.2.3.4'), prefix: 32 });
  });

  it.each([
    '10.213.0.0',
    '10.213.0.0/33',
    '10.213.0.0/024',
    '10.213.0.0/',
    '/24',
    '10.213.0.0/24/1',
    '10.213.0.300/24',
  ])('rejects %j', (s) => {
    expect(parseCidr(s)).toBeUndefined();
  });

  it('computes masks, sizes, network and broadcast', () => {
    expect(maskOf(0)).toBe(0);
    expect(maskOf(24)).toBe(0xffffff00);
    expect(maskOf(32)).toBe(0xffffffff);
    expect(sizeOf(24)).toBe(256);
    expect(sizeOf(29)).toBe(8);
    expect(formatIPv4(networkOf(cidr('10.213.0.77/26')))).toBe('10.213.0.64');
    expect(formatIPv4(broadcastOf(cidr('10.213.0.77/26')))).toBe('10.213.0.127');
    expect(formatIPv4(broadcastOf(cidr('10.50.0.0/16')))).toBe('10.50.255.255');
    expect(formatCidr(cidr('10.213.0.5/24'))).toBe('10.213.0.0/24');
    expect(hasHostBits(cidr('10.213.0.5/24'))).toBe(true);
    expect(hasHostBits(cidr('10.213.0.0/24'))).toBe(false);
    expect(formatIPv4(addressAt(cidr('10.9.0.0/16'), 300))).toBe('10.9.1.44');
  });

  it('tests containment and overlap', () => {
    const lab = cidr('10.213.0.0/24');
    expect(cidrContains(lab, ip('10.213.0.255'))).toBe(true);
    expect(cidrContains(lab, ip('10.213.1.0'))).toBe(false);
    expect(cidrsOverlap(lab, cidr('10.213.0.128/25'))).toBe(true);
    expect(cidrsOverlap(lab, cidr('10.0.0.0/8'))).toBe(true);
    expect(cidrsOverlap(cidr('10.0.0.0/8'), lab)).toBe(true);
    expect(cidrsOverlap(lab, cidr('10.213.1.0/24'))).toBe(false);
    expect(cidrsOverlap(lab, cidr('10.213.0.9/32'))).toBe(true);
    expect(cidrWithin(lab, cidr('10.0.0.0/8'))).toBe(true);
    expect(cidrWithin(cidr('10.0.0.0/8'), lab)).toBe(false);
  });

  it('knows the private ranges', () => {
    expect(isPrivate(cidr('10.213.0.0/24'))).toBe(true);
    expect(isPrivate(cidr('172.16.0.0/12'))).toBe(true);
    expect(isPrivate(cidr('172.31.255.0/24'))).toBe(true);
    expect(isPrivate(cidr('172.32.0.0/24'))).toBe(false);
    expect(isPrivate(cidr('192.168.7.0/24'))).toBe(true);
    expect(isPrivate(cidr('192.169.0.0/24'))).toBe(false);
    expect(isPrivate(cidr('192.0.2.0/24'))).toBe(false);
    expect(isPrivate(cidr('8.0.0.0/7'))).toBe(false);
    // straddles 10/8 and beyond
    expect(isPrivate(cidr('10.0.0.0/7'))).toBe(false);
  });
});

describe('firstFreeCidr / freeAddress', () => {
  it('picks the first candidate that overlaps nothing', () => {
    const candidates = ['10.213.0.0/24', '10.213.1.0/24', '10.213.2.0/24'].map(cidr);
    expect(firstFreeCidr(candidates, [cidr('10.213.0.0/24'), cidr('10.213.1.7/32')])).toEqual(cidr('10.213.2.0/24'));
    expect(firstFreeCidr(candidates, [cidr('10.0.0.0/8')])).toBeUndefined();
  });

  it('finds a free host address, skipping network, gateway, broadcast and used ones', () => {
    const lab = cidr('10.213.0.0/29'); // .0 network, .1 gateway, .2-.6 hosts, .7 broadcast
    expect(formatIPv4(freeAddress(lab, new Set()) as number)).toBe('10.213.0.2');
    expect(formatIPv4(freeAddress(lab, new Set([ip('10.213.0.2'), ip('10.213.0.3')])) as number)).toBe('10.213.0.4');
    // starts from `from` and wraps around
    expect(formatIPv4(freeAddress(lab, new Set([ip('10.213.0.6')]), ip('10.213.0.6')) as number)).toBe('10.213.0.2');
    // a start outside the hosts range falls back to the first host
    expect(formatIPv4(freeAddress(lab, new Set(), ip('10.213.0.20')) as number)).toBe('10.213.0.2');
    const full = new Set(['2', '3', '4', '5', '6'].map((n) => ip(`10.213.0.${n}`)));
    expect(freeAddress(lab, full)).toBeUndefined();
    expect(freeAddress(cidr('10.0.0.0/31'), new Set())).toBeUndefined();
  });
});
