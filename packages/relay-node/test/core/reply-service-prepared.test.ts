import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { RelayError } from '../../src/errors/relay-error.js';
import { replyKit, text } from '../outbound/reply-service-kit.js';

/** The RelayError a promise rejected with. */
async function refusal(p: Promise<unknown>): Promise<RelayError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RelayError);
  return err as RelayError;
}

describe('ReplyService.sendPrepared (messages of any kind under the reply rules)', () => {
  it('sends once per id and fingerprint with a fresh client msgid, and answers a resend with the first msgid', async () => {
    const k = await replyKit();
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    const clientIds: string[] = [];
    const send = async (clientMsgid: string) => {
      clientIds.push(clientMsgid);
      return { msgid: `wecom-${clientIds.length}` };
    };
    const req = { id: 'r-1', externalUserId: 'wm-alice', msgtype: 'link', fingerprint: 'https://example.com/a' };
    expect(await k.service.sendPrepared('gw-1', req, send)).toBe('wecom-1');
    expect(await k.service.sendPrepared('gw-1', req, send)).toBe('wecom-1');
    expect(clientIds).toHaveLength(1);
    expect(clientIds[0]).toMatch(/\S/);
    // Other content under the same id is a new message.
    expect(await k.service.sendPrepared('gw-1', { ...req, fingerprint: 'https://example.com/b' }, send)).toBe('wecom-2');
    expect(clientIds[1]).not.toBe(clientIds[0]);
  });

  it("refuses another gateway's customer (NOT_BOUND) and a gateway over its rate (RATE_LIMITED), sending nothing", async () => {
    const k = await replyKit({ rateLimit: { perSecond: 1, burst: 1 } });
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    let sends = 0;
    const send = async () => ({ msgid: `wecom-${++sends}` });
    await k.bindings.bind('wm-carol', 'gw-2');
    const notBound = await refusal(k.service.sendPrepared('gw-1', { id: 'r-x', externalUserId: 'wm-carol', msgtype: 'link', fingerprint: 'f' }, send));
    expect(notBound).toMatchObject({ code: 'NOT_BOUND', details: { id: 'r-x' } });
    const limited = await refusal(k.service.sendPrepared('gw-1', { id: 'r-y', externalUserId: 'wm-alice', msgtype: 'link', fingerprint: 'f' }, send));
    expect(limited).toMatchObject({
      code: 'RATE_LIMITED',
      message: 'this gateway sends replies faster than the relay allows; retry later',
      details: { id: 'r-y' },
    });
    expect(sends).toBe(0);
  });
});

describe('ReplyService.admitFor (requests that send nothing)', () => {
  it('passes a gateway for its own customer, refuses another gateway’s customer and a gateway over its rate', async () => {
    const k = await replyKit({ rateLimit: { perSecond: 1, burst: 2 } });
    await k.bindings.bind('wm-carol', 'gw-2');
    await k.service.admitFor('gw-1', 'a-1', 'wm-alice');
    expect(await refusal(k.service.admitFor('gw-1', 'a-2', 'wm-carol'))).toMatchObject({ code: 'NOT_BOUND', details: { id: 'a-2' } });
    expect(await refusal(k.service.admitFor('gw-1', 'a-3', 'wm-alice'))).toMatchObject({ code: 'RATE_LIMITED', details: { id: 'a-3' } });
    expect(k.wecom.calls).toBe(0);
  });
});

describe('ReplyService.reply sent in part', () => {
  it('a store failure after the first part: the rest is INTERNAL with our words, no WeCom code, the byte offset, and a log line', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const k = await replyKit({ logger });
    await k.ledger.customerSpoke('wk-test', 'wm-alice', k.clock.now());
    const reserve = k.ledger.reserveSend.bind(k.ledger);
    let n = 0;
    k.ledger.reserveSend = async (...args) => {
      if (++n === 2) throw new Error('store went away');
      return reserve(...args);
    };
    // 700 three-byte characters: a first part of 682 characters (2046 bytes), then the rest.
    const outcome = await k.service.reply('gw-1', text('r-part', '好'.repeat(700)));
    expect(outcome).toStrictEqual({
      msgids: [k.wecom.sent[0]!.msgid],
      partsTotal: 2,
      unsent: { code: 'INTERNAL', message: 'the relay could not send the rest of the reply', offset: Buffer.byteLength(k.wecom.sent[0]!.content!, 'utf8') },
    });
    const partial = lines.filter((l) => l.msg === 'reply sent in part');
    expect(partial.map((l) => [l.gatewayId, l.requestId, l.sent, l.parts])).toEqual([['gw-1', 'r-part', 1, 2]]);
  });
});
