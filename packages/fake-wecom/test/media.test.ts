import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAKE_WECOM_DEFAULTS, FakeWecomControl, SAMPLE_AMR, SAMPLE_PNG, startFakeWecom, type FakeWecom } from '../src/index.js';
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

describe('media/get of large files and Range', () => {
  const THRESHOLD = 64 * 1024;
  let large: FakeWecom;
  let largeToken: string;
  // Every byte differs from its neighbours, so a slice shifted by one cannot pass for the right one.
  const file = Buffer.from(Array.from({ length: THRESHOLD + 1000 }, (_, i) => (i * 7 + (i >> 8)) & 0xff));

  beforeAll(async () => {
    large = await startFakeWecom({ largeMediaThresholdBytes: THRESHOLD });
    largeToken = await new WecomCaller(large).token();
  });
  afterAll(() => large.close());

  const store = async (data: Buffer, mime = 'application/zip'): Promise<string> => {
    const msg = await large.customerMessage({
      external_userid: 'wmLarge',
      msgtype: 'file',
      media_base64: data.toString('base64'),
      media_mime: mime,
      deliver: false,
    });
    return (msg.message['file'] as { media_id: string }).media_id;
  };
  const getLarge = (mediaId: string, range?: string) =>
    fetch(`${large.url}/cgi-bin/media/get?access_token=${largeToken}&media_id=${encodeURIComponent(mediaId)}`, {
      headers: range === undefined ? {} : { range },
    });

  it('answers JSON 830002 above the threshold without Range, and the file itself at exactly the threshold', async () => {
    const res = await getLarge(await store(file));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(((await res.json()) as { errcode: number }).errcode).toBe(830002);

    const atThreshold = file.subarray(0, THRESHOLD);
    const whole = await getLarge(await store(atThreshold));
    expect(whole.headers.get('content-type')).toBe('application/zip');
    expect(Buffer.from(await whole.arrayBuffer()).equals(atThreshold)).toBe(true);
  });

  it('serves exact 206 slices for bytes=a-b, bytes=a- and bytes=-n, with Content-Range, Content-Length and the type', async () => {
    const mediaId = await store(file);
    const cases: Array<[string, number, number]> = [
      ['bytes=0-9', 0, 9],
      ['bytes=1000-40999', 1000, 40999],
      [`bytes=${file.length - 5}-`, file.length - 5, file.length - 1],
      ['bytes=-300', file.length - 300, file.length - 1],
      // A last position past the end is cut to the end of the file.
      [`bytes=60000-${file.length + 100000}`, 60000, file.length - 1],
    ];
    for (const [range, first, last] of cases) {
      const res = await getLarge(mediaId, range);
      expect(res.status, range).toBe(206);
      expect(res.headers.get('content-range'), range).toBe(`bytes ${first}-${last}/${file.length}`);
      expect(res.headers.get('content-length'), range).toBe(String(last - first + 1));
      expect(res.headers.get('content-type'), range).toBe('application/zip');
      expect(Buffer.from(await res.arrayBuffer()).equals(file.subarray(first, last + 1)), range).toBe(true);
    }
  });

  it('honours Range on small files too', async () => {
    const up = await wecom.upload('image', SAMPLE_PNG, 'photo.png', 'image/png', token);
    const url = `${fake.url}/cgi-bin/media/get?access_token=${token}&media_id=${up['media_id'] as string}`;
    const res = await fetch(url, { headers: { range: 'bytes=1-3' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 1-3/${SAMPLE_PNG.length}`);
    expect(Buffer.from(await res.arrayBuffer()).toString('latin1')).toBe('PNG');
  });

  it('answers 416 with the size for a range starting past the end, and ignores a malformed Range', async () => {
    const mediaId = await store(file);
    for (const range of [`bytes=${file.length}-`, `bytes=${file.length + 10}-${file.length + 20}`]) {
      const res = await getLarge(mediaId, range);
      expect(res.status, range).toBe(416);
      expect(res.headers.get('content-range'), range).toBe(`bytes */${file.length}`);
      await res.arrayBuffer();
    }
    const small = file.subarray(0, 1000);
    const smallId = await store(small);
    for (const range of ['bytes=9-2', 'items=0-5', 'bytes=0-1,5-6']) {
      const res = await getLarge(smallId, range);
      expect(res.status, range).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(small), range).toBe(true);
    }
    // A malformed Range on a large file is a request without Range.
    expect(((await (await getLarge(mediaId, 'bytes=abc')).json()) as { errcode: number }).errcode).toBe(830002);
  });

  it('lets a test move the threshold; reset restores the configured one', async () => {
    const mediaId = await store(file);
    large.setLargeMediaThreshold(file.length);
    expect(Buffer.from(await (await getLarge(mediaId)).arrayBuffer()).equals(file)).toBe(true);
    large.reset();
    const again = await store(file);
    expect(((await (await getLarge(again)).json()) as { errcode: number }).errcode).toBe(830002);
    expect(() => large.setLargeMediaThreshold(-1)).toThrow(/bytes/);
  });
});

describe('the large-media threshold of the CLI', () => {
  it('comes from FAKE_WECOM_LARGE_MEDIA_BYTES and can be moved through the control surface', async () => {
    const tsx = fileURLToPath(new URL('../node_modules/.bin/tsx', import.meta.url));
    const child = spawn(tsx, [fileURLToPath(new URL('../src/main.ts', import.meta.url))], {
      env: { ...process.env, FAKE_WECOM_PORT: '0', FAKE_WECOM_LARGE_MEDIA_BYTES: '100', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      let baseUrl = '';
      for await (const line of createInterface({ input: child.stdout })) {
        const parsed = JSON.parse(line) as { event?: string; url?: string };
        if (parsed.event === 'listening' && parsed.url) {
          baseUrl = parsed.url;
          break;
        }
      }
      expect(baseUrl).toMatch(/^http:/);
      const control = new FakeWecomControl(baseUrl);
      const data = Buffer.alloc(101, 7);
      const msg = await control.customerMessage({
        external_userid: 'wmCli',
        msgtype: 'file',
        media_base64: data.toString('base64'),
        media_mime: 'application/zip',
        deliver: false,
      });
      const mediaId = (msg.message['file'] as { media_id: string }).media_id;
      const info = await control.info();
      const tokenRes = await fetch(`${baseUrl}/cgi-bin/gettoken?corpid=${info.corp_id}&corpsecret=${FAKE_WECOM_DEFAULTS.corpSecret}`);
      const cliToken = ((await tokenRes.json()) as { access_token: string }).access_token;
      const download = () => fetch(`${baseUrl}/cgi-bin/media/get?access_token=${cliToken}&media_id=${mediaId}`);

      expect(((await (await download()).json()) as { errcode: number }).errcode).toBe(830002);
      await control.setLargeMediaThreshold(101);
      expect(Buffer.from(await (await download()).arrayBuffer()).equals(data)).toBe(true);
      await expect(control.setLargeMediaThreshold(-5)).rejects.toMatchObject({ code: 'CONTROL_BAD_REQUEST' });
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
