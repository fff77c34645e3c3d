import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WecomCrypto, parseCallbackEnvelope } from '@wecom-relay/shared';
import { FakeWecomControl, FakeWecomControlError } from '../src/index.js';
import { startRelayStub, type RelayStub } from './support/relay-stub.js';

const mainScript = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const tsx = fileURLToPath(new URL('../node_modules/.bin/tsx', import.meta.url));

const corp = {
  corpId: 'wwcliprocess0001',
  secret: 'cli-secret',
  token: 'cliToken',
  aesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
  openKfid: 'wkCLIPROCESS',
};

let child: ChildProcess;
let relay: RelayStub;
let control: FakeWecomControl;
let baseUrl: string;

/** Starts the CLI as its own process on a free port and waits for its listening line. */
async function spawnCli(): Promise<string> {
  child = spawn(tsx, [mainScript], {
    env: {
      ...process.env,
      FAKE_WECOM_PORT: '0',
      FAKE_WECOM_CORPID: corp.corpId,
      FAKE_WECOM_SECRET: corp.secret,
      FAKE_WECOM_TOKEN: corp.token,
      FAKE_WECOM_AES_KEY: corp.aesKey,
      FAKE_WECOM_OPEN_KFID: corp.openKfid,
      FAKE_WECOM_CALLBACK_URLS: relay.url,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    const parsed = JSON.parse(line) as { event?: string; url?: string };
    if (parsed.event === 'listening' && parsed.url) return parsed.url;
  }
  throw new Error('fake-wecom exited before listening');
}

beforeAll(async () => {
  relay = await startRelayStub();
  baseUrl = await spawnCli();
  control = new FakeWecomControl(baseUrl);
}, 60_000);

afterAll(async () => {
  if (child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  await relay.close();
});

describe('fake-wecom as a process, driven by FakeWecomControl', () => {
  it('prints its URL and takes its settings from the environment', async () => {
    expect(baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await control.info()).toEqual({ url: baseUrl, corp_id: corp.corpId, open_kfid: corp.openKfid, open_kfids: [corp.openKfid], callback_urls: [relay.url] });
    const res = await fetch(`${baseUrl}/cgi-bin/gettoken?corpid=${corp.corpId}&corpsecret=${corp.secret}`);
    expect(((await res.json()) as { errcode: number }).errcode).toBe(0);
  });

  it('delivers a callback encrypted with the configured key and token', async () => {
    const result = await control.customerMessage({ external_userid: 'wmProc', msgtype: 'text', content: 'over the wire' });
    expect(result.callbacks).toEqual([{ url: relay.url, status: 200 }]);
    const cb = relay.received.at(-1)!;
    const crypto = new WecomCrypto({ token: corp.token, encodingAesKey: corp.aesKey, receiveId: corp.corpId });
    const xml = crypto.openCallback(
      { msgSignature: cb.query.get('msg_signature')!, timestamp: cb.query.get('timestamp')!, nonce: cb.query.get('nonce')! },
      parseCallbackEnvelope(cb.body).encrypt,
    );
    expect(xml).toContain(corp.openKfid);
    expect((await control.messages()).map((m) => m.msgid)).toContain(result.msgid);
  });

  it('exposes faults, stats, sent messages and reset over HTTP', async () => {
    await control.faults({ path: 'kf/sync_msg', errcode: 45009, times: 2 });
    expect(await control.faultsPending()).toEqual([{ path: 'kf/sync_msg', errcode: 45009, times: 2 }]);
    const token = ((await (await fetch(`${baseUrl}/cgi-bin/gettoken?corpid=${corp.corpId}&corpsecret=${corp.secret}`)).json()) as {
      access_token: string;
    }).access_token;
    const sync = await fetch(`${baseUrl}/cgi-bin/kf/sync_msg?access_token=${token}`, {
      method: 'POST',
      body: JSON.stringify({ open_kfid: corp.openKfid }),
    });
    expect(((await sync.json()) as { errcode: number }).errcode).toBe(45009);
    expect((await control.stats()).errors['45009']).toBe(1);

    await fetch(`${baseUrl}/cgi-bin/kf/send_msg?access_token=${token}`, {
      method: 'POST',
      body: JSON.stringify({ touser: 'wmProc', open_kfid: corp.openKfid, msgtype: 'text', text: { content: 'answer' } }),
    });
    expect(await control.sent({ touser: 'wmProc' })).toEqual([expect.objectContaining({ content: 'answer', msgtype: 'text' })]);

    await control.reset();
    expect(await control.faultsPending()).toEqual([]);
    expect(await control.sent()).toEqual([]);
    expect((await control.stats()).calls).toEqual({});
  });

  it('reports why a scan is refused: a link it did not issue produces no callback', async () => {
    const before = relay.received.length;
    const err = await control
      .scan({ external_userid: 'wmProc', url: 'https://work.weixin.qq.com/kfid/kfc0123456789?scene_param=abcd1234' })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CONTROL_SCAN_REFUSED', status: 400, message: expect.stringMatching(/not .*issued/) });
    expect(relay.received.length).toBe(before);
  });

  it('answers a bad control request with a clear error and keeps running', async () => {
    const err = await control.customerMessage({ external_userid: '', msgtype: 'text' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FakeWecomControlError);
    expect(err).toMatchObject({ code: 'CONTROL_BAD_REQUEST', status: 400 });
    const garbage = await fetch(`${baseUrl}/control/customer-message`, { method: 'POST', body: '{not json' });
    expect(garbage.status).toBe(400);
    expect((await control.stats()).calls).toBeDefined();
  });
});
