/**
 * Which addresses the proxy may connect to. Checked on the resolved address, so a name
 * pointing at 127.0.0.1 is refused like the literal. IPv4-mapped IPv6 addresses
 * (::ffff:a.b.c.d) are matched against the IPv4 ranges by `BlockList` itself.
 */
import { BlockList, SocketAddress } from 'node:net';

export interface EgressPolicy {
  isAllowed(ip: string): boolean;
}

/** The proxy host, private networks and cloud metadata services. */
const DENIED_BY_DEFAULT = [
  '0.0.0.0/8', // "this network": 0.0.0.0 reaches the local host on Linux
  '10.0.0.0/8',
  '100.64.0.0/10', // carrier-grade NAT
  '127.0.0.0/8',
  '169.254.0.0/16', // link-local, with the metadata service 169.254.169.254
  '172.16.0.0/12',
  '192.168.0.0/16',
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, with the limited broadcast 255.255.255.255
  '::/96', // unspecified ::, loopback ::1 and the deprecated IPv4-compatible ::a.b.c.d
  'fc00::/7', // unique local, with the AWS metadata service fd00:ec2::254
  'fe80::/10', // link-local
  'ff00::/8', // multicast
];

const denied = blockListOf(DENIED_BY_DEFAULT);

/** Parsing an address into a SocketAddress is the costly part of a check, and targets repeat. */
const CACHE_SIZE = 10_000;

/** `allowCidrs` ("10.1.0.0/16", "fd00::/8", or a bare address) open ranges the defaults deny; a malformed entry throws. */
export function createEgressPolicy(allowCidrs: readonly string[]): EgressPolicy {
  const allowed = blockListOf(allowCidrs);
  const decisions = new Map<string, boolean>();
  const decide = (ip: string): boolean => {
    let address: SocketAddress;
    try {
      address = new SocketAddress({ address: ip, family: ip.includes(':') ? 'ipv6' : 'ipv4' });
    } catch {
      return false;
    }
    return !denied.check(address) || allowed.check(address);
  };
  return {
    isAllowed(ip: string): boolean {
      let decision = decisions.get(ip);
      if (decision === undefined) {
        decision = decide(ip);
        if (decisions.size >= CACHE_SIZE) decisions.clear();
        decisions.set(ip, decision);
      }
      return decision;
    },
  };
}

function blockListOf(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const match = /^([^/]+?)(?:\/(\d{1,3}))?$/.exec(cidr.trim());
    if (match === null) throw new Error(`invalid CIDR "${cidr}"`);
    const address = match[1]!;
    const prefix = match[2];
    const family = address.includes(':') ? 'ipv6' : 'ipv4';
    try {
      list.addSubnet(address, prefix === undefined ? (family === 'ipv4' ? 32 : 128) : Number(prefix), family);
    } catch {
      throw new Error(`invalid CIDR "${cidr}"`);
    }
  }
  return list;
}
