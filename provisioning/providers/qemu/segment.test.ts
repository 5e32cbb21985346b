import { describe, expect, it } from 'vitest';
import { labSegment } from './names.ts';
import { segmentArgs, segmentInterface } from './segment.ts';

describe('this machine on the lab segment', () => {
  it('names the tap after the lab tag, within the 15 characters of an interface name', () => {
    expect(segmentInterface('hlfcc807')).toBe('hlfcc807vm');
    expect(segmentInterface('hlfcc807').length).toBeLessThanOrEqual(15);
  });

  it("joins the lab's multicast group on 127.0.0.1 only, with a tap holding the gateway address", () => {
    const seg = labSegment('hlfcc807');
    const [, , tun, udp] = segmentArgs('hlfcc807vm', '10.213.240.1/24', seg);
    expect(tun).toBe('TUN:10.213.240.1/24,tun-type=tap,tun-name=hlfcc807vm,iff-no-pi,iff-up');
    expect(udp).toContain(`UDP4-DATAGRAM:${seg.group}:${seg.port},bind=${seg.group}:${seg.port},reuseaddr`);
    expect(udp).toContain(`ip-add-membership=${seg.group}:127.0.0.1`);
    expect(udp).toContain('ip-multicast-if=127.0.0.1');
  });
});
