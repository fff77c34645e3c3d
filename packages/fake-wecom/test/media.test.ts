import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_AMR, SAMPLE_PNG, startFakeWecom, type FakeWecom } from '../src/index.js';
import { WecomCaller } from './support/wecom-caller.js';

let fake: FakeWecom;
let wecom: WecomCaller;
let token: string;

beforeAll(async () => {
  fake = await startFakeWecom({});
  wecom = new WecomCaller(fake);
  token = await wecom.token();
});
afterAll(() => fake.close());

const get = (mediaId: string) => fetch(`${fake.url}/cgi-bin/media/get?access_token=${token}&media_id=${encodeURIComponent(mediaId)}`);

describe('media/upload and media/get', () => {
  it('stores an upload and serves the same bytes with its type and a download name', async () => {
    const up = await wecom.upload('image', SAMPLE_PNG, 'photo.png', 'image/png', token);
    expect(up).toMatchObject({ errcode: 0, type: 'image' });
    expect(typeof up['created_at']).toBe('string');

    const res = await get(up['media_id'] as string);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${up['media_id'] as string}.png"`);
    expect(Buffer.from(await res.arrayBuffer()).equals(SAMPLE_PNG)).toBe(true);
  });

  it('answers JSON 40007 for an unknown media_id and after 3 days', async () => {
    const unknown = await get('nope');
    expect(unknown.headers.get('content-type')).toContain('application/json');
    expect(((await unknown.json()) as { errcode: number }).errcode).toBe(40007);

    const up = await wecom.upload('voice', SAMPLE_AMR, 'v.amr', 'voice/amr', token);
    expect(up.errcode).toBe(0);
    fake.advanceClock(3 * 24 * 3600 * 1000 + 1000);
    token = await wecom.token();
    expect(((await (await get(up['media_id'] as string)).json()) as { errcode: number }).errcode).toBe(40007);
  });

  it('enforces sizes and types: empty 44001, ≤5 bytes 40006, image over 2 MB 40009, non-image 40005, bad type 40004', async () => {
    expect((await wecom.upload('image', Buffer.alloc(0), 'e.png', 'image/png', token)).errcode).toBe(44001);
    expect((await wecom.upload('file', Buffer.from('12345'), 'f.txt', 'text/plain', token)).errcode).toBe(40006);
    expect((await wecom.upload('file', Buffer.from('123456'), 'f.txt', 'text/plain', token)).errcode).toBe(0);
    const big = Buffer.concat([SAMPLE_PNG, Buffer.alloc(2 * 1024 * 1024)]);
    expect((await wecom.upload('image', big, 'big.png', 'image/png', token)).errcode).toBe(40009);
    expect((await wecom.upload('image', Buffer.from('GIF89a-not-allowed'), 'a.gif', 'image/gif', token)).errcode).toBe(40005);
    expect((await wecom.upload('sticker', SAMPLE_PNG, 'a.png', 'image/png', token)).errcode).toBe(40004);
  });

  it('answers 44001 when the field is not called media or the body is not multipart', async () => {
    const form = new FormData();
    form.append('file', new Blob([SAMPLE_PNG], { type: 'image/png' }), 'a.png');
    const wrongField = await fetch(`${fake.url}/cgi-bin/media/upload?access_token=${token}&type=image`, { method: 'POST', body: form });
    expect(((await wrongField.json()) as { errcode: number }).errcode).toBe(44001);
    const raw = await fetch(`${fake.url}/cgi-bin/media/upload?access_token=${token}&type=image`, { method: 'POST', body: SAMPLE_PNG });
    expect(((await raw.json()) as { errcode: number }).errcode).toBe(44001);
  });

  it('stores customer media given as base64 with its mime type', async () => {
    const data = Buffer.from('%PDF-1.4 fake document');
    const msg = await fake.customerMessage({
      external_userid: 'wmFile',
      msgtype: 'file',
      media_base64: data.toString('base64'),
      media_mime: 'application/pdf',
      deliver: false,
    });
    const mediaId = (msg.message['file'] as { media_id: string }).media_id;
    const res = await get(mediaId);
    expect(res.headers.get('content-type')).toBe('application/pdf');
    expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
  });
});
