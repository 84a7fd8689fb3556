import { describe, expect, it } from 'vitest';
import { nodeNetwork, overlaps, parseCidr, routeConflicts } from './network.js';

describe('the node network plan', () => {
  it('puts the node on the bridge subnet and the DNS Service in the Service range', () => {
    const net = nodeNetwork({});
    expect(net).toMatchObject({
      bridge: 'novapos0',
      subnet: '10.217.0.0/24',
      nodeIp: '10.217.0.1',
      podRangeStart: '10.217.0.16',
      podRangeEnd: '10.217.0.254',
      serviceRange: '10.217.128.0/24',
      apiServiceIp: '10.217.128.1',
      dnsIp: '10.217.128.10',
    });
  });

  it('refuses a subnet that overlaps the Service range', () => {
    expect(() =>
      nodeNetwork({ NOVAPOS_NODE_SUBNET: '10.1.0.0/16', NOVAPOS_NODE_SERVICE_RANGE: '10.1.2.0/24' }),
    ).toThrow(/overlaps/);
  });

  it('tells overlapping CIDRs apart', () => {
    expect(overlaps(parseCidr('10.0.0.0/8'), parseCidr('10.217.0.0/24'))).toBe(true);
    expect(overlaps(parseCidr('10.217.0.0/24'), parseCidr('10.217.0.77'))).toBe(true);
    expect(overlaps(parseCidr('10.217.0.0/24'), parseCidr('10.217.1.0/24'))).toBe(false);
    expect(overlaps(parseCidr('192.0.2.0/24'), parseCidr('10.217.128.0/24'))).toBe(false);
  });

  it("finds the machine's routes and addresses the node would collide with, ignoring the default route", () => {
    const net = nodeNetwork({});
    const conflicts = routeConflicts(
      net,
      [
        { dst: 'default', dev: 'eth0' },
        { dst: '192.0.2.0/24', dev: 'eth0' },
        { dst: '10.0.0.0/8', dev: 'tun0', table: 'main' },
      ],
      [
        { dev: 'eth0', local: '192.0.2.2', prefixlen: 24 },
        { dev: 'docker0', local: '10.217.128.1', prefixlen: 16 },
      ],
    );
    expect(conflicts).toEqual([
      'node subnet 10.217.0.0/24 overlaps the route 10.0.0.0/8 dev tun0 table main',
      'Service range 10.217.128.0/24 overlaps the route 10.0.0.0/8 dev tun0 table main',
      'node subnet 10.217.0.0/24 overlaps 10.217.128.1/16 on docker0',
      'Service range 10.217.128.0/24 overlaps 10.217.128.1/16 on docker0',
    ]);
    expect(routeConflicts(net, [{ dst: 'default' }, { dst: '192.0.2.0/24' }], [])).toEqual([]);
  });
});
