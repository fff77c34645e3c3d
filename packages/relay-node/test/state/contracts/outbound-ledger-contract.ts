import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { OutboundLedger } from '../../../src/state/index.js';
import { LONG_TTL_MS, PAST_SHORT_TTL_MS, SHORT_TTL_MS, tracked } from './contract-helpers.js';

/** OutboundLedger: the per-user send window and who sent each WeCom msgid. */
export function outboundLedgerContract(name: string, make: () => Promise<OutboundLedger>): void {
  describe(`OutboundLedger contract: ${name}`, () => {
    const fresh = tracked(make);
    const sender = { gatewayId: 'gw-1', requestId: 'req-1', externalUserId: 'u-1' };

    it('knows nothing of a user it never saw', async () => {
      const ledger = await fresh();
      expect(await ledger.window('u-none')).toEqual({ lastCustomerAt: null, sentSince: 0 });
      expect(await ledger.senderOf('m-none')).toBeNull();
    });

    it('counts sends since the customer last wrote, and a newer customer message restarts the count', async () => {
      const ledger = await fresh();
      await ledger.customerSpoke('u-1', 1_000);
      await ledger.recordSend('u-1', 'm-1', sender, LONG_TTL_MS);
      await ledger.recordSend('u-1', 'm-2', null, LONG_TTL_MS);
      expect(await ledger.window('u-1')).toEqual({ lastCustomerAt: 1_000, sentSince: 2 });
      await ledger.customerSpoke('u-1', 2_000);
      expect(await ledger.window('u-1')).toEqual({ lastCustomerAt: 2_000, sentSince: 0 });
    });

    it('ignores a customer message older than the one it knows (a page pulled twice)', async () => {
      const ledger = await fresh();
      await ledger.customerSpoke('u-1', 5_000);
      await ledger.recordSend('u-1', 'm-1', null, LONG_TTL_MS);
      await ledger.customerSpoke('u-1', 4_000);
      await ledger.customerSpoke('u-1', 5_000);
      expect(await ledger.window('u-1')).toEqual({ lastCustomerAt: 5_000, sentSince: 1 });
    });

    it('a second message in the same second restarts the window; the same message noted again does not', async () => {
      const ledger = await fresh();
      await ledger.customerSpoke('u-1', 5_000, 'msg-a');
      await ledger.recordSend('u-1', 'm-1', null, LONG_TTL_MS);
      await ledger.customerSpoke('u-1', 5_000, 'msg-a');
      await ledger.customerSpoke('u-1', 5_000);
      expect(await ledger.window('u-1')).toEqual({ lastCustomerAt: 5_000, sentSince: 1 });
      await ledger.customerSpoke('u-1', 5_000, 'msg-b');
      expect(await ledger.window('u-1')).toEqual({ lastCustomerAt: 5_000, sentSince: 0 });
      await ledger.recordSend('u-1', 'm-2', null, LONG_TTL_MS);
      // The page pulled again: both messages are known, nothing restarts.
      await ledger.customerSpoke('u-1', 5_000, 'msg-a');
      await ledger.customerSpoke('u-1', 5_000, 'msg-b');
      await ledger.customerSpoke('u-1', 4_000, 'msg-older');
      expect(await ledger.window('u-1')).toEqual({ lastCustomerAt: 5_000, sentSince: 1 });
      await ledger.customerSpoke('u-1', 6_000, 'msg-c');
      await ledger.recordSend('u-1', 'm-3', null, LONG_TTL_MS);
      await ledger.customerSpoke('u-1', 6_000, 'msg-a');
      expect(await ledger.window('u-1')).toEqual({ lastCustomerAt: 6_000, sentSince: 0 });
    });

    it('keeps users apart', async () => {
      const ledger = await fresh();
      await ledger.customerSpoke('u-1', 1_000);
      await ledger.recordSend('u-2', 'm-1', null, LONG_TTL_MS);
      expect(await ledger.window('u-1')).toEqual({ lastCustomerAt: 1_000, sentSince: 0 });
      expect(await ledger.window('u-2')).toEqual({ lastCustomerAt: null, sentSince: 1 });
    });

    const rule = { maxSends: 5, windowMs: 48 * 3600 * 1000 };

    it('grants at most maxSends slots after a customer message, counting each, and more after the customer writes again', async () => {
      const ledger = await fresh();
      await ledger.customerSpoke('u-1', 1_000);
      const granted: boolean[] = [];
      for (let i = 0; i < 7; i++) granted.push((await ledger.reserveSend('u-1', 2_000, rule)).granted);
      expect(granted).toEqual([true, true, true, true, true, false, false]);
      expect(await ledger.window('u-1')).toEqual({ lastCustomerAt: 1_000, sentSince: 5 });
      expect((await ledger.reserveSend('u-1', 2_000, rule)).window).toEqual({ lastCustomerAt: 1_000, sentSince: 5 });
      await ledger.customerSpoke('u-1', 3_000);
      expect((await ledger.reserveSend('u-1', 3_500, rule)).granted).toBe(true);
    });

    it('concurrent reservations never grant more than maxSends', async () => {
      const ledger = await fresh();
      await ledger.customerSpoke('u-1', 1_000);
      const results = await Promise.all(Array.from({ length: 40 }, () => ledger.reserveSend('u-1', 2_000, rule)));
      expect(results.filter((r) => r.granted)).toHaveLength(5);
      expect((await ledger.window('u-1')).sentSince).toBe(5);
    });

    it('refuses a slot when the window time has passed, and grants up to maxSends to a user never seen writing', async () => {
      const ledger = await fresh();
      await ledger.customerSpoke('u-1', 1_000);
      expect((await ledger.reserveSend('u-1', 1_000 + rule.windowMs, rule)).granted).toBe(true);
      const late = await ledger.reserveSend('u-1', 1_001 + rule.windowMs, rule);
      expect(late).toEqual({ granted: false, window: { lastCustomerAt: 1_000, sentSince: 1 } });
      const unseen = [];
      for (let i = 0; i < 6; i++) unseen.push((await ledger.reserveSend('u-new', 5_000, rule)).granted);
      expect(unseen).toEqual([true, true, true, true, true, false]);
    });

    it('gives a slot back within the same window only', async () => {
      const ledger = await fresh();
      await ledger.customerSpoke('u-1', 1_000);
      await ledger.reserveSend('u-1', 2_000, rule);
      await ledger.reserveSend('u-1', 2_000, rule);
      await ledger.releaseSend('u-1', 1_000);
      expect((await ledger.window('u-1')).sentSince).toBe(1);
      // The customer wrote in between: the count started again, so an old slot is not given back.
      await ledger.customerSpoke('u-1', 3_000);
      await ledger.reserveSend('u-1', 3_500, rule);
      await ledger.releaseSend('u-1', 1_000);
      expect((await ledger.window('u-1')).sentSince).toBe(1);
      await ledger.releaseSend('u-never', null);
      expect(await ledger.window('u-never')).toEqual({ lastCustomerAt: null, sentSince: 0 });
    });

    it('a window WeCom called closed grants nothing until the customer writes again', async () => {
      const ledger = await fresh();
      await ledger.customerSpoke('u-1', 1_000);
      await ledger.closeWindow('u-1', rule);
      expect((await ledger.reserveSend('u-1', 2_000, rule)).granted).toBe(false);
      await ledger.closeWindow('u-unseen', rule);
      expect((await ledger.reserveSend('u-unseen', 2_000, rule)).granted).toBe(false);
      await ledger.customerSpoke('u-1', 3_000);
      expect((await ledger.reserveSend('u-1', 3_000, rule)).granted).toBe(true);
    });

    it('remembers a sender without counting a send', async () => {
      const ledger = await fresh();
      await ledger.rememberSender('m-9', sender, LONG_TTL_MS);
      expect(await ledger.senderOf('m-9')).toEqual(sender);
      expect(await ledger.window('u-1')).toEqual({ lastCustomerAt: null, sentSince: 0 });
    });

    it('remembers the sender of a msgid until its ttl, and nothing for sends without one', async () => {
      const ledger = await fresh();
      await ledger.recordSend('u-1', 'm-short', sender, SHORT_TTL_MS);
      await ledger.recordSend('u-1', 'm-long', { ...sender, requestId: 'req-2' }, LONG_TTL_MS);
      await ledger.recordSend('u-1', 'm-anon', null, LONG_TTL_MS);
      expect(await ledger.senderOf('m-short')).toEqual(sender);
      expect(await ledger.senderOf('m-anon')).toBeNull();
      await sleep(PAST_SHORT_TTL_MS);
      expect(await ledger.senderOf('m-short')).toBeNull();
      expect(await ledger.senderOf('m-long')).toEqual({ ...sender, requestId: 'req-2' });
    });
  });
}
