import { describe, expect, it } from 'vitest';
import { createEgressPolicy } from '../../src/socks/egress.js';

const defaults = createEgressPolicy([]);

describe('default egress policy', () => {
  it.each([
    ['this network', ['0.0.0.0', '0.255.255.255']],
    ['RFC 1918 10/8', ['10.0.0.0', '10.1.2.3', '10.255.255.255']],
    ['carrier-grade NAT', ['100.64.0.0', '100.127.255.255']],
    ['loopback', ['127.0.0.1', '127.255.255.254']],
    ['link-local and metadata', ['169.254.0.1', '169.254.169.254']],
    ['RFC 1918 172.16/12', ['172.16.0.0', '172.31.255.255']],
    ['RFC 1918 192.168/16', ['192.168.0.1', '192.168.255.255']],
    ['multicast', ['224.0.0.1', '239.255.255.255']],
    ['reserved and broadcast', ['240.0.0.1', '255.255.255.255']],
    ['IPv6 unspecified and loopback', ['::', '::1', '0:0:0:0:0:0:0:1']],
    ['IPv4-compatible IPv6', ['::127.0.0.1', '::a00:1']],
    ['IPv6 unique local', ['fc00::1', 'fd12:3456::1', 'fd00:ec2::254']],
    ['IPv6 link-local', ['fe80::1', 'febf::ffff', 'fe80::1%eth0']],
    ['IPv6 multicast', ['ff02::1', 'ff0e::1']],
    ['IPv4-mapped private IPv4', ['::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '::ffff:169.254.169.254']],
  ])('denies %s', (_, addresses) => {
    for (const ip of addresses) expect(defaults.isAllowed(ip), ip).toBe(false);
  });

  it('allows public addresses, including those next to denied ranges', () => {
    for (const ip of [
      '8.8.8.8',
      '1.1.1.1',
      '9.255.255.255',
      '11.0.0.0',
      '100.63.255.255',
      '100.128.0.0',
      '126.255.255.255',
      '128.0.0.0',
      '172.15.255.255',
      '172.32.0.0',
      '192.167.255.255',
      '192.169.0.0',
      '223.255.255.255',
      '2606:4700:4700::1111',
      '2001:db8::1',
      '::ffff:8.8.8.8',
      '::2:0:0',
    ]) {
      expect(defaults.isAllowed(ip), ip).toBe(true);
    }
  });

  it('answers the same once its decision cache has been filled and emptied', () => {
    const policy = createEgressPolicy(['10.0.0.0/16']);
    for (let i = 0; i < 6_000; i++) {
      const suffix = `${i >> 8}.${i & 0xff}`;
      expect(policy.isAllowed(`10.0.${suffix}`)).toBe(true);
      expect(policy.isAllowed(`10.1.${suffix}`)).toBe(false);
    }
    expect(policy.isAllowed('127.0.0.1')).toBe(false);
    expect(policy.isAllowed('127.0.0.1')).toBe(false);
  });

  it('denies what is not an IP address', () => {
    for (const ip of ['', 'localhost', '1.2.3', '01.2.3.4', '1.2.3.4.5', 'fe80:::1', '::g']) {
      expect(defaults.isAllowed(ip), ip).toBe(false);
    }
  });
});

describe('allow list', () => {
  it('opens an IPv4 range and nothing more', () => {
    const policy = createEgressPolicy(['10.1.0.0/16']);
    expect(policy.isAllowed('10.1.2.3')).toBe(true);
    expect(policy.isAllowed('::ffff:10.1.2.3')).toBe(true);
    expect(policy.isAllowed('10.2.0.1')).toBe(false);
    expect(policy.isAllowed('127.0.0.1')).toBe(false);
  });

  it('opens IPv6 ranges and single addresses', () => {
    const policy = createEgressPolicy(['fd00::/8', ' ::1 ', '192.168.1.10']);
    expect(policy.isAllowed('fd12::1')).toBe(true);
    expect(policy.isAllowed('fc00::1')).toBe(false);
    expect(policy.isAllowed('::1')).toBe(true);
    expect(policy.isAllowed('::')).toBe(false);
    expect(policy.isAllowed('192.168.1.10')).toBe(true);
    expect(policy.isAllowed('192.168.1.11')).toBe(false);
  });

  it('throws on a malformed entry', () => {
    for (const bad of ['10.0.0.0/', '10.0.0.0/33', '::/129', 'example.com/8', '10.0.0/8', '1.2.3.4/-1', '']) {
      expect(() => createEgressPolicy([bad]), bad).toThrow(/invalid CIDR/);
    }
  });
});
