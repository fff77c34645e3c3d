import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { OutboundLedger } from '../../../src/state/index.js';
import { LONG_TTL_MS, PAST_SHORT_TTL_MS, SHORT_TTL_MS, tracked } from './contract-helpers.js';

/** The account a ledger under contract is told is the first configured one (`firstOpenKfid`). */
export const LEDGER_FIRST_KF = 'wk-first';
const KF = LEDGER_FIRST_KF;
const KF_OTHER = 'wk-second';

/**
 * OutboundLedger: the send window per (kf account, user) and who sent each WeCom msgid. `make` builds a ledger told
 * that {@link LEDGER_FIRST_KF} is the first account.
 */
export function outboundLedgerContract(name: string, make: () => Promise<OutboundLedger>): void {
  describe(`OutboundLedger contract: ${name}`, () => {
    const fresh = tracked(make);
    const sender = { gatewayId: 'gw-1', requestId: 'req-1', externalUserId: 'u-1' };

    it('knows nothing of a user it never saw', async () => {
      const ledger = await fresh();
      expect(await ledger.window(KF, 'u-none')).toEqual({ lastCustomerAt: null, sentSince: 0 });
      expect(await ledger.senderOf('m-none')).toBeNull();
    });

    it('counts sends since the customer last wrote, and a newer customer message restarts the count', async () => {
      const ledger = await fresh();
      await ledger.customerSpoke(KF, 'u-1', 1_000);
      await ledger.recordSend(KF, 'u-1', 'm-1', sender, LONG_TTL_MS);
      await ledger.recordSend(KF, 'u-1', 'm-2', null, LONG_TTL_MS);
      expect(await ledger.window(KF, 'u-1')).toEqual({ lastCustomerAt: 1_000, sentSince: 2 });
      await ledger.customerSpoke(KF, 'u-1', 2_000);
      expect(await ledger.window(KF, 'u-1')).toEqual({ lastCustomerAt: 2_000, sentSince: 0 });
    });

    it('ignores a customer message older than the one it knows (a page pulled twice)', async () => {
      const ledger = await fresh();
      await ledger.customerSpoke(KF, 'u-1', 5_000);
      await ledger.recordSend(KF, 'u-1', 'm-1', null, LONG_TTL_MS);
      await ledger.customerSpoke(KF, 'u-1', 4_000);
      await ledger.customerSpoke(KF, 'u-1', 5_000);
      expect(await ledger.window(KF, 'u-1')).toEqual({ lastCustomerAt: 5_000, sentSince: 1 });
    });

    it('a second message in the same second restarts the window; the same message noted again does not', async () => {
      const ledger = await fresh();
      await ledger.customerSpoke(KF, 'u-1', 5_000, 'msg-a');
      await ledger.recordSend(KF, 'u-1', 'm-1', null, LONG_TTL_MS);
      await ledger.customerSpoke(KF, 'u-1', 5_000, 'msg-a');
      await ledger.customerSpoke(KF, 'u-1', 5_000);
      expect(await ledger.window(KF, 'u-1')).toEqual({ lastCustomerAt: 5_000, sentSince: 1 });
      await ledger.customerSpoke(KF, 'u-1', 5_000, 'msg-b');
      expect(await ledger.window(KF, 'u-1')).toEqual({ lastCustomerAt: 5_000, sentSince: 0 });
      await ledger.recordSend(KF, 'u-1', 'm-2', null, LONG_TTL_MS);
      // The page pulled again: both messages are known, nothing restarts.
      await ledger.customerSpoke(KF, 'u-1', 5_000, 'msg-a');
      await ledger.customerSpoke(KF, 'u-1', 5_000, 'msg-b');
      await ledger.customerSpoke(KF, 'u-1', 4_000, 'msg-older');
      expect(await ledger.window(KF, 'u-1')).toEqual({ lastCustomerAt: 5_000, sentSince: 1 });
      await ledger.customerSpoke(KF, 'u-1', 6_000, 'msg-c');
      await ledger.recordSend(KF, 'u-1', 'm-3', null, LONG_TTL_MS);
      await ledger.customerSpoke(KF, 'u-1', 6_000, 'msg-a');
      expect(await ledger.window(KF, 'u-1')).toEqual({ lastCustomerAt: 6_000, sentSince: 0 });
    });

    it('keeps users apart', async () => {
      const ledger = await fresh();
      await ledger.customerSpoke(KF, 'u-1', 1_000);
      await ledger.recordSend(KF, 'u-2', 'm-1', null, LONG_TTL_MS);
      expect(await ledger.window(KF, 'u-1')).toEqual({ lastCustomerAt: 1_000, sentSince: 0 });
      expect(await ledger.window(KF, 'u-2')).toEqual({ lastCustomerAt: null, sentSince: 1 });
    });

    const rule = { maxSends: 5, windowMs: 48 * 3600 * 1000 };

    it('grants at most maxSends slots after a customer message, counting each, and more after the customer writes again', async () => {
      const ledger = await fresh();
      await ledger.customerSpoke(KF, 'u-1', 1_000);
      const granted: boolean[] = [];
      for (let i = 0; i < 7; i++) granted.push((await ledger.reserveSend(KF, 'u-1', 2_000, rule)).granted);
      expect(granted).toEqual([true, true, true, true, true, false, false]);
      expect(await ledger.window(KF, 'u-1')).toEqual({ lastCustomerAt: 1_000, sentSince: 5 });
      expect((await ledger.reserveSend(KF, 'u-1', 2_000, rule)).window).toEqual({ lastCustomerAt: 1_000, sentSince: 5 });
      await ledger.customerSpoke(KF, 'u-1', 3_000);
      expect((await ledger.reserveSend(KF, 'u-1', 3_500, rule)).granted).toBe(true);
    });

    it('concurrent reservations never grant more than maxSends', async () => {
      const ledger = await fresh();
      await ledger.customerSpoke(KF, 'u-1', 1_000);
      const results = await Promise.all(Array.from({ length: 40 }, () => ledger.reserveSend(KF, 'u-1', 2_000, rule)));
      expect(results.filter((r) => r.granted)).toHaveLength(5);
      expect((await ledger.window(KF, 'u-1')).sentSince).toBe(5);
    });

    it('refuses a slot when the window time has passed, and grants up to maxSends to a user never seen writing', async () => {
      const ledger = await fresh();
      await ledger.customerSpoke(KF, 'u-1', 1_000);
      expect((await ledger.reserveSend(KF, 'u-1', 1_000 + rule.windowMs, rule)).granted).toBe(true);
      const late = await ledger.reserveSend(KF, 'u-1', 1_001 + rule.windowMs, rule);
      expect(late).toEqual({ granted: false, window: { lastCustomerAt: 1_000, sentSince: 1 } });
      const unseen = [];
      for (let i = 0; i < 6; i++) unseen.push((await ledger.reserveSend(KF, 'u-new', 5_000, rule)).granted);
      expect(unseen).toEqual([true, true, true, true, true, false]);
    });

    it('gives a slot back within the same window only', async () => {
      const ledger = await fresh();
      await ledger.customerSpoke(KF, 'u-1', 1_000);
      await ledger.reserveSend(KF, 'u-1', 2_000, rule);
      await ledger.reserveSend(KF, 'u-1', 2_000, rule);
      await ledger.releaseSend(KF, 'u-1', 1_000);
      expect((await ledger.window(KF, 'u-1')).sentSince).toBe(1);
      // The customer wrote in between: the count started again, so an old slot is not given back.
      await ledger.customerSpoke(KF, 'u-1', 3_000);
      await ledger.reserveSend(KF, 'u-1', 3_500, rule);
      await ledger.releaseSend(KF, 'u-1', 1_000);
      expect((await ledger.window(KF, 'u-1')).sentSince).toBe(1);
      await ledger.releaseSend(KF, 'u-never', null);
      expect(await ledger.window(KF, 'u-never')).toEqual({ lastCustomerAt: null, sentSince: 0 });
    });

    it('a window WeCom called closed grants nothing until the customer writes again', async () => {
      const ledger = await fresh();
      await ledger.customerSpoke(KF, 'u-1', 1_000);
      await ledger.closeWindow(KF, 'u-1', rule);
      expect((await ledger.reserveSend(KF, 'u-1', 2_000, rule)).granted).toBe(false);
      await ledger.closeWindow(KF, 'u-unseen', rule);
      expect((await ledger.reserveSend(KF, 'u-unseen', 2_000, rule)).granted).toBe(false);
      await ledger.customerSpoke(KF, 'u-1', 3_000);
      expect((await ledger.reserveSend(KF, 'u-1', 3_000, rule)).granted).toBe(true);
    });

    it('keeps one window per (account, user): writing to one account opens nothing on another', async () => {
      const ledger = await fresh();
      const rule = { maxSends: 5, windowMs: 48 * 3600 * 1000 };
      await ledger.customerSpoke(KF, 'u-1', 1_000);
      await ledger.closeWindow(KF_OTHER, 'u-1', rule);
      expect((await ledger.reserveSend(KF_OTHER, 'u-1', 2_000, rule)).granted).toBe(false);
      expect(await ledger.window(KF, 'u-1')).toEqual({ lastCustomerAt: 1_000, sentSince: 0 });
      // The customer writes to the other account: only that window restarts.
      await ledger.closeWindow(KF, 'u-1', rule);
      await ledger.customerSpoke(KF_OTHER, 'u-1', 3_000, 'msg-b');
      expect((await ledger.reserveSend(KF_OTHER, 'u-1', 3_500, rule)).granted).toBe(true);
      expect((await ledger.reserveSend(KF, 'u-1', 3_500, rule)).granted).toBe(false);
      await ledger.recordSend(KF_OTHER, 'u-1', 'm-1', null, LONG_TTL_MS);
      await ledger.releaseSend(KF, 'u-1', 1_000);
      expect(await ledger.window(KF_OTHER, 'u-1')).toEqual({ lastCustomerAt: 3_000, sentSince: 2 });
      expect(await ledger.window(KF, 'u-1')).toEqual({ lastCustomerAt: 1_000, sentSince: 4 });
    });

    it('remembers a sender without counting a send', async () => {
      const ledger = await fresh();
      await ledger.rememberSender('m-9', sender, LONG_TTL_MS);
      expect(await ledger.senderOf('m-9')).toEqual(sender);
      expect(await ledger.window(KF, 'u-1')).toEqual({ lastCustomerAt: null, sentSince: 0 });
    });

    it('remembers the sender of a msgid until its ttl, and nothing for sends without one', async () => {
      const ledger = await fresh();
      await ledger.recordSend(KF, 'u-1', 'm-short', sender, SHORT_TTL_MS);
      await ledger.recordSend(KF, 'u-1', 'm-long', { ...sender, requestId: 'req-2' }, LONG_TTL_MS);
      await ledger.recordSend(KF, 'u-1', 'm-anon', null, LONG_TTL_MS);
      expect(await ledger.senderOf('m-short')).toEqual(sender);
      expect(await ledger.senderOf('m-anon')).toBeNull();
      await sleep(PAST_SHORT_TTL_MS);
      expect(await ledger.senderOf('m-short')).toBeNull();
      expect(await ledger.senderOf('m-long')).toEqual({ ...sender, requestId: 'req-2' });
    });
  });
}
