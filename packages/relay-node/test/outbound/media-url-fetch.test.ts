import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchMediaUrl, isPublicAddress } from '../../src/outbound/media-url-fetch.js';

let server: Server;
let base = '';
const FILE = Buffer.from('%PDF-1.4 hello\n', 'latin1');
let servedBig = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/doc.pdf') {
      res.writeHead(200, { 'content-type': 'application/pdf', 'content-disposition': 'attachment; filename="report.pdf"' });
      res.end(FILE);
    } else if (req.url === '/big') {
      // No Content-Length: the cap must hold while reading, not only from the header.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 1);
      const push = () => {
        while (servedBig < 400 * chunk.length) {
          servedBig += chunk.length;
          if (!res.write(chunk)) return res.once('drain', push);
        }
        res.end();
      };
      push();
    } else if (req.url === '/moved') {
      res.writeHead(302, { location: '/doc.pdf' });
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));

const opts = (o: Partial<Parameters<typeof fetchMediaUrl>[1]> = {}) => ({
  maxBytes: 1024 * 1024,
  timeoutMs: 5_000,
  allowPrivateNetworks: true,
  field: 'file.media_url',
  id: 'rq-1',
  ...o,
});

describe('fetchMediaUrl', () => {
  it('fetches the file with its type and name', async () => {
    expect(await fetchMediaUrl(`${base}/doc.pdf`, opts())).toEqual({ data: FILE, mime: 'application/pdf', filename: 'report.pdf' });
  });

  it('refuses loopback, private and link-local addresses unless allowed, before connecting', async () => {
    for (const url of [`${base}/doc.pdf`, 'http://10.1.2.3/x', 'http://169.254.169.254/latest/meta-data', 'http://[::1]/x']) {
      await expect(fetchMediaUrl(url, opts({ allowPrivateNetworks: false }))).rejects.toMatchObject({
        code: 'MEDIA_FETCH_FAILED',
        message: expect.stringMatching(/file\.media_url: .* is not a public address/),
      });
    }
    await expect(fetchMediaUrl('http://localhost:1/x', opts({ allowPrivateNetworks: false }))).rejects.toMatchObject({
      message: expect.stringMatching(/not a public address/),
    });
    expect(isPublicAddress('93.184.216.34')).toBe(true);
    expect(isPublicAddress('::ffff:127.0.0.1')).toBe(false);
  });

  it('stops reading one chunk past the limit, and names the limit', async () => {
    await expect(fetchMediaUrl(`${base}/big`, opts({ maxBytes: 100_000 }))).rejects.toMatchObject({
      code: 'MEDIA_TOO_LARGE',
      message: "file.media_url is larger than WeCom's limit of 100000 bytes",
    });
    expect(servedBig).toBeLessThan(400 * 64 * 1024);
  });

  it('does not follow redirects, says what the server answered, and refuses other schemes', async () => {
    await expect(fetchMediaUrl(`${base}/moved`, opts())).rejects.toMatchObject({ message: expect.stringMatching(/HTTP 302 \(redirects are not followed\)/) });
    await expect(fetchMediaUrl(`${base}/missing`, opts())).rejects.toMatchObject({ message: expect.stringMatching(/HTTP 404/) });
    await expect(fetchMediaUrl('file:///etc/passwd', opts())).rejects.toMatchObject({ message: 'file.media_url: must be an http(s) URL' });
  });
});
