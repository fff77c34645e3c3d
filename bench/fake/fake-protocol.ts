/** Messages between the bench and the fake WeCom host process. */

/** Bench → fake host. */
export type FakeRequest =
  /** Customers (by benchmark user index) write one text each; no callback. */
  | { type: 'append'; users: number[] }
  /** One callback to every relay URL at once. */
  | { type: 'callback' }
  /** When each of these messages was first served by sync_msg (all served ones when `ids` is absent). */
  | { type: 'served' }
  | { type: 'close' };

/** Fake host → bench. */
export type FakeReply =
  | { type: 'appended'; msgids: string[] }
  | { type: 'called'; statuses: Array<number | null> }
  | { type: 'served'; served: Record<string, number> }
  | { type: 'closed' }
  | { type: 'ready'; url: string };
