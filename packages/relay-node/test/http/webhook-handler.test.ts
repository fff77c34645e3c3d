import { afterEach, describe, expect, it } from 'vitest';
import { queryOf, signedCallback, startWebhook } from './webhook-harness.js';

type Webhook = Awaited<ReturnType<typeof startWebhook>>;
const open: Webhook[] = [];
async function webhook(...args: Parameters<typeof startWebhook>): Promise<Webhook> {
  const w = await startWebhook(...args);
  open.push(w);
  return w;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((w) => w.close()));
});

const FIELDS = ['msg_signature', 'timestamp', 'nonce'] as const;

describe('webhook: the signed query fields', () => {
  it('accepts a genuine callback and notes one pull', async () => {
    const w = await webhook();
    const cb = signedCallback();
    const res = await w.post(queryOf(cb.fields), cb.body);
    expect(res).toEqual({ status: 200, text: '' });
    expect(w.notes).toEqual(['cbtoken']);
  });

  for (const field of FIELDS) {
    it(`refuses a callback without ${field}, with it empty, or with it twice, and notes nothing`, async () => {
      const w = await webhook();
      const cb = signedCallback();
      const value = cb.fields.find(([k]) => k === field)![1];
      const others = cb.fields.filter(([k]) => k !== field);
      const variants: Array<Array<[string, string]>> = [
        others,
        [...others, [field, '']],
        [...cb.fields, [field, value === '0' ? '1' : '0']],
        [[field, 'not-the-value'], ...cb.fields],
        // Even the same value twice is ambiguous to whoever signed it.
        [...cb.fields, [field, value]],
      ];
      for (const fields of variants) {
        const res = await w.post(queryOf(fields), cb.body);
        expect(res.status, queryOf(fields)).toBe(400);
        expect(JSON.parse(res.text).code).toBe('WEBHOOK_BAD_QUERY');
      }
      expect(w.notes).toEqual([]);
      // The untouched request still works: only the query was at fault.
      expect((await w.post(queryOf(cb.fields), cb.body)).status).toBe(200);
    });
  }

  it('refuses malformed percent-encoding and unknown duplicates do not matter', async () => {
    const w = await webhook();
    const cb = signedCallback();
    expect((await w.post(`${queryOf(cb.fields)}&nonce2=%E0%A4%A`, cb.body)).status).toBe(400);
    expect((await w.post(`${queryOf(cb.fields)}&extra=1&extra=2`, cb.body)).status).toBe(200);
    expect(w.notes).toHaveLength(1);
  });
});

describe('webhook: replay window', () => {
  const windowMs = 5 * 60_000;

  it('refuses a correctly signed callback whose timestamp is older or newer than the window', async () => {
    const w = await webhook({ replayWindowMs: windowMs });
    const now = Math.floor(Date.now() / 1000);
    for (const timestamp of [now - windowMs / 1000 - 60, now + windowMs / 1000 + 60]) {
      const cb = signedCallback({ timestamp, createTime: now });
      const res = await w.post(queryOf(cb.fields), cb.body);
      expect(res.status).toBe(400);
      expect(JSON.parse(res.text).code).toBe('WEBHOOK_STALE');
    }
    expect(w.notes).toEqual([]);
  });

  it('accepts a timestamp a few minutes off (WeCom retries, clock skew)', async () => {
    const w = await webhook({ replayWindowMs: windowMs });
    const now = Math.floor(Date.now() / 1000);
    const cb = signedCallback({ timestamp: now - 120, createTime: now - 120 });
    expect((await w.post(queryOf(cb.fields), cb.body)).status).toBe(200);
    expect(w.notes).toHaveLength(1);
  });

  it('refuses a fresh timestamp around a stale CreateTime (the encrypted part was captured earlier)', async () => {
    const w = await webhook({ replayWindowMs: windowMs });
    const now = Math.floor(Date.now() / 1000);
    const cb = signedCallback({ timestamp: now, createTime: now - 3600 });
    const res = await w.post(queryOf(cb.fields), cb.body);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text).code).toBe('WEBHOOK_STALE');
    expect(w.notes).toEqual([]);
  });

  it('refuses a timestamp that is not a number of seconds', async () => {
    const w = await webhook();
    const cb = signedCallback();
    const fields = cb.fields.map(([k, v]): [string, string] => [k, k === 'timestamp' ? `${v}.5` : v]);
    expect((await w.post(queryOf(fields), cb.body)).status).toBe(400);
  });
});

describe('webhook: exact replays', () => {
  it('answers an exact copy 200 without noting a second pull, and counts it as a replay', async () => {
    const w = await webhook();
    const cb = signedCallback();
    expect((await w.post(queryOf(cb.fields), cb.body)).status).toBe(200);
    expect((await w.post(queryOf(cb.fields), cb.body)).status).toBe(200);
    expect(w.notes).toHaveLength(1);
    expect((await w.outcomes())['callback:replay']).toBe(1);
    // A new callback (new nonce) is a new announcement.
    const next = signedCallback();
    expect((await w.post(queryOf(next.fields), next.body)).status).toBe(200);
    expect(w.notes).toHaveLength(2);
  });

  it('answers copies that arrive together 200 with one pull (WeCom retrying a slow answer)', async () => {
    const w = await webhook();
    const cb = signedCallback();
    const results = await Promise.all([1, 2, 3].map(() => w.post(queryOf(cb.fields), cb.body)));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(w.notes).toHaveLength(1);
  });

  it('handles the retry of a callback that failed afresh (it was not noted the first time)', async () => {
    let failNext = true;
    const noted: string[] = [];
    const w = await webhook({
      onKfCallback: async (_openKfid, token) => {
        if (failNext) {
          failNext = false;
          throw new Error('state store unavailable');
        }
        noted.push(token ?? '');
      },
    });
    const cb = signedCallback();
    expect((await w.post(queryOf(cb.fields), cb.body)).status).toBe(503);
    expect((await w.post(queryOf(cb.fields), cb.body)).status).toBe(200);
    expect(noted).toEqual(['cbtoken']);
  });

  it('keeps a bounded memory: past its size the oldest are forgotten', async () => {
    const w = await webhook({ seenCacheSize: 2 });
    const callbacks = [signedCallback(), signedCallback(), signedCallback()];
    for (const cb of callbacks) expect((await w.post(queryOf(cb.fields), cb.body)).status).toBe(200);
    // The first was pushed out: its copy is handled again (a harmless extra pull), the last is still known.
    await w.post(queryOf(callbacks[0]!.fields), callbacks[0]!.body);
    await w.post(queryOf(callbacks[2]!.fields), callbacks[2]!.body);
    expect(w.notes).toHaveLength(4);
  });
});

describe('webhook: answering in time', () => {
  it('answers 503 when the pull cannot be noted before the deadline (WeCom retries non-200)', async () => {
    const w = await webhook({ deadlineMs: 200, onKfCallback: () => new Promise<void>(() => undefined) });
    const cb = signedCallback();
    const res = await w.post(queryOf(cb.fields), cb.body);
    expect(res.status).toBe(503);
    expect(JSON.parse(res.text).code).toBe('NOT_READY');
  });
});

describe('webhook: refusals in the log', () => {
  it('logs a flood of refusals from one source once, without a stack, and counts every one', async () => {
    const w = await webhook({ refusalLogIntervalMs: 60_000 });
    const cb = signedCallback();
    const forged = cb.fields.map(([k, v]): [string, string] => [k, k === 'msg_signature' ? '0'.repeat(40) : v]);
    for (let i = 0; i < 20; i++) expect((await w.post(queryOf(forged), cb.body)).status).toBe(401);
    const refusals = w.lines.filter((l) => l.msg === 'webhook request refused');
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatchObject({ code: 'WEBHOOK_SIGNATURE_INVALID', source: '127.0.0.1' });
    expect(JSON.stringify(w.lines)).not.toContain('"stack"');
    expect((await w.outcomes())['callback:WEBHOOK_SIGNATURE_INVALID']).toBe(20);
    // Another reason from the same source is its own line.
    const big = await w.post(queryOf(cb.fields), 'x'.repeat(10_000));
    expect(big.status).toBe(413);
    expect(w.lines.filter((l) => l.msg === 'webhook request refused')).toHaveLength(2);
  });
});
