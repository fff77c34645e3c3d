import type { SendWindow } from '../state/outbound-ledger.js';

/** WeCom codes that mean the send window is closed (reference §3.1, §3.7). */
export const WINDOW_ERRCODES: ReadonlySet<number> = new Set([95001, 95002, 95018]);

/** Explains to a gateway why WeCom refused a send, from what the relay saw of the user's window. */
export function explainClosedWindow(errcode: number, window: SendWindow): string {
  const since =
    window.lastCustomerAt === null
      ? 'the relay has not seen this customer write'
      : `the customer last wrote at ${new Date(window.lastCustomerAt).toISOString()} and ${window.sentSince} message(s) were sent since`;
  const why =
    errcode === 95001
      ? 'at most 5 messages may follow each customer message'
      : errcode === 95002
        ? 'more than 48 h have passed since the customer last wrote'
        : 'the session does not allow sending now (a human servicer may have taken it, or the 48 h window passed)';
  return `WeCom refused the message (${errcode}): ${why}; ${since}. It can be sent once the customer writes again.`;
}
