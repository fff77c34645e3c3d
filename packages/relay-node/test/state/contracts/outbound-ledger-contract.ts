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

    it('keeps users apart', async () => {
      const ledger = await fresh();
      await ledger.customerSpoke('u-1', 1_000);
      await ledger.recordSend('u-2', 'm-1', null, LONG_TTL_MS);
      expect(await ledger.window('u-1')).toEqual({ lastCustomerAt: 1_000, sentSince: 0 });
      expect(await ledger.window('u-2')).toEqual({ lastCustomerAt: null, sentSince: 1 });
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
