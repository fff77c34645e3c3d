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

/** WeCom's rule (reference §3.1): at most 5 messages within 48 h of the customer's last message. */
export const WECOM_WINDOW_RULE = { maxSends: 5, windowMs: 48 * 3600 * 1000 } as const;

/** Codes after which nothing may be sent until the customer writes again (the count or the 48 h are used up). */
export const WINDOW_EXHAUSTED_ERRCODES: ReadonlySet<number> = new Set([95001, 95002]);

/** Explains why the relay refused a reply itself, from its own record of the window, without calling WeCom. */
export function explainLocalRefusal(window: SendWindow, atMs: number, rule: { maxSends: number; windowMs: number }): string {
  const last = window.lastCustomerAt === null ? null : new Date(window.lastCustomerAt).toISOString();
  const why =
    last !== null && atMs - (window.lastCustomerAt ?? 0) > rule.windowMs
      ? `more than ${rule.windowMs / 3_600_000} h have passed since the customer last wrote (at ${last})`
      : `at most ${rule.maxSends} messages may follow each customer message and ${window.sentSince} were sent since ${
          last === null ? 'the relay started counting' : `the customer last wrote at ${last}`
        }`;
  return `The relay did not send the message (WeCom would refuse it): ${why}. It can be sent once the customer writes again.`;
}
