import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeWecom } from '../../../fake-wecom/src/index.js';
import { MAX_TEXT_BYTES, nodeHttpRequest } from '../../src/wecom/http-request.js';
import { multipartFile } from '../../src/wecom/multipart-body.js';
import { startFake } from './wecom-test-kit.js';

const run = promisify(execFile);
const CHILD = fileURLToPath(new URL('./support/wecom-calls-child.ts', import.meta.url));
const TSX = createRequire(import.meta.url).resolve('tsx');

describe('WeCom calls without the global fetch', () => {
  let fake: FakeWecom;
  beforeAll(async () => {
    fake = await startFake({});
  });
  afterAll(() => fake.close());

  it('a process making every kind of WeCom call never loads undici (about 12 MB it would keep)', async () => {
    const { stdout } = await run(process.execPath, ['--import', TSX, CHILD], {
      env: {
        ...process.env,
        FAKE_URL: fake.url,
        FAKE_CORPID: fake.options.corpId,
        FAKE_SECRET: fake.options.corpSecret,
        FAKE_OPEN_KFID: fake.options.openKfid,
      },
      timeout: 60_000,
    });
    expect(JSON.parse(stdout)).toEqual({ downloaded: true, streamed: true, undici: false });
  }, 90_000);
});

describe('nodeHttpRequest', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/huge') {
        res.writeHead(200, { 'content-type': 'application/json' });
        const block = Buffer.alloc(1024 * 1024, 0x20);
        let sent = 0;
        const pump = (): void => {
          while (sent <= MAX_TEXT_BYTES) {
            sent += block.length;
            if (!res.write(block)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.writeHead(201, { 'x-seen': String(Buffer.concat(chunks).length), 'set-cookie': ['a=1', 'b=2'] });
        res.end(`${req.method} ${req.headers['content-type'] ?? ''} ${req.headers['content-length'] ?? ''}`);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => server.close());

  it('sends the body with its length and reads status, headers and text', async () => {
    const res = await nodeHttpRequest(`${url}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":"你好"}',
      signal: new AbortController().signal,
    });
    expect(res.status).toBe(201);
    expect(res.ok).toBe(true);
    expect(res.header('X-Seen')).toBe('14');
    expect(res.header('set-cookie')).toBe('a=1, b=2');
    expect(res.header('x-absent')).toBeNull();
    expect(await res.text()).toBe('POST application/json 14');
  });

  it('refuses to buffer an answer past MAX_TEXT_BYTES', async () => {
    const res = await nodeHttpRequest(`${url}/huge`, { method: 'GET', headers: {}, signal: new AbortController().signal });
    await expect(res.text()).rejects.toThrow(`answer longer than ${MAX_TEXT_BYTES} bytes`);
  });

  it('rejects when aborted and when nothing listens', async () => {
    const aborted = AbortSignal.abort(new Error('timed out'));
    await expect(nodeHttpRequest(`${url}/echo`, { method: 'GET', headers: {}, signal: aborted })).rejects.toThrow();
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await expect(
      nodeHttpRequest(`http://127.0.0.1:${port}/`, { method: 'GET', headers: {}, signal: new AbortController().signal }),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('multipartFile', () => {
  it('is read back by a standard multipart parser: same bytes, type and name, quotes and line breaks included', async () => {
    const data = Buffer.from([0, 1, 2, 0x0d, 0x0a, 0x2d, 0x2d, 255]);
    const { body, contentType } = multipartFile('media', { data, filename: '报告 "q1"\r\n.pdf', mime: 'application/pdf' });
    const form = await new Response(body, { headers: { 'content-type': contentType } }).formData();
    const file = form.get('media') as File;
    expect(Buffer.from(await file.arrayBuffer()).equals(data)).toBe(true);
    expect(file.type).toBe('application/pdf');
    expect(file.name).toBe('报告 "q1"\r\n.pdf');
    // Escaped on the wire, so the name cannot end its header line.
    expect(body.toString('utf8')).toContain('filename="报告 %22q1%22%0D%0A.pdf"\r\n');
    expect([...form.keys()]).toEqual(['media']);
  });
});
