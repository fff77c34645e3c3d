import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_MP4 } from '@wecom-relay/fake-wecom';
import { bindByScan } from './support/binding-steps.js';
import { newUserId, useRelayStack } from './support/relay-stack.js';

// The files live on this machine, so the node is allowed to fetch from loopback here (off by default).
const stack = useRelayStack({ relayEnv: { MEDIA_FETCH_PRIVATE_NETWORKS: 'true' } });
const PDF = Buffer.from('%PDF-1.4 price list\n', 'latin1');
let files: Server;
let base = '';

beforeAll(async () => {
  files = createServer((req, res) => {
    if (req.url === '/prices.pdf') res.writeHead(200, { 'content-type': 'application/pdf' }).end(PDF);
    else if (req.url === '/clip.mp4') res.writeHead(200, { 'content-type': 'video/mp4' }).end(SAMPLE_MP4);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => files.close(r)));

describe('send with media named by URL', () => {
  it('fetches the file, uploads it and sends it; a URL that fails is refused with the field named, nothing sent', async () => {
    const s = stack();
    const gw = await s.gateway({ features: ['rich_outbound'] });
    const user = newUserId();
    await bindByScan(s, gw, user);
    const hi = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'send me the prices' });
    await gw.waitFor((f) => f.type === 'inbound' && f.id === hi.msgid);

    const file = await gw.send(user, 'file', { media_url: `${base}/prices.pdf` });
    const video = await gw.send(user, 'video', { media_url: `${base}/clip.mp4` });
    const sent = await s.fake.control.sent({ touser: user });
    expect(sent.find((m) => m.msgid === file.msgid)).toMatchObject({ msgtype: 'file', media_base64: PDF.toString('base64') });
    expect(sent.find((m) => m.msgid === video.msgid)).toMatchObject({ msgtype: 'video', media_base64: SAMPLE_MP4.toString('base64'), media_mime: 'video/mp4' });

    const missing = await gw.send(user, 'file', { media_url: `${base}/gone.pdf` }).catch((e: { frame?: unknown }) => e.frame);
    expect(missing).toMatchObject({ type: 'error', code: 'MEDIA_FETCH_FAILED', message: expect.stringMatching(/^file\.media_url: .*HTTP 404/) });
    const both = await gw
      .send(user, 'file', { media_url: `${base}/prices.pdf`, media_data: PDF.toString('base64') })
      .catch((e: { frame?: unknown }) => e.frame);
    expect(both).toMatchObject({ code: 'FRAME_INVALID', message: expect.stringMatching(/exactly one of media_data and media_url/) });
    expect((await s.fake.control.sent({ touser: user })).length).toBe(sent.length);
  });
});
