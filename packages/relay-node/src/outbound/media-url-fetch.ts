import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { RelayError } from '../errors/relay-error.js';

/** Settings of {@link fetchMediaUrl}. */
export interface MediaUrlFetchOptions {
  /** Bytes read at most; one more and the fetch stops with MEDIA_TOO_LARGE (WeCom's limit for the kind). */
  maxBytes: number;
  timeoutMs: number;
  /** Whether addresses other than public unicast (loopback, private, link-local...) may be fetched. */
  allowPrivateNetworks: boolean;
  /** Names the field in errors, e.g. `file.media_url`. */
  field: string;
  /** The request the error answers. */
  id: string;
}

/** Whether an address is a public unicast one (what a gateway-named URL may reach by default). */
export function isPublicAddress(address: string): boolean {
  try {
    return ipaddr.process(address).range() === 'unicast';
  } catch {
    return false;
  }
}

/**
 * A DNS lookup that yields only public addresses: the check happens on the address the socket then connects to, so a
 * name that resolves differently a moment later (DNS rebinding) cannot reach the private network.
 */
function publicOnlyLookup(): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = (addresses as LookupAddress[]).filter((a) => isPublicAddress(a.address));
      if (list.length === 0) {
        const refused = Object.assign(new Error(`${hostname} resolves to no public address`), { code: 'MEDIA_URL_PRIVATE' });
        return callback(refused, '', 0);
      }
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

/**
 * Downloads a file a gateway named by URL, for upload to WeCom: http(s) only, no redirects, at most maxBytes (the
 * download stops one byte past it), within timeoutMs, and by default only from public addresses, so a gateway cannot
 * make the relay reach its private network. Errors name the field and why, never the URL's query.
 */
export function fetchMediaUrl(url: string, o: MediaUrlFetchOptions): Promise<{ data: Buffer; mime: string; filename: string | null }> {
  const fail = (why: string) => new RelayError('MEDIA_FETCH_FAILED', `${o.field}: ${why}`, { id: o.id });
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return Promise.reject(fail('is not a URL'));
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return Promise.reject(fail('must be an http(s) URL'));
  const where = `${parsed.protocol}//${parsed.host}`;
  const literal = parsed.hostname.replace(/^\[|\]$/g, '');
  if (!o.allowPrivateNetworks && ipaddr.isValid(literal) && !isPublicAddress(literal)) {
    return Promise.reject(fail(`${where} is not a public address`));
  }
  const request = parsed.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(parsed, {
      method: 'GET',
      timeout: o.timeoutMs,
      ...(o.allowPrivateNetworks ? {} : { lookup: publicOnlyLookup() }),
    });
    const timer = setTimeout(() => req.destroy(fail(`${where} did not answer within ${o.timeoutMs} ms`)), o.timeoutMs);
    let settled = false;
    const done = (err: Error | null, value?: { data: Buffer; mime: string; filename: string | null }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(value!);
    };
    req.on('error', (err: Error & { code?: string }) => {
      if (err instanceof RelayError) return done(err);
      done(fail(err.code === 'MEDIA_URL_PRIVATE' ? `${where} is not a public address` : `${where} could not be fetched (${err.code ?? err.message})`));
    });
    req.on('timeout', () => req.destroy(fail(`${where} did not answer within ${o.timeoutMs} ms`)));
    req.on('response', (res: IncomingMessage) => {
      if (res.statusCode !== 200) {
        res.resume();
        const redirect = res.statusCode !== undefined && res.statusCode >= 300 && res.statusCode < 400;
        return done(fail(`${where} answered HTTP ${res.statusCode}${redirect ? ' (redirects are not followed)' : ''}`));
      }
      const declared = Number(res.headers['content-length']);
      const tooLarge = () => new RelayError('MEDIA_TOO_LARGE', `${o.field} is larger than WeCom's limit of ${o.maxBytes} bytes`, { id: o.id });
      if (Number.isFinite(declared) && declared > o.maxBytes) {
        res.destroy();
        return done(tooLarge());
      }
      const chunks: Buffer[] = [];
      let total = 0;
      res.on('data', (chunk: Buffer) => {
        total += chunk.length;
        if (total > o.maxBytes) {
          res.destroy();
          req.destroy();
          return done(tooLarge());
        }
        chunks.push(chunk);
      });
      res.on('end', () => {
        const mime = (res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        const name = /filename="?([^";]+)"?/i.exec(res.headers['content-disposition'] ?? '')?.[1] ?? null;
        const fromPath = decodeURIComponent(parsed.pathname.split('/').pop() ?? '') || null;
        done(null, { data: Buffer.concat(chunks, total), mime, filename: name ?? fromPath });
      });
      res.on('error', (err) => done(fail(`${where} broke off (${err.message})`)));
    });
    req.end();
  });
}
