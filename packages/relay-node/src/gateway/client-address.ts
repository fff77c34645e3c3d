import type { IncomingMessage } from 'node:http';
import proxyAddr from 'proxy-addr';
import ipaddr from 'ipaddr.js';

/** Decides whether a hop (the TCP peer or an X-Forwarded-For entry) is one of our load balancers. */
export type ProxyTrust = (address: string, hop: number) => boolean;

/**
 * Compiles TRUSTED_PROXIES entries: single addresses, CIDR ranges (`10.0.0.0/8`, `fd00::/8`) or the names
 * `loopback`, `linklocal`, `uniquelocal`. Throws a TypeError naming the first entry that is none of these.
 */
export function compileProxyTrust(entries: readonly string[]): ProxyTrust {
  return proxyAddr.compile([...entries]);
}

/** Trusts nobody: the TCP peer is the client. */
export const TRUST_NO_PROXY: ProxyTrust = () => false;

/**
 * The address a socket's limits are counted against. Behind a load balancer every socket comes from the
 * balancer, so when the peer is a trusted proxy the client is the right-most X-Forwarded-For hop that is not
 * itself a trusted proxy; anything left of that could be forged by the client.
 */
export function clientAddress(req: IncomingMessage, trust: ProxyTrust): string {
  if (req.socket.remoteAddress === undefined) return 'unknown';
  return normalizeAddress(proxyAddr(req, trust));
}

/** Normalizes IPv4-mapped IPv6 (`::ffff:10.0.0.1`) so one client has one spelling. */
export function normalizeAddress(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  return sameOr(address, ipaddr.process(address).toString());
}

/**
 * The key per-source limits count under: an IPv4 address as it is, an IPv6 address by its /64, because one
 * customer line (and so one attacker) is routinely handed a whole /64 and can pick any address in it.
 */
export function sourceKey(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const ip = ipaddr.process(address);
  if (ip.kind() === 'ipv4') return sameOr(address, ip.toString());
  const parts = (ip as ipaddr.IPv6).parts;
  return `${new ipaddr.IPv6([...parts.slice(0, 4), 0, 0, 0, 0]).toString()}/64`;
}

/**
 * The spelling given when the result spells the same, so every connection's address and source key are the one string
 * its socket already holds rather than copies kept for the session's life.
 */
function sameOr(given: string, result: string): string {
  return result === given ? given : result;
}
